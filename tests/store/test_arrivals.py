"""The writer waits for the associations due to send, and for no other:
their instances share a commit, and a lone association never waits."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading

from tests.dicom_factory import make_dataset, write_instance
from tui_pacs.store import ingest
from tui_pacs.store.arrivals import FORGET_AFTER, Arrivals
from tui_pacs.store.layout import instance_relpath
from tui_pacs.store.writer import IndexWriter, StagedInstance

MS = 0.001


def steady(arrivals: Arrivals, sender: str, start: float, gap: float, count: int = 4) -> float:
    """``count`` instances from ``sender``, ``gap`` apart; when the last came."""
    for n in range(count):
        arrivals.came(sender, start + n * gap)
    return start + (count - 1) * gap


def test_a_sender_due_before_the_deadline_is_waited_for_until_late_by_its_gap():
    arrivals = Arrivals()
    last = steady(arrivals, "a", 0.0, 2 * MS)
    now = last + 1 * MS
    # Due at last + 2 ms; late once a further gap has passed, at last + 4 ms.
    assert arrivals.wait_until(now, now + 5 * MS, present=[]) == last + 4 * MS
    # At most until the deadline.
    assert arrivals.wait_until(now, now + 2 * MS, present=[]) == now + 2 * MS


def test_a_lone_sender_is_never_waited_for():
    arrivals = Arrivals()
    last = steady(arrivals, "a", 0.0, 2 * MS)
    # Its instance is the group's: nobody else is due.
    assert arrivals.wait_until(last, last + 5 * MS, present=["a"]) == last


def test_senders_due_after_the_deadline_or_long_late_are_not_waited_for():
    arrivals = Arrivals()
    slow = steady(arrivals, "slow", 0.0, 20 * MS)
    assert arrivals.wait_until(slow + 1 * MS, slow + 6 * MS, present=[]) == slow + 1 * MS
    # Due 2 ms after its last, and now 5 ms after it: it stopped, or paused.
    arrivals = Arrivals()
    last = steady(arrivals, "a", 0.0, 2 * MS)
    assert arrivals.wait_until(last + 5 * MS, last + 10 * MS, present=[]) == last + 5 * MS


def test_a_sender_with_one_instance_has_no_pace_yet_and_silent_ones_are_forgotten():
    arrivals = Arrivals()
    arrivals.came("a", 0.0)
    assert arrivals.wait_until(0.001, 0.006, present=[]) == 0.001
    steady(arrivals, "b", 0.0, 2 * MS)
    arrivals.forget_silent(FORGET_AFTER + 1.0)
    assert arrivals.wait_until(FORGET_AFTER + 1.0, FORGET_AFTER + 1.005, present=[]) == \
        FORGET_AFTER + 1.0
    arrivals.came("b", FORGET_AFTER + 1.0)  # back, but its pace starts over
    assert arrivals.wait_until(FORGET_AFTER + 1.001, FORGET_AFTER + 1.006, present=[]) == \
        FORGET_AFTER + 1.001


def test_associations_sending_at_once_share_commits(tmp_path):
    """Four associations, each sending its next instance once the last is
    committed (as a peer waits for each response): once their pace is
    known, the writer commits them together instead of one or two at a time.
    Each group's rows share one ``received_at``."""
    (tmp_path / "tmp").mkdir()
    template = ingest.read_record(write_instance(tmp_path / "x.dcm", make_dataset()))
    writer = IndexWriter(tmp_path / "index.sqlite", tmp_path, tmp_path / "tmp", overwrite=False)
    asyncio.run(writer.open(recover=False))
    associations, rounds = 4, 50

    def association(number: int) -> None:
        for n in range(rounds):
            record = dataclasses.replace(template, sop_uid=f"1.{number}.{n}")
            writer.expect()
            writer.submit(StagedInstance(record, None,
                                         instance_relpath(record.study_uid, record.sop_uid))
                          ).result(timeout=30)

    threads = [threading.Thread(target=association, args=(n,)) for n in range(associations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    asyncio.run(writer.close())
    with sqlite3.connect(tmp_path / "index.sqlite") as conn:
        [(instances, groups)] = conn.execute(
            "SELECT count(*), count(DISTINCT received_at) FROM instances")
    assert instances == associations * rounds
    # Without waiting for those due, groups of one or two: 100 to 200 commits.
    assert groups <= instances / 3
