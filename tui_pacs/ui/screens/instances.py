"""The instances of one series, in instance number order."""

from __future__ import annotations

from tui_pacs.core.matching import Matcher
from tui_pacs.core.model import Level
from tui_pacs.ui.rows import Row
from tui_pacs.ui.screens.archive_list import ArchiveListScreen, fixed_to
from tui_pacs.ui.widgets.virtual_table import Column

INSTANCE_COLUMNS = [
    Column("InstanceNumber", 5, justify="right"),
    Column("SOPClassUID", 20, flex=1),
    Column("Rows", 5, justify="right"),
    Column("Columns", 5, justify="right"),
    Column("NumberOfFrames", 6, justify="right", drop=2),
    Column("TransferSyntaxUID", 18, drop=3),
    Column("SOPInstanceUID", 20, flex=1, drop=1),
]


def describe_instance(row: Row) -> str:
    number = row.get("InstanceNumber")
    return f"instance {number}" if number is not None else f"instance {row['SOPInstanceUID']}"


class InstancesScreen(ArchiveListScreen):
    LEVEL = Level.IMAGE
    COLUMNS = INSTANCE_COLUMNS
    HELP_TITLE = "instances of a series"
    NOUN = ("instance", "instances")
    EMPTY = "This series has no instances any more."

    def describe(self, row: Row) -> str:
        return describe_instance(row)

    def tags_target(self, row: Row) -> tuple[Level, dict[str, Matcher], str | None]:
        # The whole series, starting at this instance: [ and ] step through it.
        return Level.SERIES, fixed_to(row, "SeriesInstanceUID"), row.get("SOPInstanceUID")

    def open_row(self, row: Row) -> None:
        self.action_tags()

    def delete_question(self, row: Row) -> tuple[str, str]:
        return ("Delete this instance?",
                f"{self.context}\n{describe_instance(row)}\n\n"
                "Its file is removed from the archive for good.")
