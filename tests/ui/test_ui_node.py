"""The node inside the app: instances arriving over the network, the status bar, activity."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess

import pytest

from tests.dicom_factory import write_study
from tests.ui.conftest import column, listening, make_app, screen_text, settle, until
from tui_pacs.config import AccessConfig
from tui_pacs.store.layout import RUNNING_MARKER
from tui_pacs.ui.dialogs.report import ReportDialog


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
        await until(pilot, lambda: "5 studies" in screen_text(app))
        await settle(pilot)
        rows = app.screen.table.loaded_rows()
        assert rows[0]["PatientName"] == "LIVE^ARRIVAL"
        assert "KB today" in screen_text(app)
        notes = [str(n.message) for n in app._notifications]
        assert any("Received 5 instances from CT3 (127.0.0.1)" in n for n in notes), notes
        await pilot.press("4")
        await until(pilot, lambda: "released" in column(app, "Status"))
        rows = app.screen.table.loaded_rows()
        [store] = [r for r in rows if r["Kind"] == "network"]  # one row for the association
        assert (store["Service"], store["Status"], store["AETs"]) == (
            "C-STORE", "released", "CT3→TUIPACS")
        assert store["Counts"].startswith("5 instances, ") and store["Peer"].startswith("127.")
        at = rows.index(store)
        app.screen.table.cursor_row = at
        await pilot.press("o")  # unfold it: accepted, the stores, released
        await settle(pilot)
        assert column(app, "Service")[at:at + 4] == ["C-STORE", "assoc", "C-STORE", "assoc"]
        assert column(app, "Counts")[at + 2].startswith("5 instances, ")
        await pilot.press("f")  # network only
        await settle(pilot)
        assert all(r["Kind"] == "network" for r in app.screen.table.loaded_rows())


@pytest.mark.interop
async def test_a_refused_association_explains_itself_in_full(seeded):
    settings = dataclasses.replace(listening(seeded),
                                   access=AccessConfig(check_called_aet=True))
    app = make_app(settings, listen=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await asyncio.to_thread(subprocess.run, ["echoscu", "-aet", "CT3", "-aec", "ELSEWHERE",
                                                 "127.0.0.1", str(settings.node.port)],
                                timeout=60, capture_output=True)
        await until(pilot, lambda: "rejected" in column(app, "Status"))
        app.screen.table.cursor_row = column(app, "Status").index("rejected")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportDialog)
        text = "\n".join(str(line) for line in app.screen.lines)
        assert ("called 'ELSEWHERE', this node is 'TUIPACS' (access.check_called_aet is on)"
                in text)


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
