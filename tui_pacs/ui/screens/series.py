"""The series of one study; Enter lists a series' instances."""

from __future__ import annotations

from tui_pacs.core.model import Level
from tui_pacs.ui.rows import Row
from tui_pacs.ui.screens.archive_list import ArchiveListScreen, fixed_to
from tui_pacs.ui.widgets.virtual_table import Column

SERIES_COLUMNS = [
    Column("SeriesNumber", 4, justify="right"),
    Column("Modality", 5, label="Mod"),
    Column("SeriesDescription", 20, flex=2),
    Column("BodyPartExamined", 10, drop=2),
    Column("SeriesDate", 10, drop=3),
    Column("NumberOfSeriesRelatedInstances", 5, label="Inst", justify="right"),
    Column("SeriesInstanceUID", 20, flex=1, drop=1),
]


def describe_series(row: Row) -> str:
    number = row.get("SeriesNumber")
    parts = [f"series {number}" if number is not None else "series",
             row.get("Modality") or "", row.get("SeriesDescription") or ""]
    return " ".join(p for p in parts if p)


class SeriesScreen(ArchiveListScreen):
    LEVEL = Level.SERIES
    COLUMNS = SERIES_COLUMNS
    HELP_TITLE = "series of a study"
    NOUN = ("series", "series")
    EMPTY = "This study has no series any more."

    def open_row(self, row: Row) -> None:
        from tui_pacs.ui.screens.instances import InstancesScreen

        context = f"{self.context}  ›  {describe_series(row)}"
        self.app.push_screen(InstancesScreen(fixed_to(row, "SeriesInstanceUID"), context))

    def describe(self, row: Row) -> str:
        return describe_series(row)

    def delete_question(self, row: Row) -> tuple[str, str]:
        instances = row.get("NumberOfSeriesRelatedInstances") or 0
        return ("Delete this series?",
                f"{self.context}\n{describe_series(row)}, {instances} instances.\n\n"
                "Its files are removed from the archive for good.")
