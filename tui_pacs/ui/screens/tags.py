"""The tag inspector: every element of an instance, and what differs across its series.

Opened on one file of a list (the instances of a series, in order): ``[``
and ``]`` step through the list; with more than one file, the attributes
whose values differ between the files are marked ≠ (worked out in the
background, header only). Reading and comparing files happen in thread workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static, Tree
from textual.worker import get_current_worker

from tui_pacs.core.dump import BINARY_VRS, full_value_text
from tui_pacs.core.readable import plural
from tui_pacs.core.text import printable
from tui_pacs.ui.datasets import (
    Difference,
    TagEntry,
    Unreadable,
    differing_tags,
    read_dataset,
    search,
    tag_tree,
)
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.widgets.footer import PacsFooter
from tui_pacs.ui.widgets.status_bar import StatusBar
from tui_pacs.ui.widgets.tag_tree import TagTree
from tui_pacs.ui.widgets.transfers_view import TransfersView

# Report comparison progress every this many files.
PROGRESS_EVERY = 25


class TagsScreen(PacsScreen):
    HELP_TITLE = "tag inspector"

    BINDINGS: ClassVar = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next match", show=False),
        Binding("N", "previous_match", "Previous match", show=False),
        Binding("c", "copy", "Copy value"),
        Binding("C", "copy(True)", "Copy raw value", show=False),
        Binding("right_square_bracket", "step(1)", "Next instance"),
        Binding("left_square_bracket", "step(-1)", "Previous instance", show=False),
        Binding("f", "only_differing", "Only ≠", show=False),
        Binding("e", "expand_all", "Expand all", show=False),
        Binding("E", "collapse_all", "Collapse all", show=False),
    ]

    def __init__(self, files: list[Path], start: int = 0, context: str = "") -> None:
        super().__init__()
        self.files = files
        self.position = max(0, min(start, len(files) - 1))
        self.context = context
        self.entries: list[TagEntry] = []
        self.differences: dict[int, Difference] | None = None
        self.only_differing = False
        self.found: list[TagEntry] = []
        self._compared = 0
        self._error = ""

    def compose(self) -> ComposeResult:
        yield StatusBar(self.SECTION)
        yield Static("", id="title", classes="title", markup=False)
        yield TagTree(id="tags")
        yield Static("", id="detail", classes="detail", markup=False)
        yield Input(placeholder="keyword, tag or value; enter: next, escape: done",
                    id="search", compact=True)
        yield TransfersView()
        yield PacsFooter()

    @property
    def tag_tree(self) -> TagTree:
        return self.query_one(TagTree)

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.tag_tree.focus()
        self.load()
        if len(self.files) > 1:
            self.compare()

    # --- loading ------------------------------------------------------------------

    def load(self) -> None:
        self._error = ""
        self.update_title()
        self._read(self.files[self.position])

    @work(thread=True, group="tags-read", exclusive=True, exit_on_error=False)
    def _read(self, path: Path) -> None:
        try:
            entries = tag_tree(read_dataset(path))
        except Unreadable as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, entries)

    def _show(self, entries: list[TagEntry]) -> None:
        self.entries = entries
        self._fill_tree()
        self.update_title()
        query = self.query_one("#search", Input).value
        if query:
            self._find(query, jump=False)

    def _fill_tree(self) -> None:
        entries = self.entries
        if self.only_differing and self.differences is not None:
            entries = [e for e in entries if e.tag in self.differences]
        self.tag_tree.show(entries, self.differences)

    def _show_error(self, message: str) -> None:
        self._error = message
        self.entries = []
        self.tag_tree.show([])
        self.update_title()

    @work(thread=True, group="tags-compare", exclusive=True, exit_on_error=False)
    def compare(self) -> None:
        worker = get_current_worker()

        def progress(done: int) -> None:
            if done % PROGRESS_EVERY == 0:
                self.app.call_from_thread(self._compare_progress, done)

        differences = differing_tags(self.files, lambda: worker.is_cancelled, progress)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._compared_all, differences)

    def _compare_progress(self, done: int) -> None:
        self._compared = done
        self.update_title()

    def _compared_all(self, differences: dict[int, Difference]) -> None:
        self.differences = differences
        self._compared = len(self.files)
        if self.only_differing:
            self._fill_tree()
        else:
            self.tag_tree.mark_differences(differences)
        self.update_title()

    def update_title(self) -> None:
        parts = []
        if len(self.files) > 1:
            parts.append(f"instance {self.position + 1}/{len(self.files)}")
        if self._error:
            parts.append(self._error)
        elif len(self.files) > 1:
            if self.differences is None:
                parts.append(f"comparing {self._compared}/{len(self.files)}…")
            else:
                parts.append(f"{len(self.differences)} ≠")
        if self.only_differing:
            parts.append("only ≠")
        if self.found:
            parts.append(f"{plural(len(self.found), 'match', 'matches')}")
        if self.context:
            parts.append(self.context)
        self.query_one("#title", Static).update(printable("  ·  ".join(parts)))

    # --- the element under the cursor ------------------------------------------------

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[TagEntry]) -> None:
        entry = event.node.data
        self.query_one("#detail", Static).update(self._detail(entry) if entry else "")

    def _detail(self, entry: TagEntry) -> str:
        line = entry.line
        if line.is_item:
            return line.name
        name = line.name + (f" [{line.private_creator}]" if line.private_creator else "")
        head = f"{line.tag_text} {line.vr} {name}"
        if line.length is not None:
            head += f", {plural(line.length, 'byte')}"
        difference = (self.differences or {}).get(entry.tag) if entry.is_top_level else None
        if difference is not None:
            head += f"  ≠ {difference.values} values in the series"
            if difference.missing:
                head += f", absent from {difference.missing}"
        element = line.element
        if element is None or line.is_sequence or element.VR in BINARY_VRS:
            value = line.value
        else:
            # Line breaks of a text value (LT, ST, UT) have room here.
            value = printable(full_value_text(element), keep="\n")
        return f"{head}\n{value}"

    # --- actions -------------------------------------------------------------------------

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:
            self._close_search()
        else:
            self.app.pop_screen()

    def action_step(self, delta: int) -> None:
        position = self.position + delta
        if 0 <= position < len(self.files) and position != self.position:
            self.position = position
            self.load()

    def action_only_differing(self) -> None:
        if len(self.files) < 2:
            self.notify("Only a series has differences to show.", severity="warning")
            return
        self.only_differing = not self.only_differing
        self._fill_tree()
        self.update_title()

    def action_expand_all(self) -> None:
        self.tag_tree.expand_everything()

    def action_collapse_all(self) -> None:
        self.tag_tree.collapse_everything()

    def action_copy(self, raw: bool = False) -> None:
        """``c``: the value as shown; ``C``: exactly as the file holds it."""
        node = self.tag_tree.cursor_node
        if node is None or node.data is None or node.data.line.is_item:
            return
        self._copy(node.data, raw)

    @work(thread=True, group="tags-copy", exclusive=True, exit_on_error=False)
    def _copy(self, entry: TagEntry, raw: bool) -> None:
        text = entry.copy_text(raw)
        self.app.call_from_thread(self._copied, entry, text, raw)

    def _copied(self, entry: TagEntry, text: str, raw: bool) -> None:
        self.app.copy_to_clipboard(text)
        what = "the raw value of " if raw else ""
        self.notify(f"Copied {what}{entry.line.name} ({plural(len(text), 'character')}).",
                    timeout=3)

    # --- search ----------------------------------------------------------------------------

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    def _close_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = False
        self.tag_tree.focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._find(event.value, jump=True)

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.action_next_match()

    def _find(self, query: str, *, jump: bool) -> None:
        self.found = search(self.entries, query) if query.strip() else []
        self.tag_tree.mark_matches(self.found)
        self.update_title()
        if jump and self.found:
            self.tag_tree.reveal(self.found[0])

    def _match_index(self) -> int:
        node = self.tag_tree.cursor_node
        current = node.data if node is not None else None
        for position, entry in enumerate(self.found):
            if entry is current:
                return position
        return -1

    def action_next_match(self) -> None:
        if self.found:
            self.tag_tree.reveal(self.found[(self._match_index() + 1) % len(self.found)])

    def action_previous_match(self) -> None:
        if self.found:
            self.tag_tree.reveal(self.found[(self._match_index() - 1) % len(self.found)])
