"""A table that shows a window onto a long list of rows and fetches only that window.

Rows come from a :class:`~tui_pacs.ui.rows.RowSource` in blocks; the block
under the viewport (and its neighbours) is fetched by an async worker and
kept, the rest is never asked for. Lines not fetched yet show a placeholder.
A reload keeps showing the rows it had until their fresh copies arrive, so
a list refreshed twice a second does not flicker. Columns that do not fit
the width are dropped, least important first. A markable table lets ``space``
mark rows (kept by key, with their values) for actions on many at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_pacs.core.model import LABELS, display_value
from tui_pacs.core.text import printable
from tui_pacs.ui.rows import Row, RowSource

BLOCK = 100
# Blocks kept beyond those around the viewport before the farthest are dropped.
KEPT_BLOCKS = 12
GAP = 1


@dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its width, and how it competes for space.

    ``width`` is the width it gets (or at least gets, when ``flex`` > 0: flexible
    columns share what is left in proportion to ``flex``). When the table is
    too narrow, columns with the highest ``drop`` rank go first; 0 never goes.
    """

    key: str
    width: int
    label: str = ""
    flex: int = 0
    drop: int = 0
    justify: str = "left"
    format: Callable[[Row], str] | None = None

    @property
    def title(self) -> str:
        return self.label or LABELS.get(self.key, self.key)

    def text(self, row: Row) -> str:
        """The cell as shown; display_value makes control characters visible,
        and so does this for what a column formats itself."""
        if self.format is not None:
            return printable(self.format(row))
        return display_value(self.key, row.get(self.key))


def fit_columns(columns: list[Column], width: int) -> list[tuple[Column, int]]:
    """The columns that fit in ``width`` cells, with the width each one gets."""
    kept = list(columns)

    def needed(cols: list[Column]) -> int:
        return sum(c.width for c in cols) + GAP * max(0, len(cols) - 1)

    while needed(kept) > width:
        droppable = [c for c in kept if c.drop > 0]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda c: (c.drop, kept.index(c))))
    spare = max(0, width - needed(kept))
    flex_total = sum(c.flex for c in kept)
    widths = []
    given = 0
    flexible = [c for c in kept if c.flex]
    for column in kept:
        extra = 0
        if column.flex and flex_total:
            if column is flexible[-1]:
                extra = spare - given
            else:
                extra = spare * column.flex // flex_total
                given += extra
        widths.append((column, column.width + extra))
    return widths


def fit_text(text: str, width: int, justify: str = "left") -> str:
    """``text`` cut with an ellipsis or padded to exactly ``width`` cells."""
    if width <= 0:
        return ""
    text = text.replace("\n", " ")
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    if justify == "right":
        return " " * (width - cell_len(text)) + text
    return set_cell_size(text, width)


