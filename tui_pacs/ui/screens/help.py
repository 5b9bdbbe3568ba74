"""The help screen (?): the keys of the screen you came from, and those that work everywhere."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_pacs.ui.screens.base import PacsScreen

MOVING = ("↑ ↓ (or j k), page up/down, home, end move in lists; enter opens; "
          "tab moves between fields and lists.")
INTRO = (
    "Every action is also in the command palette (ctrl+p): type a few letters of "
    "what you want. Filter fields take DICOM wildcards (* and ?) and dates as "
    "20240115, 2024-01-01..2024-01-31, today, yesterday or 7d."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, screen: PacsScreen) -> None:
        super().__init__(classes="dialog")
        self._keys = _key_table(screen)
        self._heading = f"Keys: {screen.HELP_TITLE}"

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box help-box"):
            yield Static(self._heading, classes="dialog-title", markup=False)
            yield Static(self._keys, classes="help-keys")
            yield Static(MOVING, classes="dialog-text", markup=False)
            yield Static(INTRO, classes="dialog-text", markup=False)
            yield Static("escape closes this help", classes="hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


# Textual's own bindings that MOVING covers or that need no explaining.
_BUILT_IN = {"focus_next", "focus_previous", "app.focus_next", "app.focus_previous",
             "copy_text", "screen.copy_text", "app.copy_text", "minimize", "maximize"}


def _key_table(screen: PacsScreen) -> Table:
    """Keys bound on the screen, then the app's (widgets' own keys are in MOVING)."""
    app = screen.app
    here: dict[str, list[str]] = {}
    everywhere: dict[str, list[str]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if (not binding.description or not active.enabled or binding.action in _BUILT_IN
                or active.node not in (screen, app)):
            continue
        target = everywhere if active.node is app else here
        keys = target.setdefault(binding.description, [])
        key = app.get_key_display(binding)
        if key not in keys:
            keys.append(key)
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    _add_pairs(table, [(" ".join(keys), what) for what, keys in here.items()])
    table.add_row("", "", "", "")
    table.add_row(Text("everywhere", style="italic"), "", "", "")
    _add_pairs(table, [(" ".join(keys), what) for what, keys in everywhere.items()])
    return table


def _add_pairs(table: Table, rows: list[tuple[str, str]]) -> None:
    """Key and description twice per line: more keys fit an 80x24 terminal."""
    rows = rows + [("", "")] * (len(rows) % 2)
    half = len(rows) // 2
    for left, right in zip(rows[:half], rows[half:]):
        table.add_row(*left, *right)
