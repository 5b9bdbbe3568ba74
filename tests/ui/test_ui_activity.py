"""The activity log keeps its history through a big ingest: one row per association
storing here, counted up in place, and no repeat of the node's own log lines."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.ui.activity import KEEP_ROWS, NODE_LOGGER, ActivityLog

START = datetime(2024, 1, 15, 9, 30)


def association(kind: str, peer: str = "10.0.0.7:50001") -> AssociationEvent:
    return AssociationEvent(START, peer, "CT3", "TUIPACS", kind)


def stored(number: int, status: int = 0, peer: str = "10.0.0.7:50001") -> OperationEvent:
    return OperationEvent(START + timedelta(seconds=number), peer, "CT3", "TUIPACS",
                          "C-STORE", status, 0.01, {"instances": 1, "bytes": 1024})


def test_a_big_ingest_does_not_push_older_history_out():
    log = ActivityLog()
    log.add_log(START, logging.WARNING, "tui_pacs.store", "disk nearly full")
    log.add_event(association("accepted"))
    for number in range(2700):
        log.add_event(stored(number))
        log.add_log(START, logging.INFO, NODE_LOGGER, f"C-STORE ok #{number}")
    notice = log.add_event(association("released"))

    rows = log.rows.rows
    assert rows[0]["Detail"] == "disk nearly full"
    assert [row["Service"] for row in rows] == ["WARNING", "assoc", "C-STORE", "assoc"]
    store = rows[2]
    assert store["Counts"] == "2,700 instances, 2.6 MB"
    assert store["Status"] == "ok" and store["Duration"] == "27.0 s"
    assert store["Time"] == START + timedelta(seconds=2699)
    assert notice.message.startswith("Received 2,700 instances from CT3")
    assert KEEP_ROWS >= 20_000


def test_a_failed_store_keeps_its_own_row_and_a_new_association_a_new_row():
    log = ActivityLog()
    for event in (association("accepted"), stored(1), stored(2, status=0xA700),
                        stored(3, status=0xB000), association("released"),
                        association("accepted"), stored(4)):
        log.add_event(event)
    services = [(row["Service"], row["Counts"], row["Status"]) for row in log.rows.rows]
    assert services == [
        ("assoc", "", "accepted"),
        ("C-STORE", "2 instances, 2.0 KB", "warn B000"),
        ("C-STORE", "1.0 KB", "fail A700"),
        ("assoc", "", "released"),
        ("assoc", "", "accepted"),
        ("C-STORE", "1 instance, 1.0 KB", "ok"),
    ]
