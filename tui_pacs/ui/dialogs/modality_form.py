"""Add or edit a remote modality: name, AE title, host, port, TLS.

Checked as the config file would check it, field by field, before the
dialog closes; the caller writes it to the config file.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from tui_pacs.config import Modality
from tui_pacs.core.aetitle import ae_title_problem


class ModalityForm(ModalScreen[Modality | None]):
    BINDINGS: ClassVar = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self, modality: Modality | None = None, taken: AbstractSet[str] = frozenset()
                 ) -> None:
        super().__init__(classes="dialog")
        self.modality = modality
        # Names of the other modalities: a new name must not be one of them.
        self.taken = set(taken)

    def compose(self) -> ComposeResult:
        m = self.modality
        title = f"Edit {m.name}" if m else "Add a remote modality"
        with Vertical(classes="dialog-box"):
            yield Static(title, classes="dialog-title", markup=False)
            with Grid(classes="form"):
                yield Label("Name")
                yield Input(m.name if m else "", placeholder="what you call it, e.g. pacs",
                            id="name", compact=True)
                yield Label("AE title")
                yield Input(m.aet if m else "", placeholder="up to 16 characters", id="aet",
                            max_length=16, compact=True)
                yield Label("Host")
                yield Input(m.host if m else "", placeholder="name or IP address", id="host",
                            compact=True)
                yield Label("Port")
                # Plain text, not type="integer": that drops letters as they are typed,
                # so "abc" left the default 104 to be saved without a word.
                yield Input(str(m.port) if m else "104", id="port", compact=True)
                yield Label("TLS")
                yield Checkbox("DICOM over TLS", m.tls if m else False, id="tls", compact=True)
            yield Static("", id="form-error", classes="error-line", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def value(self) -> tuple[Modality | None, str]:
        """The modality in the form, or None and what is wrong (one line)."""

        def text(field: str) -> str:
            return self.query_one(f"#{field}", Input).value.strip()

        name, aet, host, port = text("name"), text("aet"), text("host"), text("port")
        if not name:
            return None, "Name: give it a name"
        if name in self.taken:
            return None, f"Name: {name!r} is already used"
        if problem := ae_title_problem(aet):
            return None, f"AE title: {problem}"
        if not host or any(c.isspace() for c in host):
            return None, "Host: a host name or an IP address"
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            return None, f"Port: {port!r} is not a port; give a number from 1 to 65535"
        tls = self.query_one("#tls", Checkbox).value
        return Modality(name, aet, host, int(port), tls), ""

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        modality, problem = self.value()
        error = self.query_one("#form-error", Static)
        if modality is None:
            error.update(problem)
            error.display = True
            return
        self.dismiss(modality)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
