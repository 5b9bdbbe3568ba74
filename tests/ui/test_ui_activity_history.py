"""Activity outlives the app: rows kept in the data directory, read back at start,
pruned by age and size, and a broken last line skipped."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta

from tests.ui.conftest import TODAY, column, make_app, settle, until
from tui_pacs.config import ActivityConfig
from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.ui.activity_history import FILE_NAME, MB, ActivityHistory


def failed_transfer(app) -> None:
    """Last night: a modality's association whose store failed, with pynetdicom's line."""
    night = TODAY - timedelta(hours=10)
    app.activity.add_event(AssociationEvent(night, "10.0.3.3", "CT3", "TUIPACS", "accepted",
                                            association=41))
    app.activity.add_event(OperationEvent(night, "10.0.3.3", "CT3", "TUIPACS", "C-STORE",
                                          0xA700, 0.003, {}, "1.2.3.9: out of disk space",
                                          association=41))
    app.activity.add_log(night, logging.ERROR, "pynetdicom.dul", "DIMSE timeout \x1b[2J",
                         association=41)
    app.activity.add_event(AssociationEvent(night, "10.0.3.3", "CT3", "TUIPACS", "aborted",
                                            "1 operation, 1 failed", 3.0, association=41))


async def test_last_nights_failed_transfer_is_there_after_a_restart(settings):
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        failed_transfer(app)
        app.notify("Before the restart.")
    again = make_app(settings)
    async with again.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await until(pilot, lambda: "aborted" in column(again, "Status"))
        [row] = [r for r in again.activity.rows.rows if r["Status"] == "aborted"]
        assert row["Detail"] == "C-STORE fail A700: 1.2.3.9: out of disk space"
        assert (row["Severity"], row["AETs"]) == ("error", "CT3→TUIPACS")
        assert "DIMSE timeout \x1b[2J" in [line["Detail"] for line in row["Operations"]]
        assert "Before the restart." in column(again, "Detail")
        again.screen.table.cursor_row = column(again, "Status").index("aborted")
        await pilot.press("enter")
        await settle(pilot)
        text = "\n".join(str(line) for line in again.screen.lines)
        assert "out of disk space" in text and "DIMSE timeout" in text
        assert "\x1b" not in text  # shown through the sanitiser


async def test_old_rows_are_pruned_and_a_broken_last_line_skipped(settings):
    settings = dataclasses.replace(settings, activity=ActivityConfig(keep_days=7))
    path = settings.node.data / FILE_NAME
    path.parent.mkdir(parents=True)
    old = {"Time": (TODAY - timedelta(days=8)).isoformat(), "Kind": "notice",
           "Detail": "eight days ago"}
    recent = {"Time": (TODAY - timedelta(days=6)).isoformat(), "Kind": "notice",
              "Detail": "six days ago"}
    path.write_text(f"{json.dumps(old)}\n{json.dumps(recent)}\n{{\"Time\": \"2024-01")
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        details = [row["Detail"] for row in app.activity.rows.rows]
        assert "six days ago" in details and "eight days ago" not in details
    assert "eight days ago" not in path.read_text()


def test_the_file_stays_within_its_size(tmp_path):
    path = tmp_path / FILE_NAME
    history = ActivityHistory(path, keep_days=7, max_bytes=MB // 100, clock=lambda: TODAY)
    for number in range(400):
        history.add({"Time": TODAY, "Kind": "log", "Detail": f"line {number} " + "x" * 80})
    history.close()
    assert path.stat().st_size <= MB // 100
    kept = ActivityHistory(path, 7, MB // 100, clock=lambda: TODAY).load()
    assert kept[-1]["Detail"].startswith("line 399 ") and len(kept) < 400
