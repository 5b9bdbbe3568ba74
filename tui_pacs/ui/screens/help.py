"""The help screen (?): the keys of the screen you came from, and those that work everywhere."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

INTRO = (
    "Every action is also in the command palette (ctrl+p): type a few letters "
    "of what you want. Filter fields take DICOM wildcards (* and ?) and dates "
    "as 20240115, 2024-01-01..2024-01-31, today, yesterday or 7d."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__(classes="dialog")
        self._keys = _key_table(screen)
        self._title = f"Keys: {getattr(screen, 'HELP_TITLE', None) or type(screen).__name__}"

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box help-box"):
            yield Static(self._title, classes="dialog-title", markup=False)
            yield Static(self._keys, classes="help-keys")
            yield Static(INTRO, classes="dialog-text", markup=False)
            yield Static("escape closes this help", classes="hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def _key_table(screen: Screen) -> Table:
    """Keys bound on the screen and its focused widget, then the app's."""
    app = screen.app
    local, everywhere = [], []
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.description in seen:
            continue
        seen.add(binding.description)
        row = (app.get_key_display(binding), binding.description)
        (everywhere if active.node is app else local).append(row)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, description in local:
        table.add_row(key, description)
    if everywhere:
        table.add_row("", "")
        table.add_row(Text("everywhere", style="italic"), "")
        for key, description in everywhere:
            table.add_row(key, description)
    return table
