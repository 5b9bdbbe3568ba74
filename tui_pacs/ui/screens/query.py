"""Query/Retrieve: ask a remote node what it holds, and bring studies or series here.

Pick a modality and a level, fill in what you know (enter searches); results
come in as the remote's pending responses arrive. Enter on a study lists its
series on the remote, enter on a patient their studies. ``m`` retrieves by
C-MOVE (to this node), ``g`` by C-GET; retrieved studies land in the archive,
and the Here column says how many of the remote's instances of each study
or series are in the archive (``35/100``).

``w`` switches to the remote's modality worklist (a third "level"): the
same form asks for scheduled procedure steps (its date is the step's start
date, its modality the step's), and enter shows a step in full.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import aclosing
from functools import partial
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Label, Select, Static

from tui_pacs.core.filters import BadFilter, next_date_preset
from tui_pacs.core.keys import BadKey
from tui_pacs.core.model import Level, display_value
from tui_pacs.core.readable import plural
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.core.text import printable
from tui_pacs.services.holdings import INSTANCE_COUNTS
from tui_pacs.ui.commands import PaletteEntry
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.identifiers import IdentifierLine, copy_identifier
from tui_pacs.ui.rows import ListSource, Row
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.screens.patients import PATIENT_COLUMNS
from tui_pacs.ui.screens.series import SERIES_COLUMNS, describe_series
from tui_pacs.ui.screens.studies import STUDY_COLUMNS, describe_study
from tui_pacs.ui.widgets.filter_bar import QUERY_FIELDS, FilterBar
from tui_pacs.ui.widgets.footer import PacsFooter
from tui_pacs.ui.widgets.status_bar import StatusBar
from tui_pacs.ui.widgets.transfers_view import TransfersView
from tui_pacs.ui.widgets.virtual_table import Column, VirtualTable

# Results are redrawn at most this often while they stream in.
REDRAW_DELAY = 0.2

LEVELS = (Level.STUDY, Level.PATIENT)
# The Level choice's third value: scheduled procedure steps instead of a Q/R level.
WORKLIST = "worklist"
NOUNS = {Level.PATIENT: ("patient", "patients"), Level.STUDY: ("study", "studies"),
         Level.SERIES: ("series", "series")}
STEP_NOUNS = ("scheduled step", "scheduled steps")
# The form's study keys, as a worklist query asks them.
WORKLIST_FORM_KEYS = {"StudyDate": "ScheduledProcedureStepStartDate",
                      "ModalitiesInStudy": "Modality",
                      "StudyDescription": "RequestedProcedureDescription"}


def _count(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _remote_count(row: Row) -> int | None:
    """The remote's count of instances in the study (or series) of ``row``, if it said."""
    key = next((k for k in INSTANCE_COUNTS.values() if k in row), None)
    return _count(row[key]) if key else None


def held_text(row: Row) -> str:
    held = row.get("_held")
    if not held:
        return ""
    total = _remote_count(row)
    return f"{held}/{total if total is not None else '?'}"


def completeness(row: Row) -> str | None:
    """``success`` when every instance the remote has is here, ``warning`` for part."""
    held = row.get("_held")
    if not held:
        return None
    total = _remote_count(row)
    return "success" if total is not None and held >= total else "warning"


def _start_time(row: Row) -> str:
    return display_value("ScheduledProcedureStepStartTime",
                         row.get("ScheduledProcedureStepStartTime"))[:5]


HERE = Column("_held", 7, label="Here", justify="right", format=held_text)
COLUMNS = {Level.PATIENT: PATIENT_COLUMNS, Level.STUDY: [HERE, *STUDY_COLUMNS],
           Level.SERIES: [HERE, *SERIES_COLUMNS]}
WORKLIST_COLUMNS = [
    Column("PatientName", 14, flex=2),
    Column("PatientID", 10),
    Column("AccessionNumber", 10, drop=2),
    Column("RequestedProcedureDescription", 10, flex=3),
    Column("ScheduledStationAETitle", 8, drop=3),
    Column("Modality", 4, label="Mod"),
    Column("ScheduledProcedureStepStartDate", 10),
    Column("ScheduledProcedureStepStartTime", 5, format=_start_time),
    Column("RequestedProcedureID", 8, drop=4),
]