class VirtualTable(ScrollView, can_focus=True):
    """Rows from a RowSource with a cursor, a fixed header and lazily fetched blocks."""

    BINDINGS: ClassVar = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
        Binding("space", "toggle_mark", "Mark", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--placeholder",
        "virtual-table--success",
        "virtual-table--warning",
        "virtual-table--error",
        "virtual-table--muted",
        "virtual-table--marked",
    }

    cursor_row: reactive[int] = reactive(0, always_update=True)

    class _Message(Message):
        def __init__(self, table: VirtualTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Highlighted(_Message):
        """The cursor moved to a row (``row`` is None until it is fetched)."""

        def __init__(self, table: VirtualTable, index: int, row: Row | None) -> None:
            super().__init__(table)
            self.index = index
            self.row = row

    class Selected(_Message):
        """Enter (or a double click) on a fetched row."""

        def __init__(self, table: VirtualTable, index: int, row: Row) -> None:
            super().__init__(table)
            self.index = index
            self.row = row

    class HeaderClicked(_Message):
        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__(table)
            self.key = key

    class MarksChanged(_Message):
        """Rows were marked or unmarked; ``count`` are marked now."""

        def __init__(self, table: VirtualTable, count: int) -> None:
            super().__init__(table)
            self.count = count

    class Loaded(_Message):
        """The row count is known after a (re)load."""

        def __init__(self, table: VirtualTable, count: int) -> None:
            super().__init__(table)
            self.count = count

    def __init__(self, columns: list[Column], source: RowSource | None = None, *,
                 key: Callable[[Row], Hashable] | None = None,
                 row_class: Callable[[Row], str | None] | None = None,
                 empty_text: str = "Nothing to show.", markable: bool = False,
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._columns = list(columns)
        self._source = source
        self._key = key
        self._row_class = row_class
        self.empty_text = empty_text
        self.row_count: int | None = None
        self._blocks: dict[int, list[Row]] = {}
        # Blocks fetched since the last reload; the others are shown until replaced.
        self._fresh: set[int] = set()
        self._wanted: set[int] = set()
        self._generation = 0
        self._loader_running = False
        self._fitted: list[tuple[Column, int]] = []
        self._sort: tuple[str, bool] | None = None
        self._highlighted_key: Hashable | None = None
        self._error = ""
        self.markable = markable
        # Marked rows by key, in the order they were marked.
        self._marks: dict[Hashable, Row] = {}

    # --- what is shown --------------------------------------------------------

    @property
    def columns(self) -> list[Column]:
        return list(self._columns)

    @property
    def visible_columns(self) -> list[Column]:
        return [column for column, _ in self._fitted]

    @property
    def source(self) -> RowSource | None:
        return self._source

    def set_columns(self, columns: list[Column]) -> None:
        self._columns = list(columns)
        self._fit()
        self.refresh()

    def show_sort(self, key: str | None, descending: bool = False) -> None:
        """Mark the sorted column in the header (the source does the sorting)."""
        self._sort = (key, descending) if key else None
        self.refresh()

    def set_source(self, source: RowSource, *, keep_cursor: bool = False) -> None:
        """Show another source (a new filter or order) and load it."""
        self._source = source
        self.reload(keep_cursor=keep_cursor)

    def reload(self, *, keep_cursor: bool = True) -> None:
        """Fetch again: the rows changed (new instances arrived, a delete, a re-sort).

        With ``keep_cursor`` the cursor stays on the same row (by key) when it
        is still near, else at the same position, and the old rows stay on
        screen until their fresh copies arrive.
        """
        self._highlighted_key = self._key_at(self.cursor_row) if keep_cursor else None
        if not keep_cursor:  # other rows altogether: nothing old is worth showing
            self.clear_marks()
            self._blocks.clear()
            self.cursor_row = 0
            self.scroll_to(y=0, animate=False)
        self._generation += 1
        self._fresh.clear()
        self._wanted.clear()
        self._error = ""
        self.run_worker(partial(self._count, self._generation), group="table-count",  # type: ignore[arg-type]  # textual infers no result type from a coroutine function
                        exclusive=True, exit_on_error=False)

    def row_at(self, index: int) -> Row | None:
        block = self._blocks.get(index // BLOCK)
        if block is None:
            return None
        offset = index % BLOCK
        return block[offset] if offset < len(block) else None

    @property
    def cursor_value(self) -> Row | None:
        """The row under the cursor, if fetched."""
        return self.row_at(self.cursor_row) if self.row_count else None

    def loaded_rows(self) -> list[Row]:
        """Every row fetched since the last reload, in order (for tests and small tables)."""
        return [row for number in sorted(self._fresh) for row in self._blocks[number]]

    # --- loading ----------------------------------------------------------------

    async def _count(self, generation: int) -> None:
        if self._source is None:
            return
        try:
            count = await self._source.count()
        except Exception as exc:
            self._error = f"Cannot read the rows: {exc}"
            self.row_count = 0
            self._resize_virtual()
            self.refresh()
            return
        if generation != self._generation:
            return
        self.row_count = count
        self._resize_virtual()
        if self.cursor_row >= count:
            self.cursor_row = max(0, count - 1)
        self._request_visible()
        self.post_message(self.Loaded(self, count))

    def _request_visible(self) -> None:
        if not self.row_count:
            return
        top = int(self.scroll_offset.y)
        first = top // BLOCK
        last = (top + max(1, self.size.height)) // BLOCK
        cursor_block = self.cursor_row // BLOCK
        needed = {n for n in range(first, last + 1)} | {cursor_block}
        needed = {n for n in needed if n * BLOCK < self.row_count}
        missing = needed - self._fresh
        if not missing:
            return
        self._wanted |= missing
        if not self._loader_running:
            self._loader_running = True
            self.run_worker(partial(self._load_blocks, self._generation),  # type: ignore[arg-type]  # textual infers no result type from a coroutine function
                            group="table-rows", exit_on_error=False)

    async def _load_blocks(self, generation: int) -> None:
        try:
            while self._wanted and generation == self._generation:
                number = min(self._wanted)
                self._wanted.discard(number)
                assert self._source is not None  # set before any block is wanted
                rows = await self._source.fetch(number * BLOCK, BLOCK)
                if generation != self._generation:
                    break
                self._blocks[number] = rows
                self._fresh.add(number)
                self._forget_far_blocks(number)
                self.refresh()
                self._after_block_loaded(number)
        except Exception as exc:
            self._error = f"Cannot read the rows: {exc}"
            self.refresh()
        finally:
            self._loader_running = False
        if generation != self._generation and self._wanted:
            self._request_visible()

    def _after_block_loaded(self, number: int) -> None:
        cursor_block = self.cursor_row // BLOCK
        if self._highlighted_key is not None:
            moved = self._find_key(self._highlighted_key)
            self._highlighted_key = None
            if moved is not None and moved != self.cursor_row:
                self.cursor_row = moved
                return
        if number == cursor_block:
            self.post_message(self.Highlighted(self, self.cursor_row, self.cursor_value))

    def _find_key(self, key: Hashable) -> int | None:
        if self._key is None:
            return None
        for number in self._fresh:
            for offset, row in enumerate(self._blocks[number]):
                if self._key(row) == key:
                    return number * BLOCK + offset
        return None

    def _key_at(self, index: int) -> Hashable | None:
        row = self.row_at(index)
        return self._key(row) if row is not None and self._key is not None else None

    def _forget_far_blocks(self, current: int) -> None:
        if len(self._blocks) <= KEPT_BLOCKS:
            return
        for number in sorted(self._blocks, key=lambda n: -abs(n - current)):
            if len(self._blocks) <= KEPT_BLOCKS:
                break
            del self._blocks[number]
            self._fresh.discard(number)

    # --- geometry and drawing -----------------------------------------------------

    @property
    def page_rows(self) -> int:
        """Rows visible under the header."""
        return max(1, self.size.height - 1)

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.size.width, (self.row_count or 0) + 1)

    def _fit(self) -> None:
        self._fitted = fit_columns(self._columns, max(1, self.size.width))

    def on_resize(self, event: events.Resize) -> None:
        self._fit()
        self._resize_virtual()
        self._request_visible()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._request_visible()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            return self._header_strip(width)
        if self._error:
            return self._message_strip(self._error if y == 1 else "", width, "error")
        if self.row_count is None:
            return self._message_strip("Loading…" if y == 1 else "", width, "placeholder")
        if self.row_count == 0:
            return self._message_strip(self.empty_text if y == 1 else "", width, "placeholder")
        index = int(self.scroll_offset.y) + y - 1
        if index >= self.row_count:
            return Strip.blank(width, base)
        row = self.row_at(index)
        if row is None:
            style = self.get_component_rich_style("virtual-table--placeholder")
            if index == self.cursor_row:
                style += self.get_component_rich_style("virtual-table--cursor")
            return Strip([Segment(fit_text("…", width), base + style)])
        style = base
        kind = self._row_class(row) if self._row_class else None
        if kind:
            style += self.get_component_rich_style(f"virtual-table--{kind}")
        if self._marks and self._key is not None and self._key(row) in self._marks:
            style += self.get_component_rich_style("virtual-table--marked")
        if index == self.cursor_row:
            style += self.get_component_rich_style("virtual-table--cursor")
        return Strip([Segment(self._line_text(row, width), style)])

    def _line_text(self, row: Row, width: int) -> str:
        cells = [fit_text(column.text(row), w, column.justify) for column, w in self._fitted]
        return fit_text((" " * GAP).join(cells), width)

    def _header_strip(self, width: int) -> Strip:
        cells = []
        for column, w in self._fitted:
            title = column.title
            if self._sort and self._sort[0] == column.key:
                title += " ▼" if self._sort[1] else " ▲"
            cells.append(fit_text(title, w, column.justify))
        style = self.rich_style + self.get_component_rich_style("virtual-table--header")
        return Strip([Segment(fit_text((" " * GAP).join(cells), width), style)])

    def _message_strip(self, text: str, width: int, kind: str) -> Strip:
        style: Style = self.rich_style
        if text:
            style += self.get_component_rich_style(f"virtual-table--{kind}")
        return Strip([Segment(fit_text(f" {text}" if text else "", width), style)])

    # --- the cursor -----------------------------------------------------------------

    def validate_cursor_row(self, value: int) -> int:
        count = self.row_count or 0
        return max(0, min(value, count - 1)) if count else 0

    def watch_cursor_row(self, old: int, new: int) -> None:
        # The cursor was moved since a reload started: where it is now wins.
        self._highlighted_key = None
        self._scroll_to_cursor()
        self.refresh()
        self._request_visible()
        if self.row_count:
            self.post_message(self.Highlighted(self, new, self.row_at(new)))

    def _scroll_to_cursor(self) -> None:
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + self.page_rows:
            self.scroll_to(y=self.cursor_row - self.page_rows + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.cursor_row -= 1

    def action_cursor_down(self) -> None:
        self.cursor_row += 1

    def action_page_up(self) -> None:
        self.cursor_row -= self.page_rows

    def action_page_down(self) -> None:
        self.cursor_row += self.page_rows

    def action_first(self) -> None:
        self.cursor_row = 0

    def action_last(self) -> None:
        self.cursor_row = (self.row_count or 1) - 1

    def action_select(self) -> None:
        row = self.cursor_value
        if row is not None:
            self.post_message(self.Selected(self, self.cursor_row, row))

    # --- marks ---------------------------------------------------------------------

    @property
    def marked_rows(self) -> list[Row]:
        """The marked rows, as they were when marked (scrolled-away rows included)."""
        return list(self._marks.values())

    def clear_marks(self) -> None:
        if self._marks:
            self._marks.clear()
            self.refresh()
            self.post_message(self.MarksChanged(self, 0))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select":
            # Enter on an empty table is the screen's (Query: ask the remote).
            return self.cursor_value is not None
        return self.markable if action == "toggle_mark" else True

    def action_toggle_mark(self) -> None:
        """Mark the row (or unmark it) and go to the next, so space, space marks two."""
        row = self.cursor_value
        if row is None or self._key is None:
            return
        key = self._key(row)
        if self._marks.pop(key, None) is None:
            self._marks[key] = row
        self.post_message(self.MarksChanged(self, len(self._marks)))
        self.cursor_row += 1
        self.refresh()

    # --- the mouse (optional) -------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            key = self._column_at(event.x)
            if key:
                self.post_message(self.HeaderClicked(self, key))
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if self.row_count and 0 <= index < self.row_count:
            if index == self.cursor_row and event.chain >= 2:
                self.action_select()
            self.cursor_row = index

    def _column_at(self, x: int) -> str | None:
        start = 0
        for column, w in self._fitted:
            if start <= x < start + w:
                return column.key
            start += w + GAP
        return None
