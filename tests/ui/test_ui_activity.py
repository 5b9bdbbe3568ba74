"""The activity log: one row per association, keyed by the association's number,
its operations under it, and no repeat of the node's own log lines."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.ui.activity import KEEP_ROWS, NODE_LOGGER, ActivityLog, UnfoldedRows

START = datetime(2024, 1, 15, 9, 30)


def association(kind: str, number: int = 1, peer: str = "10.0.0.7:50001") -> AssociationEvent:
    return AssociationEvent(START, peer, "CT3", "TUIPACS", kind, "", 1.5, association=number)


def stored(n: int, status: int = 0, number: int = 1, detail: str = "") -> OperationEvent:
    return OperationEvent(START + timedelta(seconds=n), "10.0.0.7:50001", "CT3", "TUIPACS",
                          "C-STORE", status, 0.01, {"instances": 1, "bytes": 1024}, detail,
                          association=number)


def test_a_big_ingest_is_one_row_and_does_not_push_older_history_out():
    log = ActivityLog()
    log.add_log(START, logging.WARNING, "tui_pacs.store", "disk nearly full")
    log.add_event(association("accepted"))
    for n in range(2700):
        log.add_event(stored(n))
        log.add_log(START, logging.INFO, NODE_LOGGER, f"C-STORE ok #{n}")
    notice = log.add_event(association("released"))

    rows = log.rows.rows
    assert [row["Service"] for row in rows] == ["WARNING", "C-STORE"]
    row = rows[1]
    assert row["Counts"] == "2,700 instances, 2.6 MB"
    assert (row["Status"], row["Duration"], row["AETs"]) == ("released", "1.5 s", "CT3→TUIPACS")
    operations = [(line["Service"], line["Counts"]) for line in row["Operations"]]
    assert operations == [("assoc", ""), ("C-STORE", "2,700 instances, 2.6 MB"), ("assoc", "")]
    assert notice.message.startswith("Received 2,700 instances from CT3")
    assert KEEP_ROWS >= 20_000


def test_two_associations_from_the_same_peer_and_title_keep_their_own_rows():
    log = ActivityLog()
    for event in (association("accepted", 1), association("accepted", 2), stored(1, number=1),
                  stored(2, status=0xA700, number=2, detail="out of disk space"),
                  association("released", 1), association("released", 2)):
        log.add_event(event)
    first, second = log.rows.rows
    assert (first["Counts"], first["Status"], first["Severity"]) == (
        "1 instance, 1.0 KB", "released", "success")
    assert (second["Counts"], second["Severity"]) == ("1 failed", "error")
    assert second["Detail"] == "C-STORE fail A700: out of disk space"


def test_log_lines_of_an_association_thread_join_its_row():
    log = ActivityLog()
    log.add_event(association("accepted", 7))
    log.add_log(START, logging.ERROR, "pynetdicom.dul", "Invalid PDU received", association=7)
    log.add_event(association("aborted", 7))
    (row,) = log.rows.rows
    assert row["Detail"] == "Invalid PDU received" and row["Severity"] == "error"
    assert "Invalid PDU received" in [line["Detail"] for line in row["Operations"]]


async def test_an_unfolded_association_lists_its_operations_under_it():
    log = ActivityLog()
    for event in (association("accepted"), stored(1), association("released")):
        log.add_event(event)
    log.add_notice(START, "Hello", "a notice", "information")
    log.rows.set_order(None, descending=True)
    listed = UnfoldedRows(log.rows)
    assert [row["Service"] for row in await listed.fetch(0, 10)] == ["notice", "C-STORE"]
    listed.unfolded.add(log.rows.rows[0]["Seq"])
    assert [row["Service"] for row in await listed.fetch(0, 10)] == [
        "notice", "C-STORE", "assoc", "C-STORE", "assoc"]
