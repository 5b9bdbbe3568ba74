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
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydicom import dcmread
from textual.widgets import Button

from tests.conftest import cli_env, free_port
from tests.dicom_factory import write_study
from tests.server.helpers import indexed
from tests.server.programs import compiled_program
from tests.ui.conftest import listening, make_app, screen_text, settle
from tests.ui.test_ui_cli import read_until, spawn, wait_exit
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


def archived(data) -> set[str]:
    """The SOP Instance UIDs of what storescu sent that the archive indexed."""
    return {uid for (uid,) in indexed(data, "SELECT sop_uid FROM instances "
                                            "WHERE source_aet = 'SENDER'")}


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
    # Usually the quit cuts the transfer short; on a fast run storescu may have
    # finished first. Either way the archive holds exactly what was acknowledged.
    acknowledged = result.stderr.count("Received Store Response (Success)")
    assert 20 <= acknowledged <= FILES
    sent_uids = [str(dcmread(f, stop_before_pixels=True).SOPInstanceUID)
                 for f in many_files[:acknowledged]]
    assert archived(settings.node.data) == set(sent_uids)
    for uid in sent_uids:
        [(path,)] = indexed(settings.node.data, "SELECT path FROM instances WHERE sop_uid = ?",
                            uid)
        assert (settings.node.data / path).is_file()
    assert not (settings.node.data / RUNNING_MARKER).exists()  # the archive closed cleanly
    with socket.socket() as probe:  # the node no longer listens
        assert probe.connect_ex(("127.0.0.1", settings.node.port)) != 0


def test_quit_in_the_installed_app_while_receiving(many_files, tmp_path):
    """At 80x24 in a real terminal: ctrl+q asks, y stops the node without losing an
    acknowledged file, and the app exits 0."""
    data = tmp_path / "data"
    port = free_port()
    env = {**cli_env(), "TERM": "xterm-256color", "TUI_PACS_CONFIG": str(tmp_path / "c.toml")}
    pid, fd = spawn(["--data", str(data), "--port", str(port), "--bind", "127.0.0.1"], env)
    try:
        read_until(fd, f":{port}".encode())
        with ThreadPoolExecutor(1) as pool:
            sender = pool.submit(send, port, many_files)
            read_until(fd, b"1 assoc")
            os.write(fd, b"\x11")  # ctrl+q
            read_until(fd, b"Quit tui-pacs?")
            os.write(fd, b"y")
            assert wait_exit(pid, fd) == 0
            result = sender.result()
    finally:
        os.close(fd)
    acknowledged = result.stderr.count("Received Store Response (Success)")
    assert 0 < acknowledged <= FILES
    sent = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID)
            for f in many_files[:acknowledged]}
    assert archived(data) == sent
    assert not (data / RUNNING_MARKER).exists()
