"""The app's top line and `tui-pacs status` read one report: the same figures."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os

import pytest

from tests.conftest import run_cli
from tests.dicom_factory import write_study
from tests.ui.conftest import listening, make_app, screen_text, settle, until
from tests.ui.test_ui_node import storescu
from tui_pacs.config import StorageConfig
from tui_pacs.core.node_report import StatusReport
from tui_pacs.core.readable import byte_size


@pytest.mark.interop
async def test_the_status_line_shows_what_tui_pacs_status_says(seeded, tmp_path):
    settings = listening(seeded)
    app = make_app(settings, listen=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        files = write_study(tmp_path / "send", study=77, series=1, instances=5,
                            patient_id="LIVE1", patient_name="LIVE^ARRIVAL")
        await asyncio.to_thread(storescu, settings.node.port, files)
        await until(pilot, lambda: app.status is not None and app.status.archive is not None
                    and app.status.archive.studies == 5)
        # The app's node answers on its status socket, as `tui-pacs serve` does.
        result = await asyncio.to_thread(run_cli, "status", "--data", settings.node.data,
                                         "--json", timeout=60)
        assert result.returncode == 0, result.stderr
        asked = StatusReport.from_json(json.loads(result.stdout))
        app.show_status()
        shown = app.status
        assert (asked.archive, asked.today) == (shown.archive, shown.today)
        assert asked.archive.instances == 24 + 5  # seeded, then sent
        assert asked.listening == shown.listening and asked.pid == shown.pid == os.getpid()
        assert asked.associations_since_start == shown.associations_since_start == 1
        await settle(pilot)
        line = screen_text(app).splitlines()[0]
        assert f"● :{settings.node.port}" in line and "5 studies" in line
        assert f"{byte_size(asked.today.bytes)} today" in line


async def test_problems_show_on_the_top_line(seeded):
    settings = dataclasses.replace(seeded, storage=StorageConfig(min_free_mb=10_000_000))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.show_status()
        assert app.status.attention[0].startswith("disk: ")
        await settle(pilot)
        top = screen_text(app).splitlines()[0]
        # Kept with the node's state, before the details that give way at 80 columns.
        assert top.startswith(" TUIPACS  ○ not listening  ! 1 problem ")
        assert top.rstrip().endswith("4Activity")
