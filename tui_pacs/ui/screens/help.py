"""The help screen (?): the keys of the screen you came from, and those that work everywhere."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_pacs.ui.screens.base import PacsScreen

MOVING = ("↑ ↓ (or j k), page up/down, home, end move in lists; enter opens; "
          "space marks a row in Local and Query (send, export, delete, protect and retrieve "
          "act on the marked rows); tab moves between fields and lists.")
INTRO = (
    "Every action is also in the command palette (ctrl+p): type a few letters of "
    "what you want. Filter fields take DICOM wildcards (* and ?) and dates as "
    "20240115, 2024-01-01..2024-01-31, today, yesterday or 7d."
)
# Rows of the help box that are not its scrolling keys: border, padding and title.
CHROME = 4


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, screen: PacsScreen) -> None:
        super().__init__(classes="dialog")
        self._keys = _key_table(screen)
        self._heading = f"Keys: {screen.HELP_TITLE}"

    def compose(self) -> ComposeResult:
        # The title stays in view above the keys, which scroll when they do not fit.
        with Vertical(classes="dialog-box help-box"):
            yield Static(self._heading, classes="dialog-title", markup=False)
            with VerticalScroll(classes="help-scroll"):
                yield Static(self._keys, classes="help-keys")
                yield Static(MOVING, classes="dialog-text", markup=False)
                yield Static(INTRO, classes="dialog-text", markup=False)
                yield Static("escape closes this help", classes="hint", markup=False)

    def on_resize(self, event: events.Resize) -> None:
        """The keys scroll in what the terminal leaves below the title (an auto-height
        box cannot give its scrolling part a share of its own maximum)."""
        self.query_one(".help-scroll").styles.max_height = max(1, event.size.height - CHROME)

    def action_close(self) -> None:
        self.dismiss(None)


# Textual's own bindings that MOVING covers or that need no explaining.
_BUILT_IN = {"focus_next", "focus_previous", "app.focus_next", "app.focus_previous",
             "copy_text", "screen.copy_text", "app.copy_text", "minimize", "maximize"}


def _key_table(screen: PacsScreen) -> Content:
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
    rows = [(" ".join(keys), what) for what, keys in here.items()]
    rows_everywhere = [(" ".join(keys), what) for what, keys in everywhere.items()]
    key_width = max((len(key) for key, _ in rows + rows_everywhere), default=1)
    what_width = max((len(what) for _, what in rows + rows_everywhere), default=1)
    lines = _pairs(rows, key_width, what_width)
    lines += [Content(""), Content.from_markup("[i]everywhere[/i]")]
    lines += _pairs(rows_everywhere, key_width, what_width)
    return Content("\n").join(lines)


def _pairs(rows: list[tuple[str, str]], key_width: int, what_width: int) -> list[Content]:
    """Key and description twice per line: more keys fit an 80x24 terminal."""
    rows = rows + [("", "")] * (len(rows) % 2)
    half = len(rows) // 2
    lines = []
    for (key1, what1), (key2, what2) in zip(rows[:half], rows[half:]):
        lines.append(Content.from_markup(
            "[b]$key1[/b]  $what1  [b]$key2[/b]  $what2",
            key1=key1.ljust(key_width), what1=what1.ljust(what_width),
            key2=key2.ljust(key_width), what2=what2))
    return lines
