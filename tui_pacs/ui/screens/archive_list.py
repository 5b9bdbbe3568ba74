"""One level of the local archive as a table: patients, studies, series or instances.

Rows come page by page from the index (never all at once), sorted by any
column, refreshed when instances arrive or are deleted. Subclasses say which
level, which columns and where Enter leads.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui_pacs.config import Modality
from tui_pacs.core.matching import Matcher, exact
from tui_pacs.core.model import LABELS, Level
from tui_pacs.core.readable import plural
from tui_pacs.core.text import printable
from tui_pacs.services.export import ExportOptions, Selection
from tui_pacs.store.archive import DeleteResult
from tui_pacs.ui.commands import PaletteEntry
from tui_pacs.ui.dialogs.confirm import ConfirmDialog
from tui_pacs.ui.dialogs.export_form import ExportForm, default_destination
from tui_pacs.ui.dialogs.pick_modality import PickModality
from tui_pacs.ui.identifiers import IdentifierLine, copy_identifier
from tui_pacs.ui.rows import IndexSource, Row
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.screens.preview import PreviewScreen, describe_for_preview
from tui_pacs.ui.screens.tags import TagsScreen
from tui_pacs.ui.widgets.footer import PacsFooter
from tui_pacs.ui.widgets.status_bar import StatusBar
from tui_pacs.ui.widgets.transfers_view import TransfersView
from tui_pacs.ui.widgets.virtual_table import Column, VirtualTable

# Rows a delete question names one by one; more are counted.
MAX_LISTED = 5


class ArchiveListScreen(PacsScreen):
    LEVEL: ClassVar[Level]
    COLUMNS: ClassVar[list[Column]]
    NOUN: ClassVar[tuple[str, str]]
    EMPTY: ClassVar[str] = "Nothing here."
    # The archive's own columns (store/queries.py LOCAL_COLUMNS) the rows carry.
    LOCAL: ClassVar[tuple[str, ...]] = ()

    BINDINGS: ClassVar = [
        Binding("escape,backspace", "back", "Back"),
        Binding("o", "sort_next", "Sort", show=False),
        Binding("r", "sort_reverse", "Reverse", show=False),
        Binding("v", "preview", "View"),
        Binding("t", "tags", "Tags"),
        Binding("s", "send", "Send"),
        Binding("e", "export", "Export"),
        Binding("d,delete", "delete", "Delete"),
        Binding("y", "copy_identifier", "Copy UID", show=False),
        Binding("f5,ctrl+r", "reload", "Reload", show=False),
    ]
    FOOTER: ClassVar[tuple[str, ...]] = ("preview", "tags", "send", "export", "delete", "back")

    def __init__(self, fixed: dict[str, Matcher] | None = None, context: str = "") -> None:
        super().__init__()
        # Matchers this screen is about (the study of a series list); never cleared.
        self.fixed = dict(fixed or {})
        self.context = context
        self.order_by: str | None = None
        self.descending = False
        self._stale = False

    # --- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(self.SECTION)
        yield from self.compose_controls()
        yield Static("", id="title", classes="title", markup=False)
        yield VirtualTable(self.COLUMNS, key=lambda row: row.get(self.LEVEL.unique_key),
                           empty_text=self.EMPTY, markable=True, id="table")
        yield IdentifierLine()
        yield TransfersView()
        yield PacsFooter()

    def compose_controls(self) -> ComposeResult:
        """Widgets between the status bar and the title (the filter bar)."""
        yield from ()

    def on_mount(self) -> None:
        self.watch(self.pacs, "archive_generation", self._archive_changed, init=False)
        self.table.focus()
        self.load()

    # --- rows ---------------------------------------------------------------

    def matchers(self) -> dict[str, Matcher]:
        """What the table shows: the fixed matchers plus any filter."""
        return dict(self.fixed)

    def load(self) -> None:
        """Show the rows from the top: after a new filter or a new order."""
        source = IndexSource(self.backend.archive.index, self.LEVEL, self.matchers(),
                             self.order_by, self.descending, self.LOCAL)
        self.table.show_sort(self.order_by, self.descending)
        self.table.set_source(source)

    def _archive_changed(self) -> None:
        if self.is_current:
            self.table.reload(keep_cursor=True)
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.table.reload(keep_cursor=True)

    @on(VirtualTable.Loaded)
    def _show_count(self, event: VirtualTable.Loaded) -> None:
        self.update_title(event.count)
        if not event.count:
            self.query_one(IdentifierLine).show(self.LEVEL, None)

    @on(VirtualTable.Highlighted)
    def _show_identifiers(self, event: VirtualTable.Highlighted) -> None:
        self.query_one(IdentifierLine).show(self.LEVEL, event.row)

    def action_copy_identifier(self) -> None:
        copy_identifier(self.app, self.LEVEL, self.table.cursor_value)

    @on(VirtualTable.MarksChanged)
    def _show_marked(self, event: VirtualTable.MarksChanged) -> None:
        self.query_one(IdentifierLine).show_marked(event.count)

    def chosen_rows(self) -> list[Row]:
        """What send and delete act on: the marked rows, else the highlighted one."""
        marked = self.table.marked_rows
        if marked:
            return marked
        row = self.table.cursor_value
        return [row] if row is not None else []

    def name_rows(self, rows: list[Row]) -> str:
        """``study DOE^JANE …`` for one row, ``3 studies`` for more."""
        if len(rows) == 1:
            return f"{self.NOUN[0]} {self.describe(rows[0])}"
        return plural(len(rows), *self.NOUN)

    def update_title(self, count: int | None = None) -> None:
        count = self.table.row_count if count is None else count
        self.query_one("#title", Static).update(printable("  ·  ".join(self.title_parts(count))))

    def title_parts(self, count: int | None) -> list[str]:
        # The count first: a long context is what a narrow terminal cuts.
        parts = [plural(count or 0, *self.NOUN)]
        if self.context:
            parts.append(self.context)
        if self.order_by:
            arrow = "▼" if self.descending else "▲"
            parts.append(f"by {LABELS.get(self.order_by, self.order_by)} {arrow}")
        return parts

    @on(VirtualTable.Selected)
    def _open(self, event: VirtualTable.Selected) -> None:
        self.open_row(event.row)

    def open_row(self, row: Row) -> None:
        """Enter on a row: show what it holds."""

    def action_open(self) -> None:
        row = self.table.cursor_value
        if row is not None:
            self.open_row(row)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":  # the first screen of a section has nowhere to go back to
            return self.app.screen_stack[0] is not self
        return True

    # --- the image preview --------------------------------------------------------

    def action_preview(self) -> None:
        row = self.table.cursor_value
        if row is not None:
            self._open_preview(row)

    @work(group="open", exclusive=True, exit_on_error=False)
    async def _open_preview(self, row: Row) -> None:
        if self.LEVEL.depth >= Level.SERIES.depth:
            series = row
        else:  # a patient or study: its first series
            found = await self.backend.archive.index.query(
                Level.SERIES, fixed_to(row, *self.pinned_keys), limit=1)
            if not found:
                self.notify("Nothing to show: no series any more.", severity="warning")
                return
            series = found[0]
        self.app.push_screen(PreviewScreen(series["SeriesInstanceUID"],
                                           row.get("SOPInstanceUID"),
                                           describe_for_preview(series)))

    # --- sending ----------------------------------------------------------------

    @property
    def pinned_keys(self) -> tuple[str, ...]:
        """The keys that name one row, and so what its actions act on: the
        level's unique key (a patient is more than its PatientID)."""
        return (self.LEVEL.unique_key,)

    def pinned(self, row: Row) -> dict[str, str]:
        return {key: str(row.get(key) or "") for key in self.pinned_keys}

    def action_send(self) -> None:
        """Send the marked rows (else the highlighted one): one transfer each."""
        rows = self.chosen_rows()
        if not rows:
            return
        sends = [(self.pinned(row), f"{self.NOUN[0]} {self.describe(row)}") for row in rows]

        def chosen(modality: Modality | None) -> None:
            if modality is not None:
                target = self.backend.client.target(modality.name)
                for keys, what in sends:
                    self.pacs.start_send(target, self.LEVEL, keys, what)
                self.table.clear_marks()

        self.app.push_screen(PickModality(f"Send {self.name_rows(rows)} to",
                                          self.pacs.settings.modalities), chosen)

    # --- exporting ----------------------------------------------------------------

    def action_export(self) -> None:
        """Export the marked rows (else the highlighted one) together, where the
        dialog says."""
        rows = self.chosen_rows()
        if not rows:
            return
        selections = [Selection(self.LEVEL, self.pinned(row)) for row in rows]
        what = self.name_rows(rows)

        def chosen(answer: tuple[Path, ExportOptions] | None) -> None:
            if answer is not None:
                self.pacs.start_export(selections, what, *answer)
                self.table.clear_marks()

        self.app.push_screen(ExportForm(f"Export {what}",
                                        default_destination(self.pacs.clock())), chosen)

    # --- the tag inspector ------------------------------------------------------

    def action_tags(self) -> None:
        row = self.table.cursor_value
        if row is not None:
            self._open_tags(row)

    def tags_target(self, row: Row) -> tuple[Level, dict[str, Matcher], str | None]:
        """Whose instances the inspector pages through for ``row`` (level, keys),
        and the SOP Instance UID to start at (None: the first)."""
        return self.LEVEL, fixed_to(row, *self.pinned_keys), None

    @work(group="open", exclusive=True, exit_on_error=False)
    async def _open_tags(self, row: Row) -> None:
        level, keys, start_at = self.tags_target(row)
        archive = self.backend.archive
        stored = await archive.index.files(level, keys)
        if not stored:
            self.notify("No instances to show: they were deleted.", severity="warning")
            return
        start = next((n for n, f in enumerate(stored) if f.sop_instance_uid == start_at), 0)
        here = self.describe(row) if self.LEVEL is not Level.IMAGE else ""
        context = "  ›  ".join(part for part in (self.context, here) if part)
        self.app.push_screen(TagsScreen([archive.path_of(f) for f in stored], start, context))

    # --- actions -------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.table.reload(keep_cursor=True)

    def sort_keys(self) -> list[str]:
        return [column.key for column in self.table.visible_columns]

    def action_sort_next(self) -> None:
        """Sort by the next column; after the last, back to the natural order."""
        keys = self.sort_keys()
        position = keys.index(self.order_by) + 1 if self.order_by in keys else 0
        self.sort_by(keys[position] if position < len(keys) else None)

    def action_sort_reverse(self) -> None:
        self.descending = not self.descending
        self.load()
        self.update_title()

    def sort_by(self, key: str | None, descending: bool = False) -> None:
        self.order_by, self.descending = key, descending
        self.load()
        self.update_title()

    @on(VirtualTable.HeaderClicked)
    def _sort_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        same = event.key == self.order_by
        self.sort_by(event.key, descending=not self.descending if same else False)

    def palette_entries(self) -> Iterator[PaletteEntry]:
        # Enter is the table's key, which the palette does not list by itself.
        yield PaletteEntry("Open", f"key: enter, what the selected {self.NOUN[0]} holds",
                           self.action_open)
        # Only the columns shown: sorting by one the width dropped looks like no order.
        for column in self.table.visible_columns:
            title = column.title
            yield PaletteEntry(f"Sort by {title}", f"order the {self.NOUN[1]} by {title}",
                               partial(self.sort_by, column.key))

    def action_delete(self) -> None:
        """Delete the marked rows (else the highlighted one), asking once."""
        rows = self.chosen_rows()
        if not rows:
            return
        keys = [self.pinned(row) for row in rows]
        if len(rows) == 1:
            title, question = self.delete_question(rows[0])
        else:
            title, question = self.delete_many_question(rows)

        def answered(yes: bool | None) -> None:
            if yes:
                self.table.clear_marks()
                self._delete(keys, self.name_rows(rows))

        self.app.push_screen(ConfirmDialog(title, question, yes="Delete", danger=True),
                             answered)

    def delete_many_question(self, rows: list[Row]) -> tuple[str, str]:
        shown = [self.describe(row) for row in rows[:MAX_LISTED]]
        if len(rows) > MAX_LISTED:
            shown.append(f"and {len(rows) - MAX_LISTED} more")
        return (f"Delete {plural(len(rows), *self.NOUN)}?",
                "\n".join(shown) + "\n\nTheir files are removed from the archive for good.")

    def delete_question(self, row: Row) -> tuple[str, str]:
        noun = self.NOUN[0]
        return (f"Delete this {noun}?",
                f"{self.describe(row)}\n\nIts files are removed from the archive for good.")

    def describe(self, row: Row) -> str:
        """One line naming a row for dialogs and notifications."""
        return str(row.get(self.LEVEL.unique_key, ""))

    @work(group="delete", exclusive=True, exit_on_error=False)
    async def _delete(self, keys: list[dict[str, str]], label: str) -> None:
        instances = 0
        for one in keys:
            result: DeleteResult = await self.backend.archive.delete_matching(self.LEVEL, one)
            instances += result.instances
        if not instances:
            self.notify(f"Nothing deleted: {label} is already gone.", severity="warning")
        else:
            self.notify(f"Deleted {label}: {plural(instances, 'instance')}.",
                        title="Deleted")
        self.pacs.archive_changed()


def fixed_to(row: Row, *keywords: str) -> dict[str, Matcher]:
    """Matchers that pin a list to a row's identifiers (its study, its series)."""
    return exact({keyword: str(row.get(keyword) or "") for keyword in keywords})
