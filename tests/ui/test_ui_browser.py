"""The local archive browser against a real archive on disk."""

from __future__ import annotations

from tests.ui.conftest import column, make_app, screen_text, seed, settle
from tui_pacs.core.matching import Single
from tui_pacs.core.model import Level
from tui_pacs.ui.screens.instances import InstancesScreen
from tui_pacs.ui.screens.patients import PatientsScreen
from tui_pacs.ui.screens.series import SeriesScreen
from tui_pacs.ui.screens.studies import StudiesScreen


async def test_studies_newest_first(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StudiesScreen)
        rows = app.screen.table.loaded_rows()
        assert [r["StudyDate"] for r in rows] == ["20240115", "20240114", "20240110", "20231201"]
        text = screen_text(app)
        assert "4 studies" in text
        assert "MÜLLER^ÅSA" in text


async def test_drill_down_and_back(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SeriesScreen)
        assert column(app, "SeriesNumber") == [1, 2]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        rows = app.screen.table.loaded_rows()
        assert [r["InstanceNumber"] for r in rows] == [1, 2, 3]
        assert {r["SeriesNumber"] for r in rows} == {2}
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SeriesScreen)
        await pilot.press("backspace")
        await settle(pilot)
        assert isinstance(app.screen, StudiesScreen)


async def test_filter_as_you_type(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"smi")
        await pilot.pause(0.4)
        await settle(pilot)
        assert column(app, "PatientName") == ["SMITH^JOHN"]
        assert "filter: name smi" in screen_text(app)
        await pilot.press("escape")
        assert app.screen.focused is app.screen.table


async def test_filter_by_modality_and_accession(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#filter-modality").value = "mr"
        await pilot.pause(0.4)
        await settle(pilot)
        assert column(app, "AccessionNumber") == ["ACC002"]
        app.screen.query_one("#filter-modality").value = ""
        app.screen.query_one("#filter-accession").value = "ACC00"
        await pilot.pause(0.4)
        await settle(pilot)
        assert len(app.screen.table.loaded_rows()) == 4


async def test_date_presets_cycle(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("D")  # today: 2024-01-15
        await settle(pilot)
        assert column(app, "StudyDate") == ["20240115"]
        await pilot.press("D")  # yesterday
        await settle(pilot)
        assert column(app, "StudyDate") == ["20240114"]
        await pilot.press("D")  # last 7 days
        await settle(pilot)
        assert column(app, "StudyDate") == [
            "20240115", "20240114", "20240110"]
        await pilot.press("x")
        await settle(pilot)
        assert len(app.screen.table.loaded_rows()) == 4


async def test_bad_date_is_explained(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#filter-date").value = "2024-13-45"
        await pilot.pause(0.4)
        await settle(pilot)
        assert "is not a calendar date" in screen_text(app)
        assert len(app.screen.table.loaded_rows()) == 4


async def test_sort_by_column_and_reverse(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("o")  # the first column: patient name
        await settle(pilot)
        assert column(app, "PatientName") == ["DOE^JANE", "DOE^JANE", "MÜLLER^ÅSA", "SMITH^JOHN"]
        await pilot.press("r")
        await settle(pilot)
        assert column(app, "PatientName") == ["SMITH^JOHN", "MÜLLER^ÅSA", "DOE^JANE", "DOE^JANE"]
        assert "by Patient name ▼" in screen_text(app)


async def test_patient_view_groups_studies(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PatientsScreen)
        rows = app.screen.table.loaded_rows()
        assert [(r["PatientName"], r["NumberOfPatientRelatedStudies"]) for r in rows] == [
            ("DOE^JANE", 2), ("MÜLLER^ÅSA", 1), ("SMITH^JOHN", 1)]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, StudiesScreen)
        assert column(app, "AccessionNumber") == [
            "ACC001", "ACC002"]


async def test_delete_asks_first(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        archive = app.backend.archive
        first = app.screen.table.cursor_value["StudyInstanceUID"]
        paths = [archive.path_of(f) for f in await archive.index.files(
            Level.STUDY, {"StudyInstanceUID": Single(first)})]
        assert len(paths) == 6 and all(p.exists() for p in paths)
        await pilot.press("d")
        await settle(pilot)
        assert "Delete this study?" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert len(app.screen.table.loaded_rows()) == 4
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("enter")  # the focused button is No
        await settle(pilot)
        assert len(app.screen.table.loaded_rows()) == 4
        await pilot.press("d", "y")
        await pilot.pause(0.7)
        await settle(pilot)
        assert column(app, "AccessionNumber") == [
            "ACC003", "ACC002", "ACC004"]
        totals = await archive.index.totals()
        assert totals["studies"] == 3
        assert not any(p.exists() for p in paths)


async def test_deleting_a_patient_spares_another_with_the_same_id(seeded, tmp_path):
    """PAT2 of another hospital (another name and birth date) is another patient:
    deleting SMITH^JOHN from the patient view leaves theirs alone."""
    from tests.dicom_factory import write_study

    await seed(seeded.node.data, write_study(
        tmp_path / "other", study=7, series=1, instances=2, patient_id="PAT2",
        patient_name="BROWN^ANN", birth_date="19811111"))
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        archive = app.backend.archive
        await pilot.press("p")
        await settle(pilot)
        assert column(app, "PatientName") == ["BROWN^ANN", "DOE^JANE", "MÜLLER^ÅSA",
                                              "SMITH^JOHN"]
        await pilot.press("end")
        await settle(pilot)
        assert app.screen.table.cursor_value["PatientName"] == "SMITH^JOHN"
        await pilot.press("d")
        await settle(pilot)
        assert "SMITH^JOHN (PAT2)" in screen_text(app)
        await pilot.press("y")
        await pilot.pause(0.7)
        await settle(pilot)
        assert column(app, "PatientName") == ["BROWN^ANN", "DOE^JANE", "MÜLLER^ÅSA"]
        left = await archive.index.query(Level.STUDY, {"PatientID": Single("PAT2")})
        assert [row["PatientName"] for row in left] == ["BROWN^ANN"]


async def test_new_instances_appear_without_refresh(seeded, tmp_path):
    from tests.dicom_factory import write_study

    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        files = write_study(tmp_path / "later", study=9, series=1, instances=2,
                            patient_id="PAT9", patient_name="LATE^ARRIVAL",
                            study_date="20240116")
        await app.backend.archive.store_files(files)
        await pilot.pause(0.7)
        await settle(pilot)
        assert column(app, "PatientName")[0] == "LATE^ARRIVAL"
        assert "5 studies" in screen_text(app)
