import io

from rich.console import Console

from tui_pacs.cli.output import table_of
from tui_pacs.core.model import DEFAULT_COLUMNS, Level

ROW = {
    "PatientName": "CITIZEN^JANE^MIDDLE^DR", "PatientID": "ID-0012345",
    "StudyDate": "20240115", "ModalitiesInStudy": "CT\\PT",
    "StudyDescription": "PET-CT whole body with contrast", "AccessionNumber": "ACC-99887766",
    "NumberOfStudyRelatedSeries": 12, "NumberOfStudyRelatedInstances": 1234,
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.64108189007039777171766333999874882472",
}


def rendered(rows, width):
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    console.print(table_of(rows, DEFAULT_COLUMNS[Level.STUDY], width))
    return console.file.getvalue().splitlines()


def test_an_80_column_table_keeps_dates_codes_counts_and_uid_tails():
    lines = rendered([ROW], 80)
    assert all(len(line) <= 80 for line in lines)
    row = lines[1]
    for whole in ("2024-01-15", "CT\\PT", "ID-0012345", "1234", "…"):
        assert whole in row
    assert row.rstrip().endswith("874882472")


def test_a_wide_terminal_shows_everything_and_empty_columns_are_hidden():
    lines = rendered([dict(ROW, AccessionNumber="")], 200)
    assert "Accession" not in lines[0]
    assert ROW["StudyInstanceUID"] in lines[1]
    assert ROW["StudyDescription"] in lines[1]
