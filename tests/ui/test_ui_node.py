"""The node inside the app: instances arriving over the network, the status bar, activity."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from tests.dicom_factory import write_study
from tests.ui.conftest import listening, make_app, screen_text, settle
from tui_pacs.store.layout import RUNNING_MARKER


def storescu(port: int, files, aet: str = "TUIPACS") -> None:
    env = {**os.environ, "TCP_NODELAY": "1"}
    subprocess.run(["storescu", "-aet", "CT3", "-aec", aet, "127.0.0.1", str(port),
                    *map(str, files)], check=True, timeout=60, env=env,
                   capture_output=True)


@pytest.mark.interop
async def test_instances_sent_by_dcmtk_appear_and_are_logged(seeded, tmp_path):
    settings = listening(seeded)
    app = make_app(settings, listen=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert f"● :{settings.node.port}" in screen_text(app)
        files = write_study(tmp_path / "send", study=77, series=1, instances=5,
                            patient_id="LIVE1", patient_name="LIVE^ARRIVAL",
                            study_date="20240120")
        await asyncio.to_thread(storescu, settings.node.port, files)
        await pilot.pause(0.8)
        await settle(pilot)
        rows = app.screen.table.loaded_rows()
        assert rows[0]["PatientName"] == "LIVE^ARRIVAL"
        assert "5 studies" in screen_text(app)
        assert "KB in" in screen_text(app)
        notes = [str(n.message) for n in app._notifications]
        assert any("Received 5 instances from CT3 (127.0.0.1)" in n for n in notes), notes
        await pilot.press("4")
        await settle(pilot)
        rows = app.screen.table.loaded_rows()
        [store] = [r for r in rows if r["Service"] == "C-STORE"]  # one per association
        assert store["Status"] == "ok" and store["Counts"].startswith("5 instances, ")
        assert rows[0]["Service"] in ("assoc", "INFO", "notice")
        await pilot.press("f")  # network only
        await settle(pilot)
        assert all(r["Kind"] == "network" for r in app.screen.table.loaded_rows())
        await pilot.press("slash", *"released")
        await settle(pilot)
        [released] = app.screen.table.loaded_rows()
        assert released["AETs"] == "CT3→TUIPACS"


async def test_port_taken_is_shown_not_fatal(seeded):
    import socket

    settings = listening(seeded)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.node.port))
        taken.listen()
        app = make_app(settings, listen=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            text = screen_text(app)
            assert "✗" in text and str(settings.node.port) in text
            assert len(app.screen.table.loaded_rows()) == 4


async def test_quitting_stops_the_node(seeded):
    import socket

    settings = listening(seeded)
    app = make_app(settings, listen=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
    with socket.socket() as again:
        again.bind(("127.0.0.1", settings.node.port))  # free again
    assert not (settings.node.data / RUNNING_MARKER).exists()
