"""Activity: the node's associations and operations, the app's transfers, the log.

Newest first, one row per association. ``o`` unfolds an association into
its operations (and the log lines its threads wrote). ``/`` filters by text
(a peer, an AE title, a service, a status), ``f`` cycles the kind shown:
everything, network, log, notices, problems. Enter shows a row whole, an
association with every operation: a failure's reason and a notification's
text are cut in the list, and kept here long after the popup is gone.
``w`` shows the forwarding queue per destination.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Label, Static

from tui_pacs.core.readable import plural
from tui_pacs.core.text import printable
from tui_pacs.ui.activity import KINDS, UnfoldedRows, matches_kind, matches_text
from tui_pacs.ui.dialogs.forward_queue import ForwardQueueDialog
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.rows import Row
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.widgets.footer import PacsFooter
from tui_pacs.ui.widgets.status_bar import StatusBar
from tui_pacs.ui.widgets.transfers_view import TransfersView
from tui_pacs.ui.widgets.virtual_table import Column, VirtualTable


def _time(row: Row, today: date) -> str:
    """Today's rows by the second; older ones (from the history) by weekday."""
    time = row["Time"]
    if not isinstance(time, datetime):
        return str(time)
    return time.strftime("%H:%M:%S" if time.date() == today else "%a %H:%M")


def _service(row: Row) -> str:
    return f"› {row['Service']}" if row.get("Within") else row["Service"]


def activity_columns(today: Callable[[], date]) -> list[Column]:
    return [
        Column("Time", 9, format=lambda row: _time(row, today())),
        Column("Service", 9, format=_service, label="Services"),
        Column("AETs", 18, label="Calling→called"),
        Column("Peer", 15, drop=3),
        Column("Counts", 12, drop=2),
        Column("Status", 9),
        Column("Duration", 7, justify="right", drop=4, label="Took"),
        Column("Detail", 10, flex=1),
    ]


NOTHING_YET = ("Nothing yet: associations, operations and log messages appear here as "
               "they happen.")
NO_MATCH = "Nothing matches the filter (x clears it)."


def _when(row: Row) -> str:
    time = row["Time"]
    return time.strftime("%Y-%m-%d %H:%M:%S") if isinstance(time, datetime) else str(time)


def row_lines(row: Row) -> list[Content]:
    """A row whole, for the detail box: every field that says something, then
    each operation of an association in full. Peers chose much of the text,
    so it is shown through the sanitiser."""
    fields = [("Time", _when(row)), ("Kind", row["Kind"]), ("Service", row["Service"]),
              ("Peer", row["Peer"]), ("Calling→called" if row["Kind"] == "network"
                                      else "Title", row["AETs"]),
              ("Counts", row["Counts"]), ("Status", row["Status"]),
              ("Took", row["Duration"])]
    lines = [Content(printable(f"{name}: {value}")) for name, value in fields if value]
    lines += [Content(""), *_text(row["Detail"])]
    operations = row.get("Operations", ())
    if operations:
        lines += [Content(""), Content(f"Operations ({len(operations)}):")]
    for operation in operations:
        head = "  ".join(str(value) for value in (
            _when(operation)[11:], operation["Service"], operation["Status"],
            operation["Counts"], operation["Duration"]) if value)
        lines += [Content(printable(head)),
                  *(Content("    ") + line for line in _text(operation["Detail"]))]
    return lines


def _text(text: object) -> list[Content]:
    return [Content(printable(line)) for line in str(text).splitlines()]


class ActivityScreen(PacsScreen):
    SECTION = "activity"
    HELP_TITLE = "activity"

    BINDINGS: ClassVar = [
        Binding("o", "unfold", "Operations"),
        Binding("slash", "filter", "Filter"),
        Binding("f", "next_kind", "Kind"),
        Binding("w", "forward_queue", "Forwarding"),
        Binding("x", "clear_filter", "Clear filter", show=False),
        Binding("escape", "focus_table", "Back to the list", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind = "all"
        self._stale = False

    def compose(self) -> ComposeResult:
        self.listed = UnfoldedRows(self.pacs.activity.rows)
        yield StatusBar(self.SECTION)
        with Horizontal(classes="filter-bar"):
            yield Label("Filter", classes="filter-label")
            yield Input(placeholder="peer, AE title, service, status…", id="activity-filter",
                        compact=True, classes="filter-input")
        yield Static("", id="title", classes="title", markup=False)
        yield VirtualTable(activity_columns(self.pacs.today), self.listed,
                           key=lambda row: row["Seq"],
                           row_class=lambda row: row["Severity"],
                           empty_text=NOTHING_YET, id="table")
        yield TransfersView()
        yield PacsFooter()

    def on_mount(self) -> None:
        self.watch(self.pacs, "activity_generation", self._activity_changed, init=False)
        self.table.focus()
        self._apply_filter()

    def _activity_changed(self) -> None:
        if self.is_current:
            self._reload(keep_cursor=self.table.cursor_row > 0)
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self._reload(keep_cursor=False)

    @on(VirtualTable.Loaded)
    def _show_count(self, event: VirtualTable.Loaded) -> None:
        parts = [plural(event.count, "entry", "entries")]
        if self.kind != "all":
            parts.append(f"only {self.kind}")
        text = self.query_one("#activity-filter", Input).value.strip()
        if text:
            parts.append(f"filter: {text}")
        self.query_one("#title", Static).update("  ·  ".join(parts))

    def _apply_filter(self) -> None:
        text = self.query_one("#activity-filter", Input).value
        kind = self.kind
        rows = self.pacs.activity.rows
        rows.set_filter(lambda row: matches_kind(row, kind) and matches_text(row, text))
        rows.set_order(None, descending=True)
        self._reload(keep_cursor=False)

    def _reload(self, keep_cursor: bool) -> None:
        """Reload the list; an empty one says whether the filter hides every row."""
        filtered = self.kind != "all" or bool(
            self.query_one("#activity-filter", Input).value.strip())
        self.table.empty_text = (NO_MATCH if filtered and self.pacs.activity.rows.rows
                                 else NOTHING_YET)
        self.table.reload(keep_cursor=keep_cursor)

    @on(Input.Changed, "#activity-filter")
    def _filter_changed(self) -> None:
        self._apply_filter()

    @on(Input.Submitted, "#activity-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    @on(VirtualTable.Selected)
    def _details(self, event: VirtualTable.Selected) -> None:
        row = event.row
        title = f"{row['Service']} {row['AETs']}".strip()
        self.app.push_screen(ReportDialog(title, row_lines(row)))

    def action_unfold(self) -> None:
        """o: show the highlighted association's operations under it, or hide them."""
        row = self.table.cursor_value
        if row is None or not row.get("Operations"):
            return
        self.listed.unfolded ^= {row["Seq"]}
        self.table.reload(keep_cursor=True)

    def action_filter(self) -> None:
        self.query_one("#activity-filter", Input).focus()

    def action_forward_queue(self) -> None:
        self.app.push_screen(ForwardQueueDialog())

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_next_kind(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self._apply_filter()

    def action_clear_filter(self) -> None:
        self.kind = "all"
        self.query_one("#activity-filter", Input).value = ""
        self._apply_filter()
