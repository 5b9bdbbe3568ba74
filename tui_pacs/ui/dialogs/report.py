"""A box of lines that may keep growing (the doctor's checklist), closed with escape.

``wide`` boxes take the whole width, for tables such as the probe's matrix.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker

from tui_pacs.core.text import printable
from tui_pacs.ui.failures import report_failure


class ReportDialog(ModalScreen[None]):
    BINDINGS: ClassVar = [
        Binding("escape,enter,q", "close", "Close"),
        Binding("c", "copy", "Copy"),
    ]

    def __init__(self, title: str, lines: list[Content] | None = None, *,
                 wide: bool = False) -> None:
        super().__init__(classes="dialog")
        self._title = printable(title)
        self.lines: list[Content] = list(lines or [])
        self._wide = wide

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box report-box" + (" wide" if self._wide else "")):
            yield Static(self._title, classes="dialog-title", markup=False)
            yield Static(self._body(), id="report-body")
            yield Static("escape closes, c copies the text", classes="hint", markup=False)

    def _body(self) -> Content:
        return Content("\n").join(self.lines) if self.lines else Content("…")

    def add(self, line: Content) -> None:
        self.set_lines([*self.lines, line])

    def set_lines(self, lines: list[Content]) -> None:
        self.lines = lines
        if self.is_mounted:
            self.query_one("#report-body", Static).update(self._body())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event.worker)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard("\n".join([self._title, *(line.plain for line in self.lines)]))
        self.notify("Copied the report.", timeout=2)
