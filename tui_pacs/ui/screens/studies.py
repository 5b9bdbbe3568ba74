"""The local archive, study by study: where the app opens.

Studies first, because PatientID is not unique across hospitals; the
patient view groups them for when it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from tui_pacs.core.filters import DATE_PRESETS, BadFilter, StudyFilter, next_date_preset
from tui_pacs.core.matching import Matcher
from tui_pacs.core.model import Level, display_value
from tui_pacs.store.index import UnknownKey, matchers_from_keys
from tui_pacs.ui.commands import PaletteEntry
from tui_pacs.ui.rows import Row
from tui_pacs.ui.screens.archive_list import ArchiveListScreen, fixed_to
from tui_pacs.ui.widgets.filter_bar import FilterBar
from tui_pacs.ui.widgets.virtual_table import Column

STUDY_COLUMNS = [
    # Identifiers before descriptions: Patient ID and accession get the width a
    # hospital's IDs need and stay to 68 columns; the description takes what is left.
    Column("PatientName", 14, flex=2),
    Column("PatientID", 12),
    Column("PatientBirthDate", 10, drop=5),
    Column("StudyDate", 10),
    Column("ModalitiesInStudy", 5, label="Mod"),
    Column("StudyDescription", 10, flex=3),
    Column("AccessionNumber", 12, drop=2),
    Column("NumberOfStudyRelatedSeries", 3, label="Se", justify="right", drop=4),
    Column("NumberOfStudyRelatedInstances", 5, label="Inst", justify="right", drop=3),
]


# P: protected from retention (the key P toggles it); only the archive knows.
PROTECTED_COLUMN = Column("Protected", 1, label="P",
                          format=lambda row: "P" if row.get("Protected") else "")


def describe_study(row: Row) -> str:
    parts = [f"{row.get('PatientName') or '(no name)'} ({row.get('PatientID') or 'no ID'})",
             display_value("StudyDate", row.get("StudyDate")),
             row.get("ModalitiesInStudy") or "", row.get("StudyDescription") or ""]
    return " ".join(p for p in parts if p)


class StudiesScreen(ArchiveListScreen):
    LEVEL = Level.STUDY
    COLUMNS = [PROTECTED_COLUMN, *STUDY_COLUMNS]
    HELP_TITLE = "studies in the local archive"
    NOUN = ("study", "studies")
    EMPTY = ("No studies. Import files (tui-pacs import DIR) or send them to this node.")
    LOCAL = ("Protected",)

    BINDINGS: ClassVar = [
        Binding("slash", "filter", "Filter"),
        Binding("D", "next_date", "Date"),
        Binding("x", "clear_filter", "Clear filter", show=False),
        Binding("p", "patients", "Patients"),
        Binding("P", "protect", "Protect"),
    ]
    FOOTER: ClassVar[tuple[str, ...]] = ("filter", "preview", "tags", "send", "export", "delete",
                                         "protect", "patients")

    def __init__(self, fixed: dict[str, Matcher] | None = None, context: str = "") -> None:
        super().__init__(fixed, context)
        self.filter = StudyFilter()
        self._filter_matchers: dict[str, Matcher] = {}

    def compose_controls(self) -> ComposeResult:
        yield FilterBar(id="filter")
        yield Static("", id="filter-error", classes="error-line", markup=False)

    def sort_keys(self) -> list[str]:
        # o goes through the DICOM columns; the P column sorts when its header is clicked.
        return [key for key in super().sort_keys() if key not in self.LOCAL]

    def matchers(self) -> dict[str, Matcher]:
        return {**self._filter_matchers, **self.fixed}

    def load(self) -> None:
        """An empty list says whether the filter hides the archive's studies."""
        self.table.empty_text = (self.EMPTY if self.filter.is_empty else
                                 f"No study matches the filter ({self.filter.summary()}). "
                                 "x clears it.")
        super().load()

    def title_parts(self, count: int | None) -> list[str]:
        parts = super().title_parts(count)
        if not self.filter.is_empty:
            parts.append(f"filter: {self.filter.summary()}")
        return parts

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.apply_filter(event.value)

    def apply_filter(self, value: StudyFilter) -> None:
        error = self.query_one("#filter-error", Static)
        try:
            matchers = matchers_from_keys(value.keys(self.pacs.today()))
        except (BadFilter, UnknownKey) as exc:
            error.update(str(exc))
            error.display = True
            return
        error.display = False
        if value == self.filter:
            return
        self.filter = value
        self._filter_matchers = matchers
        self.load()
        self.update_title()

    @on(FilterBar.Done)
    def _filter_done(self) -> None:
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one(FilterBar).focus_field("name")

    def action_next_date(self) -> None:
        """Cycle the date filter: any, today, yesterday, last 7 days, last 30 days."""
        self.set_date_filter(next_date_preset(self.filter.date))

    def set_date_filter(self, preset: str) -> None:
        bar = self.query_one(FilterBar)
        bar.set_field("date", preset)
        self.apply_filter(bar.value)

    def action_clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.clear()
        self.apply_filter(StudyFilter())

    def palette_entries(self) -> Iterator[PaletteEntry]:
        yield from super().palette_entries()
        for preset, label in DATE_PRESETS:
            yield PaletteEntry(f"Studies from {label}", "filter the studies by date",
                               partial(self.set_date_filter, preset))

    def action_protect(self) -> None:
        """Protect the marked studies (else the highlighted one) from retention; when
        all are protected already, end their protection."""
        rows = self.chosen_rows()
        if rows:
            self._protect(rows)

    @work(group="protect", exclusive=True, exit_on_error=False)
    async def _protect(self, rows: list[Row]) -> None:
        protect = not all(row.get("Protected") for row in rows)
        found = 0
        for row in rows:
            found += await self.backend.set_protected(str(row["StudyInstanceUID"]), protect)
        label = self.name_rows(rows)
        if not found:
            self.notify(f"Nothing changed: {label} is gone.", severity="warning")
        elif protect:
            self.notify(f"Protected {label}: retention and rm --older-than keep it.",
                        title="Protected")
        else:
            self.notify(f"{label[0].upper()}{label[1:]}: no longer protected.",
                        title="Not protected")
        self.table.clear_marks()
        self.pacs.archive_changed()

    def action_patients(self) -> None:
        from tui_pacs.ui.screens.patients import PatientsScreen

        self.app.push_screen(PatientsScreen())

    def open_row(self, row: Row) -> None:
        from tui_pacs.ui.screens.series import SeriesScreen

        self.app.push_screen(SeriesScreen(fixed_to(row, "StudyInstanceUID"),
                                          describe_study(row)))

    def describe(self, row: Row) -> str:
        return describe_study(row)

    def delete_question(self, row: Row) -> tuple[str, str]:
        series = row.get("NumberOfStudyRelatedSeries") or 0
        instances = row.get("NumberOfStudyRelatedInstances") or 0
        return ("Delete this study?",
                f"{describe_study(row)}\n{series} series, {instances} instances.\n\n"
                "Its files are removed from the archive for good.")
