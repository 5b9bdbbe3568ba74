"""Quitting while a peer sends: the app asks first, and a confirmed quit cuts nothing.

DCMTK storescu sends many files to the node in the app; the test quits
while they arrive, then checks the outcome: every file storescu saw
acknowledged is in the archive, and the archive holds nothing else.

storescu may still report a broken pipe, on the request after the last
acknowledged one: the node ends the association between operations with an
A-ABORT, as SIGTERM does for ``tui-pacs serve`` (DICOM lets only the
requestor release), while storescu is already writing its next request.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import pytest
from pydicom import dcmread
from textual.widgets import Button

from tests.dicom_factory import write_study
from tests.server.helpers import indexed
from tests.server.programs import compiled_program
from tests.ui.conftest import listening, make_app, screen_text, settle
from tui_pacs.store.layout import RUNNING_MARKER
from tui_pacs.ui.quitting import QuitDialog

pytestmark = pytest.mark.interop

STORESCU = compiled_program("storescu")
FILES = 600


def send(port: int, files) -> subprocess.CompletedProcess[str]:
    """storescu -v: one "Received Store Response" line per acknowledged file, in order."""
    return subprocess.run([STORESCU, "-v", "-aet", "SENDER", "-aec", "TUIPACS", "127.0.0.1",
                           str(port), *map(str, files)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TCP_NODELAY": "1"})


@pytest.fixture
def many_files(tmp_path):
    if STORESCU is None:
        pytest.skip("DCMTK storescu is not installed")
    return write_study(tmp_path / "send", study=90, series=1, instances=FILES,
                       patient_id="BULK", patient_name="BULK^SEND")


async def started_sending(app, files, count: int = 20):
    """storescu running in a thread, once the archive holds ``count`` of its files."""
    stored = 0
    enough = asyncio.Event()

    def on_stored(result) -> None:
        nonlocal stored
        stored += 1
        if stored >= count:
            enough.set()

    app.backend.archive.add_listener(on_stored)
    sender = asyncio.create_task(asyncio.to_thread(send, app.settings.node.port, files))
    await asyncio.wait([sender, asyncio.ensure_future(enough.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    assert not sender.done(), "storescu finished before the test could quit"
    return sender


async def test_quit_while_receiving_asks_and_stay_keeps_receiving(seeded, many_files):
    app = make_app(listening(seeded), listen=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        sender = await started_sending(app, many_files)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, QuitDialog)
        assert "association with SENDER at 127.0.0.1" in screen_text(app)
        assert app.focused is app.screen.query_one("#no", Button)  # the safe answer
        await pilot.press("enter")
        await pilot.pause()
        result = await sender
        assert result.returncode == 0, result.stderr
        assert app.is_running
    [(count,)] = indexed(seeded.node.data, "SELECT COUNT(*) FROM instances WHERE "
                                           "source_aet = 'SENDER'")
    assert count == FILES


async def test_confirmed_quit_finishes_what_was_acknowledged(seeded, many_files):
    settings = listening(seeded)
    app = make_app(settings, listen=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        sender = await started_sending(app, many_files)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        result = await sender
        await app.workers.wait_for_complete()
    acknowledged = result.stderr.count("Received Store Response (Success)")
    assert 20 <= acknowledged < FILES
    sent_uids = [str(dcmread(f, stop_before_pixels=True).SOPInstanceUID)
                 for f in many_files[:acknowledged]]
    archived = {uid for (uid,) in indexed(settings.node.data, "SELECT sop_uid FROM instances "
                                                              "WHERE source_aet = 'SENDER'")}
    assert archived == set(sent_uids)
    for uid in sent_uids:
        [(path,)] = indexed(settings.node.data, "SELECT path FROM instances WHERE sop_uid = ?",
                            uid)
        assert (settings.node.data / path).is_file()
    assert not (settings.node.data / RUNNING_MARKER).exists()  # the archive closed cleanly
    with socket.socket() as probe:  # the node no longer listens
        assert probe.connect_ex(("127.0.0.1", settings.node.port)) != 0
