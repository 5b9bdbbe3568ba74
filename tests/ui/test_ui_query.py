"""Query/retrieve against a real Orthanc on loopback: results stream in, series of a
study, C-MOVE and C-GET with progress; what is retrieved shows in the local browser."""

from __future__ import annotations

import time

import pytest

from tests.conftest import free_port
from tests.dicom_factory import write_study
from tests.ui.conftest import (
    TODAY,
    column,
    listening,
    open_query,
    screen_text,
    settle,
    with_modalities,
)
from tui_pacs.config import Modality
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.screens.query import QueryScreen, RemoteSeriesScreen

pytestmark = pytest.mark.interop


@pytest.fixture
def pacs_setup(settings, orthanc_factory, tmp_path):
    """This node (empty archive) and an Orthanc that knows it, holding three studies."""
    node = listening(settings)
    server = orthanc_factory(modalities={"tuipacs": ("TUIPACS", "127.0.0.1", node.node.port)})
    files = write_study(tmp_path / "seed", study=1, series=2, instances=3, patient_id="PAT1",
                        patient_name="DOE^JANE", study_date="20240115", accession="A1")
    files += write_study(tmp_path / "seed", study=2, series=1, instances=2, patient_id="PAT2",
                         patient_name="ROE^RICHARD", study_date="20230601", accession="A2")
    files += write_study(tmp_path / "seed", study=3, series=1, instances=1, patient_id="PAT1",
                         patient_name="DOE^JANE", study_date="20220301", accession="A3")
    server.upload(*files)
    pacs = Modality("pacs", server.aet, "127.0.0.1", server.dicom_port)
    node = with_modalities(node, pacs)
    return node, server


async def wait_for(pilot, condition, timeout: float = 30) -> None:
    """Until ``condition()`` holds; a remote that is another process may be slow to
    start answering on a loaded machine, hence the generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await settle(pilot)
        if condition():
            return
        await pilot.pause(0.25)
    workers = [f"{worker.name}: {worker.state.name}" for worker in pilot.app.workers]
    raise AssertionError(f"the app did not get there in {timeout} s (workers: {workers}):\n"
                         + screen_text(pilot.app))


async def test_query_drill_down_and_move_here(pacs_setup):
    settings, server = pacs_setup
    app = PacsApp(settings, listen=True, clock=lambda: TODAY)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_query(pilot)
        assert screen.target.name == "pacs"
        await pilot.press("slash", *"doe", "enter")
        await wait_for(pilot, lambda: "2 studies from pacs" in screen_text(app))
        rows = screen.table.loaded_rows()
        assert sorted(r["AccessionNumber"] for r in rows) == ["A1", "A3"]
        screen.sort_by("StudyDate", descending=True)
        await settle(pilot)
        await pilot.press("enter")  # the series of A1, on the remote
        await wait_for(pilot, lambda: isinstance(app.screen, RemoteSeriesScreen)
                       and len(app.screen.results.rows) == 2)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("m")  # C-MOVE the whole study here
        await wait_for(pilot, lambda: not app.transfers.running
                       and any("C-MOVE" in str(n.message) for n in app._notifications))
        note = next(str(n.message) for n in app._notifications if "C-MOVE" in str(n.message))
        assert "6 instances" in note
        await wait_for(pilot, lambda: screen.table.loaded_rows()[0].get("_held") == 6)
        assert "6/6" in screen_text(app)
        await pilot.press("1")
        await wait_for(pilot, lambda: len(app.screen.table.loaded_rows()) == 1)
        assert app.screen.table.loaded_rows()[0]["AccessionNumber"] == "A1"
        await pilot.press("4")
        await settle(pilot)
        services = column(app, "Service")
        assert "C-MOVE" in services and services.count("C-STORE") == 1  # one association
        assert "6 instances" in column(app, "Counts")[services.index("C-STORE")]


async def test_enter_asks_the_remote_and_another_level_clears_the_results(pacs_setup):
    settings, server = pacs_setup
    app = PacsApp(settings, clock=lambda: TODAY)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert "press enter" in screen_text(app)
        await pilot.press("enter")  # the results table has the focus, and no rows
        await wait_for(pilot, lambda: "3 studies from pacs" in screen_text(app))
        await pilot.press("enter")  # now a row: its series, on the remote
        await wait_for(pilot, lambda: isinstance(app.screen, RemoteSeriesScreen))
        await pilot.press("escape")
        await settle(pilot)
        query = app.screen
        assert isinstance(query, QueryScreen)
        await pilot.press("l")  # studies shown, patients chosen: nothing to act on
        await settle(pilot)
        assert query.results.rows == [] and "Level changed" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "2 patients from pacs" in screen_text(app))
        assert sorted(row["PatientID"] for row in query.table.loaded_rows()) == ["PAT1",
                                                                                 "PAT2"]


async def test_patient_level_then_get_a_series(pacs_setup):
    settings, server = pacs_setup
    app = PacsApp(settings, listen=True, clock=lambda: TODAY)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2", "escape", "l")
        await settle(pilot)
        screen = app.screen
        await pilot.press("f5")
        await wait_for(pilot, lambda: "2 patients" in screen_text(app))
        rows = screen.table.loaded_rows()
        screen.table.cursor_row = next(n for n, r in enumerate(rows) if r["PatientID"] == "PAT2")
        await pilot.press("enter")  # the patient's studies
        await wait_for(pilot, lambda: "1 study from pacs" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RemoteSeriesScreen)
                       and len(app.screen.results.rows) == 1)
        await pilot.press("g")  # C-GET the series
        await wait_for(pilot, lambda: not app.transfers.running
                       and any("C-GET" in str(n.message) for n in app._notifications))
        note = next(n for n in app._notifications if "C-GET" in str(n.message))
        assert note.title == "Transfer done"
        assert str(note.message).startswith("C-GET series 1 ")
        totals = await app.backend.archive.index.totals()
        assert totals["instances"] == 2
        await app.backend.status.refresh()
        app.show_status()  # what C-GET brought counts in the status line as the node's does
        assert app.status.today.instances == 2 and app.status.today.bytes > 2 * 1000


async def test_query_failure_is_explained(settings):
    closed = Modality("gone", "GONE", "127.0.0.1", free_port())
    app = PacsApp(with_modalities(settings, closed), listen=False, clock=lambda: TODAY)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2", "slash", "enter")
        await wait_for(pilot, lambda: "refused" in screen_text(app).lower())


async def test_send_a_study_from_the_browser(pacs_setup, tmp_path):
    settings, server = pacs_setup
    app = PacsApp(settings, listen=True, clock=lambda: TODAY)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        files = write_study(tmp_path / "local", study=8, series=1, instances=4,
                            patient_id="PAT8", patient_name="SEND^ME", study_date="20240110")
        await app.backend.archive.store_files(files)
        await pilot.pause(0.7)
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert "Send study SEND^ME" in screen_text(app)
        await pilot.press("enter")  # the only modality: pacs
        await wait_for(pilot, lambda: not app.transfers.running
                       and any("C-STORE" in str(n.message) for n in app._notifications))
        note = next(str(n.message) for n in app._notifications if "C-STORE" in str(n.message))
        assert "4 of 4 instances sent" in note
    assert server.instance_count() == 6 + 2 + 1 + 4
