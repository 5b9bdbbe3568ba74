"""What the app tells: notification titles that say how a transfer ended, every
notification kept whole in Activity, and empty lists that say a filter hides rows."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelMove
from textual.worker import WorkerCancelled

from tests.ui.conftest import screen_text, settle, with_modalities
from tui_pacs.config import Modality
from tui_pacs.core.model import Level
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.screens.activity import ActivityScreen


def titles(app: PacsApp) -> list[str]:
    return [n.title for n in app._notifications]


@pytest.fixture
def stalling_remote():
    """A pynetdicom SCP whose C-MOVE announces 100 instances, then sends none until
    released: a retrieve that stays in flight until the test cancels it."""
    asked, release = threading.Event(), threading.Event()
    sink = AE(ae_title="SINK")
    sink.add_supported_context(CTImageStorage)
    sink_server = sink.start_server(("127.0.0.1", 0), block=False)

    def handle_move(event):
        yield "127.0.0.1", sink_server.server_address[1]
        yield 100
        asked.set()
        while not event.is_cancelled and not release.wait(0.05):
            pass
        yield 0xFE00, None  # cancelled, no instance sent

    ae = AE(ae_title="STALLER")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
    ae.add_requested_context(CTImageStorage)
    server = ae.start_server(("127.0.0.1", 0), block=False,
                             evt_handlers=[(evt.EVT_C_MOVE, handle_move)])
    try:
        yield Modality("staller", "STALLER", "127.0.0.1", server.server_address[1]), asked
    finally:
        release.set()
        server.shutdown()
        sink_server.shutdown()


async def test_a_cancelled_retrieve_says_cancelled(seeded, stalling_remote):
    remote, asked = stalling_remote
    app = PacsApp(with_modalities(seeded, remote), listen=False,
                  clock=lambda: datetime(2024, 1, 15, 9, 30))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        target = app.backend.client.target("staller")
        app.start_retrieve(target, "C-MOVE", Level.STUDY, {"StudyInstanceUID": "1.2.3"},
                           "study X")
        assert await asyncio.to_thread(asked.wait, 30)
        transfer = next(w for w in app.workers if w.group == "transfers")
        await pilot.press("ctrl+x")
        with pytest.raises(WorkerCancelled):
            await transfer.wait()
        for thread in threading.enumerate():  # the C-MOVE ends with the remote's answer
            if thread.name == "tui-pacs move":
                await asyncio.to_thread(thread.join, 30)
        await settle(pilot)
        assert titles(app) == ["Transfer cancelled"]
        assert not app.transfers.running
        assert (await app.backend.archive.index.totals())["instances"] == 4 * 6


async def test_every_notification_is_kept_whole_in_activity(seeded):
    app = PacsApp(seeded, listen=False, clock=lambda: datetime(2024, 1, 15, 9, 30))
    long_text = "The remote refused the association. " + "Its log says why. " * 12 + "END"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.notify(long_text, title="Transfer failed", severity="error")
        await pilot.press("4")
        await pilot.pause(0.3)
        await settle(pilot)
        assert isinstance(app.screen, ActivityScreen)
        rows = [r for r in app.screen.table.loaded_rows() if r["Kind"] == "notice"]
        assert [(r["AETs"], r["Detail"]) for r in rows] == [("Transfer failed", long_text)]
        app.screen.table.cursor_row = app.screen.table.loaded_rows().index(rows[0])
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportDialog)
        assert "".join(line.plain for line in app.screen.lines).endswith("END")


async def test_empty_lists_say_the_filter_hides_rows(seeded):
    app = PacsApp(seeded, listen=False, clock=lambda: datetime(2030, 6, 1, 9, 0))
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify("Started.")
        await settle(pilot)
        await pilot.press("D")  # today: no study of the archive's four
        await settle(pilot)
        assert app.screen.table.row_count == 0
        assert "No study matches the filter (today)" in screen_text(app)
        assert "Import files" not in screen_text(app)

        await pilot.press("4", "slash", *"no such peer")
        await settle(pilot)
        assert app.screen.table.row_count == 0 and app.activity.rows.rows
        assert "Nothing matches the filter" in screen_text(app)
        assert "Nothing yet" not in screen_text(app)


async def test_a_bad_date_is_explained_whole(seeded):
    app = PacsApp(seeded, listen=False, clock=lambda: datetime(2024, 1, 15, 9, 30))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "tab", "tab", *"soon", "enter")
        await settle(pilot)
        text = " ".join(screen_text(app).split())
        assert "date 'soon': use today, yesterday, 7d, 20240115, " \
               "2024-01-01..2024-01-31 or 20240101-" in text
