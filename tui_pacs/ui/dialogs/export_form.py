"""Where to export the chosen rows to, and how: zipped, with a DICOMDIR, de-identified.

The destination starts as a new directory named after the moment, so that
enter alone exports somewhere safe; ticking Zip gives it a ``.zip`` ending.
The export itself runs in the background (the transfers line shows it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from tui_pacs.services.export import ExportOptions

ZIP_SUFFIX = ".zip"


def default_destination(now: datetime) -> str:
    return str(Path("~") / f"tui-pacs-export-{now:%Y%m%d-%H%M%S}")


class ExportForm(ModalScreen[tuple[Path, ExportOptions] | None]):
    BINDINGS: ClassVar = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "export", "Export"),
    ]

    def __init__(self, title: str, destination: str) -> None:
        super().__init__(classes="dialog")
        self._heading = title
        self._destination = destination

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self._heading, classes="dialog-title", markup=False)
            with Grid(classes="form"):
                yield Label("To")
                yield Input(self._destination, placeholder="a new or empty directory",
                            id="destination", compact=True)
                yield Label("Options")
                yield Checkbox("Zip file", id="zip", compact=True)
                yield Label("")
                yield Checkbox("DICOMDIR (for a CD or USB stick)", id="dicomdir", compact=True)
                yield Label("")
                yield Checkbox("De-identify (new names, IDs and UIDs)", id="anonymize",
                               compact=True)
            yield Static("", id="form-error", classes="error-line", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export (ctrl+s)", id="export", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#destination", Input).focus()

    @on(Checkbox.Changed, "#zip")
    def _zip_changed(self, event: Checkbox.Changed) -> None:
        """A zip is a file: the destination's name says so (and stops saying so)."""
        field = self.query_one("#destination", Input)
        value = field.value.rstrip("/")
        if event.value and not value.endswith(ZIP_SUFFIX):
            field.value = value + ZIP_SUFFIX
        elif not event.value and value.endswith(ZIP_SUFFIX):
            field.value = value.removesuffix(ZIP_SUFFIX)

    def value(self) -> tuple[Path, ExportOptions] | None:
        text = self.query_one("#destination", Input).value.strip()
        if not text:
            return None
        options = ExportOptions(zipped=self.query_one("#zip", Checkbox).value,
                                dicomdir=self.query_one("#dicomdir", Checkbox).value,
                                anonymize=self.query_one("#anonymize", Checkbox).value)
        return Path(text).expanduser(), options

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_export()

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        chosen = self.value()
        if chosen is None:
            error = self.query_one("#form-error", Static)
            error.update("To: say where the files go (a new or empty directory)")
            error.display = True
            return
        self.dismiss(chosen)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
