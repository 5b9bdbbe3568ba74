"""Identifiers are readable and copyable: the line under each list shows the
highlighted row's Patient ID, accession number and UIDs whole at 80x24, ``y``
puts the row's UID (a patient's ID) on the clipboard, and Tags shows UIDs whole."""

from __future__ import annotations

from tests.ui.conftest import make_app, screen_text, settle
from tests.ui.test_ui_tags import open_instance_tags
from tui_pacs.ui.widgets.tag_tree import MIN_NAME, whole_uid


def identifier_line(app) -> str:
    return str(app.screen.query_one("#identifiers").render())


async def test_studies_show_and_copy_the_study_uid(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        row = app.screen.table.cursor_value
        uid = row["StudyInstanceUID"]
        line = identifier_line(app)
        assert f"Patient ID {row['PatientID']}" in line
        assert f"Accession {row['AccessionNumber']}" in line
        assert uid in line.replace("\n", "")
        assert row["AccessionNumber"] in screen_text(app)
        await pilot.press("down", "y")
        await settle(pilot)
        second = app.screen.table.cursor_value["StudyInstanceUID"]
        assert second != uid and app.clipboard == second
        assert second in identifier_line(app)


async def test_patients_copy_the_patient_id_and_series_their_uid(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("end", "y")
        await settle(pilot)
        assert app.clipboard == "PAT2"  # SMITH^JOHN, last by name
        assert "Patient ID PAT2" in identifier_line(app)
        await pilot.press("p", "enter")  # back to the studies, then a study's series
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        series_uid = app.screen.table.cursor_value["SeriesInstanceUID"]
        assert app.clipboard == series_uid
        assert f"Series UID {series_uid}" in identifier_line(app)


async def test_tags_show_a_uid_whole_at_80_columns(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_instance_tags(pilot)
        uid = next(e.line.value for e in screen.entries
                   if e.line.name == "SOPInstanceUID")
        lines = [line for line in screen_text(app).splitlines() if "(0008,0018)" in line]
        assert lines and uid in lines[0]


def test_a_uid_takes_the_length_then_the_keyword_room():
    assert whole_uid("1.2.3", 20, 24, True) == (20, 24, True)
    assert whole_uid("1" * 30, 20, 24, True) == (20, 32, False)
    assert whole_uid("1" * 40, 20, 24, True) == (12, 40, False)
    assert whole_uid("1" * 64, 20, 24, True) == (MIN_NAME, 44, False)
