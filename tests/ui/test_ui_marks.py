"""Many at once: space marks rows in Local and in query results, and delete, send
and retrieve act on the marked ones. The outcomes are read where they land: the
archive after a delete or a retrieve, a real Orthanc after a send."""

from __future__ import annotations

import pytest

from tests.ui.conftest import TODAY, make_app, screen_text, settle, with_modalities
from tests.ui.test_ui_identifiers import identifier_line
from tests.ui.test_ui_query import pacs_setup, wait_for  # noqa: F401 (a fixture)
from tui_pacs.config import Modality
from tui_pacs.core.model import Level
from tui_pacs.ui.app import PacsApp


async def archived(app, key: str) -> set[str]:
    return {row[key] for row in await app.backend.archive.index.query(Level.STUDY)}


def two_transfers_done(app) -> bool:
    """Two transfers started and finished (the counter goes up at both)."""
    return app.transfers_started == 4 and not app.transfers.running


async def test_delete_two_marked_studies_asks_once(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space")  # ACC001 and ACC003, the two newest
        await settle(pilot)
        assert identifier_line(app).startswith("2 marked")
        await pilot.press("space")  # and ACC002, then unmarked again
        await pilot.press("up", "space")
        await settle(pilot)
        assert identifier_line(app).startswith("2 marked")
        await pilot.press("d")
        await settle(pilot)
        assert "Delete 2 studies?" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: len(app.screen.table.loaded_rows()) == 2)
        assert await archived(app, "AccessionNumber") == {"ACC002", "ACC004"}
        assert "marked" not in identifier_line(app)
        assert any("Deleted 2 studies: 12 instances" in str(n.message)
                   for n in app._notifications)


@pytest.mark.interop
async def test_send_marked_studies_to_orthanc(seeded, orthanc_factory):
    server = orthanc_factory()
    settings = with_modalities(seeded, Modality("pacs", server.aet, "127.0.0.1",
                                                server.dicom_port))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "down", "space")  # ACC001 and ACC002
        await pilot.press("s")
        await settle(pilot)
        assert "Send 2 studies to" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: two_transfers_done(app))
    received = {server.get(f"/studies/{study}")["MainDicomTags"]["AccessionNumber"]
                for study in server.get("/studies")}
    assert received == {"ACC001", "ACC002"}
    assert server.instance_count() == 12


@pytest.mark.interop
async def test_retrieve_two_marked_query_results(pacs_setup):  # noqa: F811
    settings, server = pacs_setup
    app = PacsApp(settings, listen=True, clock=lambda: TODAY)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2", "escape", "f5")
        await wait_for(pilot, lambda: "3 studies from pacs" in screen_text(app))
        screen = app.screen
        screen.sort_by("AccessionNumber")
        await settle(pilot)
        await pilot.press("space", "down", "space")  # A1 and A3
        await settle(pilot)
        assert identifier_line(app).startswith("2 marked")
        await pilot.press("m")
        await wait_for(pilot, lambda: two_transfers_done(app))
        assert await archived(app, "AccessionNumber") == {"A1", "A3"}
        assert "marked" not in identifier_line(app)