def step_key(row: Row) -> tuple[object, ...]:
    """What tells scheduled steps apart: one study may have several."""
    return (row.get("StudyInstanceUID"), row.get("AccessionNumber"),
            row.get("ScheduledProcedureStepID"), row.get("ScheduledProcedureStepStartDate"))


def step_lines(row: Row) -> list[str]:
    """A scheduled procedure step in full, for its details dialog."""
    def shown(keyword: str) -> str:
        return display_value(keyword, row.get(keyword)) or "—"

    return [
        f"patient   {shown('PatientName')}  ID {shown('PatientID')}  born "
        f"{shown('PatientBirthDate')}  sex {shown('PatientSex')}",
        f"accession {shown('AccessionNumber')}",
        f"procedure {shown('RequestedProcedureID')}  {shown('RequestedProcedureDescription')}",
        f"step      {shown('ScheduledProcedureStepID')}  "
        f"{shown('ScheduledProcedureStepDescription')}",
        f"scheduled {shown('ScheduledProcedureStepStartDate')} "
        f"{shown('ScheduledProcedureStepStartTime')}  on {shown('ScheduledStationAETitle')} "
        f"({shown('Modality')})",
        f"study UID {shown('StudyInstanceUID')}",
    ]


class ResultsScreen(PacsScreen):
    """Rows found on a remote node, streamed in; shared by the query and series screens."""

    SECTION = "query"
    LEVEL: ClassVar[Level] = Level.STUDY

    BINDINGS: ClassVar = [
        Binding("m", "retrieve('C-MOVE')", "Retrieve"),
        Binding("g", "retrieve('C-GET')", "Retrieve by C-GET"),
        Binding("o", "sort_next", "Sort", show=False),
        Binding("r", "sort_reverse", "Reverse", show=False),
        Binding("y", "copy_identifier", "Copy UID", show=False),
        Binding("f5,ctrl+r", "search", "Search again", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.results = ListSource()
        # The remote new searches ask.
        self.target: Target | None = None
        # The remote the results came from: retrieving or opening one of them asks it,
        # whichever remote is chosen now.
        self.source: Target | None = None
        self.level = self.LEVEL
        # Asking for scheduled procedure steps instead of the level's matches.
        self.worklist = False
        # The level (and worklist) the results shown were asked at.
        self.asked = (self.level, self.worklist)
        self.order_by: str | None = None
        self.descending = False
        self._redraw: Timer | None = None
        self._state = ""

    def columns(self) -> list[Column]:
        return WORKLIST_COLUMNS if self.worklist else COLUMNS[self.level]

    def row_key(self, row: Row) -> object:
        return step_key(row) if self.worklist else row.get(self.level.unique_key)

    def results_table(self) -> VirtualTable:
        return VirtualTable(self.columns(), self.results, key=self.row_key,
                            row_class=completeness,
                            empty_text="No query yet.", markable=True,
                            id="table")

    def on_mount(self) -> None:
        self.watch(self.pacs, "archive_generation", self._archive_changed, init=False)
        self.table.reload()

    # --- searching ------------------------------------------------------------------

    def keys(self) -> dict[str, str]:
        """The query keys (raises BadFilter); each screen says what it asks."""
        return {}

    def action_search(self) -> None:
        self.search(self.target)

    def search(self, target: Target | None) -> None:
        """Ask ``target``; the results that were shown are dropped."""
        if target is None:
            self.show_state("Choose a remote modality first (Remotes, key 3, lists them).")
            return
        try:
            keys = self.keys()
        except BadFilter as exc:
            self.show_state(str(exc))
            return
        self.results.clear()
        self.source = target
        self.asked = (self.level, self.worklist)
        self.table.empty_text = "Nothing found."
        self.table.set_columns(self.columns())
        self.table.reload(keep_cursor=False)
        self._find(target, keys, self.worklist)

    @work(group="find", exclusive=True, exit_on_error=False)
    async def _find(self, target: Target, keys: dict[str, str], worklist: bool) -> None:
        started = time.monotonic()
        client = self.backend.client
        noun = STEP_NOUNS if worklist else NOUNS[self.level]
        self.show_state(f"asking {target.name or target.aet}…")
        try:
            async with aclosing(client.worklist(target, keys) if worklist
                                else client.find(target, self.level, keys)) as rows:
                async for row in rows:
                    self.results.append(row)
                    self._redraw_soon(f"asking {target.name or target.aet}… "
                                      f"{plural(len(self.results.rows), *noun)} so far")
        except BadKey as exc:
            self.show_state(f"Cannot ask that: {exc}")
            return
        except RemoteFailure as exc:
            advice = " ".join(exc.diagnosis.advice)
            self.show_state(f"{exc.diagnosis.summary} {advice}".strip())
            return
        finally:
            self._stop_redraw()
        seconds = time.monotonic() - started
        count = len(self.results.rows)
        self.show_state(f"{plural(count, *noun)} from {target.name or target.aet} "
                        f"in {seconds:.1f} s")
        self.table.reload(keep_cursor=True)
        await self._count_held()

    def _redraw_soon(self, state: str) -> None:
        self._state = state
        if self._redraw is None:
            self._redraw = self.set_timer(REDRAW_DELAY, self._redraw_now)

    def _stop_redraw(self) -> None:
        if self._redraw is not None:
            self._redraw.stop()
            self._redraw = None

    def _redraw_now(self) -> None:
        # Textual runs a timer's callback as a message: this one may come after
        # the search has ended and shown its last line, which it then shows again.
        self._redraw = None
        self.show_state(self._state)
        self.table.reload(keep_cursor=True)

    def show_state(self, text: str) -> None:
        """The line above the results; it may quote the remote's error comment."""
        self._state = text
        self.query_one("#title", Static).update(printable(text))

    async def _count_held(self) -> None:
        """How many instances of each study (or series) found the archive holds."""
        if self.worklist or self.level not in INSTANCE_COUNTS:
            return
        key = self.level.unique_key
        rows = list(self.results.rows)
        held = await self.backend.held_instances(
            self.level, [str(row[key]) for row in rows if row.get(key)])
        for row in rows:
            row["_held"] = held.get(str(row.get(key)), 0)
        self.table.refresh()

    def _archive_changed(self) -> None:
        """A retrieve, a delete or a received instance: count again."""
        if self.results.rows:
            self.run_worker(self._count_held, group="count-held", exclusive=True,  # type: ignore[arg-type]  # textual infers no result type from a coroutine function
                            exit_on_error=False)

    # --- identifiers ----------------------------------------------------------------

    @on(VirtualTable.Highlighted)
    def _show_identifiers(self, event: VirtualTable.Highlighted) -> None:
        self.query_one(IdentifierLine).show(self.level, event.row)

    @on(VirtualTable.Loaded)
    def _clear_identifiers(self, event: VirtualTable.Loaded) -> None:
        if not event.count:
            self.query_one(IdentifierLine).show(self.level, None)

    def action_copy_identifier(self) -> None:
        copy_identifier(self.app, self.level, self.table.cursor_value)

    @on(VirtualTable.MarksChanged)
    def _show_marked(self, event: VirtualTable.MarksChanged) -> None:
        self.query_one(IdentifierLine).show_marked(event.count)

    # --- sorting ----------------------------------------------------------------------

    def action_sort_next(self) -> None:
        keys = [c.key for c in self.table.visible_columns if not c.key.startswith("_")]
        position = keys.index(self.order_by) + 1 if self.order_by in keys else 0
        self.sort_by(keys[position] if position < len(keys) else None)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.order_by, not self.descending)

    def sort_by(self, key: str | None, descending: bool = False) -> None:
        self.order_by, self.descending = key, descending
        self.results.set_order(key, descending)
        self.table.show_sort(key, descending)
        self.table.reload(keep_cursor=False)

    # --- retrieving -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retrieve":
            return self.level is not Level.PATIENT and not self.worklist
        return True

    def action_retrieve(self, service: str) -> None:
        """Retrieve the marked results (else the highlighted one): one transfer each."""
        cursor = self.table.cursor_value
        rows = self.table.marked_rows or ([cursor] if cursor is not None else [])
        if not rows or self.source is None:
            return
        level = self.level
        for row in rows:
            keys = {"StudyInstanceUID": str(row.get("StudyInstanceUID") or "")}
            if level is Level.SERIES:
                keys["SeriesInstanceUID"] = str(row.get("SeriesInstanceUID") or "")
            what = (f"study {describe_study(row)}" if level is Level.STUDY
                    else describe_series(row))
            self.pacs.start_retrieve(self.source, service, level, keys, what)
        self.table.clear_marks()


class QueryScreen(ResultsScreen):
    HELP_TITLE = "query/retrieve"

    BINDINGS: ClassVar = [
        Binding("slash", "form", "Form"),
        Binding("enter", "search", "Ask the remote", show=False),
        Binding("l", "next_level", "Level"),
        Binding("w", "worklist", "Worklist"),
        Binding("x", "clear_form", "Clear"),
        Binding("D", "next_date", "Date", show=False),
        Binding("escape", "focus_results", "To the results", show=False),
    ]
    FOOTER = ("form", "retrieve", "worklist", "next_level", "clear_form")

    def compose(self) -> ComposeResult:
        yield StatusBar(self.SECTION)
        with Horizontal(classes="filter-bar query-choice"):
            yield Label("From", classes="filter-label")
            yield Select(self._modality_options(), prompt="choose a remote modality",
                         id="remote", compact=True)
            yield Label("Level", classes="filter-label")
            yield Select([*((level.label, level) for level in LEVELS), (WORKLIST, WORKLIST)],
                         value=Level.STUDY, allow_blank=False, id="level", compact=True)
        yield FilterBar(QUERY_FIELDS, id="form")
        yield Static("Choose a remote modality, fill in what you know, press enter.",
                     id="title", classes="title wrap", markup=False)
        yield self.results_table()
        yield IdentifierLine()
        yield TransfersView()
        yield PacsFooter()

    def _modality_options(self) -> list[tuple[str, str]]:
        return [(f"{m.name} ({m.aet})", m.name) for m in self.pacs.settings.modalities]

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.pacs, "settings_generation", self._modalities_changed, init=False)
        remembered = self.pacs.settings.ui.last_remote
        names = [m.name for m in self.pacs.settings.modalities]
        chosen = names[0] if len(names) == 1 else remembered if remembered in names else None
        # Not a text field: the screen keys and ? would be typed into it.
        if chosen is None:
            self.query_one("#remote", Select).focus()
        else:
            self.choose(chosen)
            self.table.focus()

    def _modalities_changed(self) -> None:
        select = self.query_one("#remote", Select)
        current = select.value
        select.set_options(self._modality_options())
        if current in [m.name for m in self.pacs.settings.modalities]:
            select.value = current

    def choose(self, name: str) -> None:
        """Query this modality from now on (at once: a search may follow)."""
        self.query_one("#remote", Select).value = name
        self.target = self.backend.client.target(name)

    @on(Select.Changed, "#remote")
    def _remote_changed(self, event: Select.Changed) -> None:
        """A blank choice (the list is rebuilt after a config write) keeps the results;
        another remote clears them, as they would not be its answers."""
        name = event.value
        if name is Select.NULL:
            self.target = None
            return
        self.target = self.backend.client.target(str(name))
        if self.source is not None and self.source.name != self.target.name:
            source, chosen = self.source, self.target
            self._forget_results(f"Remote changed: the results from {source.name or source.aet}"
                                 f" were cleared. Press enter to ask {chosen.name or chosen.aet}.")

    def _forget_results(self, why: str) -> None:
        self.workers.cancel_group(self, "find")
        self.results.clear()
        self.source = None
        self.table.empty_text = "No query yet."
        self.table.set_columns(self.columns())
        self.table.reload(keep_cursor=False)
        self.show_state(why)

    @on(Select.Changed, "#level")
    def _level_changed(self, event: Select.Changed) -> None:
        """Results of another level are cleared: opening or retrieving one of them
        would act at the level now chosen."""
        self.worklist = event.value == WORKLIST
        self.level = Level.STUDY if self.worklist else event.value  # type: ignore[assignment]
        self.refresh_bindings()
        if self.source is not None and self.asked != (self.level, self.worklist):
            chosen = self.target or self.source
            self._forget_results(f"Level changed: the results were cleared. Press enter to "
                                 f"ask {chosen.name or chosen.aet}.")

    def keys(self) -> dict[str, str]:
        keys = self.query_one(FilterBar).value.keys(self.pacs.today(), contains=False)
        if self.worklist:
            return {WORKLIST_FORM_KEYS.get(k, k): v for k, v in keys.items()}
        if self.level is Level.PATIENT:
            keys = {k: v for k, v in keys.items() if k in ("PatientName", "PatientID")}
        return keys

    def search(self, target: Target | None) -> None:
        super().search(target)
        if target is not None and target.name:
            self.pacs.remember_remote(target.name)

    @on(FilterBar.Done)
    def _form_done(self, event: FilterBar.Done) -> None:
        """Enter asks the remote; escape only leaves the form."""
        if event.submitted:
            self.action_search()
        self.table.focus()

    def action_clear_form(self) -> None:
        self.query_one(FilterBar).clear()

    def action_form(self) -> None:
        self.query_one(FilterBar).focus_field("name")

    def action_focus_results(self) -> None:
        self.table.focus()

    def action_next_date(self) -> None:
        """Cycle the date field: any, today, yesterday, last 7 days, last 30 days."""
        bar = self.query_one(FilterBar)
        bar.set_field("date", next_date_preset(bar.value.date))

    def action_next_level(self) -> None:
        """Study, patient, worklist, and round again."""
        choices: list[Level | str] = [*LEVELS, WORKLIST]
        current = WORKLIST if self.worklist else self.level
        self.query_one("#level", Select).value = choices[(choices.index(current) + 1)
                                                         % len(choices)]

    def action_worklist(self) -> None:
        """To the worklist, or back to studies."""
        self.query_one("#level", Select).value = Level.STUDY if self.worklist else WORKLIST

    @on(VirtualTable.Selected)
    def _open(self, event: VirtualTable.Selected) -> None:
        if self.source is None:
            return
        row = event.row
        if self.worklist:
            self.app.push_screen(ReportDialog(
                f"Scheduled step on {self.source.name or self.source.aet}",
                [Content(printable(line)) for line in step_lines(row)]))
        elif self.level is Level.STUDY:
            self.app.push_screen(RemoteSeriesScreen(self.source, row))
        elif self.level is Level.PATIENT:
            bar = self.query_one(FilterBar)
            bar.clear()
            bar.set_field("patient_id", str(row.get("PatientID") or ""))
            self.query_one("#level", Select).value = Level.STUDY
            self.level = Level.STUDY
            self.search(self.source)

    def palette_entries(self) -> Iterator[PaletteEntry]:
        for column in self.table.visible_columns:
            if not column.key.startswith("_"):
                title = column.title
                yield PaletteEntry(f"Sort results by {title}", "", partial(self.sort_by,
                                                                           column.key))


class RemoteSeriesScreen(ResultsScreen):
    """The series of one study on the remote node."""

    HELP_TITLE = "series on a remote node"
    LEVEL = Level.SERIES

    BINDINGS: ClassVar = [Binding("escape,backspace", "back", "Back")]
    target: Target

    def __init__(self, target: Target, study: Row) -> None:
        super().__init__()
        self.target = target
        self.study = study

    def compose(self) -> ComposeResult:
        yield StatusBar(self.SECTION)
        yield Static(printable(f"{describe_study(self.study)}  on  "
                               f"{self.target.name or self.target.aet}"),
                     classes="title", markup=False)
        yield Static("", id="title", classes="subtitle wrap", markup=False)
        yield self.results_table()
        yield IdentifierLine()
        yield TransfersView()
        yield PacsFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.action_search()

    def keys(self) -> dict[str, str]:
        return {"StudyInstanceUID": str(self.study.get("StudyInstanceUID") or "")}

    def action_back(self) -> None:
        self.app.pop_screen()

