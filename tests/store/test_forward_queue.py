"""The forwarding queue in the index: written with the instance, retried, failed, retried
by hand, cleared; gone with the instance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.dicom_factory import make_dataset, write_instance
from tests.server.helpers import indexed
from tests.store.test_archive import encoded
from tui_pacs.config import ForwardingConfig, StorageConfig
from tui_pacs.core.model import Level
from tui_pacs.store.archive import Archive, Outcome
from tui_pacs.store.forward_queue import FAILED, PENDING, parse_stamp

EXPLICIT_LE = "1.2.840.10008.1.2.1"
POLICY = ForwardingConfig(max_attempts=3, first_retry=5, max_retry=300)


def receive(archive: Archive, ds, *destinations: str):
    """As the C-STORE SCP stores (in its own thread), routed to ``destinations``."""
    return asyncio.to_thread(archive.store_received, encoded(ds), EXPLICIT_LE, "CT1",
                             lambda record: destinations)


def entries(data_dir) -> list[tuple]:
    return indexed(data_dir, "SELECT destination, sop_uid, state, attempts FROM forward_queue "
                             "ORDER BY destination, sop_uid")


def test_retry_delays_double_from_the_first_up_to_the_cap():
    delays = [ForwardingConfig().retry_delay(n) for n in range(1, 11)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]
    assert sum(delays[:2]) < 30  # the first retries come within 30 s


async def test_an_instance_is_queued_in_the_transaction_that_indexes_it(archive, data_dir):
    ds = make_dataset(instance=1)
    result = await receive(archive, ds, "pacs", "backup")
    assert result.forwarded_to == ("pacs", "backup")
    # store_received returns once the commit is done: the entries are there too.
    assert entries(data_dir) == [("backup", ds.SOPInstanceUID, PENDING, 0),
                                 ("pacs", ds.SOPInstanceUID, PENDING, 0)]
    [due] = await archive.forward_queue.due("pacs", 10)
    assert (due.sop_uid, due.sop_class, due.attempts) == (ds.SOPInstanceUID, ds.SOPClassUID, 0)
    assert archive.path_of(due.path).is_file()


async def test_a_duplicate_is_not_queued_again_and_an_import_not_at_all(archive, data_dir,
                                                                       tmp_path):
    ds = make_dataset(instance=1)
    await receive(archive, ds, "pacs")
    again = await receive(archive, ds, "pacs", "backup")
    assert again.outcome is Outcome.DUPLICATE and again.forwarded_to == ()
    imported = await archive.store_file(write_instance(tmp_path / "2.dcm",
                                                       make_dataset(instance=2)))
    assert imported.forwarded_to == ()
    assert entries(data_dir) == [("pacs", ds.SOPInstanceUID, PENDING, 0)]


async def test_failed_attempts_back_off_then_keep_the_entry_as_failed(archive, data_dir):
    ds = make_dataset(instance=1)
    await receive(archive, ds, "pacs")
    queue = archive.forward_queue
    for attempt in range(1, POLICY.max_attempts + 1):
        [entry] = await queue.due("pacs", 10, now=datetime.now(UTC) + timedelta(hours=1))
        before = datetime.now(UTC)
        outcome = await queue.failed({entry.id: "refused"}, POLICY)
        if attempt < POLICY.max_attempts:
            assert (outcome.now_failed, outcome.waiting) == (0, 1)
            delay = POLICY.retry_delay(attempt)
            assert before + timedelta(seconds=delay) <= outcome.earliest
            assert await queue.due("pacs", 10) == []  # not before its time
    assert (outcome.now_failed, outcome.waiting) == (1, 0)
    assert entries(data_dir) == [("pacs", ds.SOPInstanceUID, FAILED, POLICY.max_attempts)]
    assert await queue.due("pacs", 10, now=datetime.now(UTC) + timedelta(days=1)) == []
    [state] = await queue.summary()
    assert (state.destination, state.state, state.entries, state.last_error) == (
        "pacs", FAILED, 1, "refused")


async def test_unreachable_costs_every_due_entry_one_attempt(archive, data_dir):
    for n in (1, 2, 3):
        await receive(archive, make_dataset(instance=n), "pacs")
    await receive(archive, make_dataset(instance=4), "backup")
    outcome = await archive.forward_queue.unreachable("pacs", "connection refused", POLICY)
    assert outcome.waiting == 3
    assert [row[3] for row in entries(data_dir)] == [0, 1, 1, 1]  # backup untouched
    states = {(s.destination, s.state): s for s in await archive.forward_queue.summary()}
    pacs = states["pacs", PENDING]
    assert pacs.entries == 3 and pacs.last_error == "connection refused"
    assert parse_stamp(pacs.latest_retry) == outcome.latest
    assert states["backup", PENDING].latest_retry == ""


async def test_retry_puts_failed_entries_back_and_clear_deletes_them(archive, data_dir):
    policy = ForwardingConfig(max_attempts=1)
    for n, destination in ((1, "pacs"), (2, "pacs"), (3, "backup")):
        await receive(archive, make_dataset(instance=n), destination)
    queue = archive.forward_queue
    for destination in ("pacs", "backup"):
        await queue.unreachable(destination, "down", policy)
    assert {row[2] for row in entries(data_dir)} == {FAILED}

    assert await queue.retry("pacs") == 2
    assert [(row[0], row[2], row[3]) for row in entries(data_dir)] == [
        ("backup", FAILED, 1), ("pacs", PENDING, 0), ("pacs", PENDING, 0)]
    assert len(await queue.due("pacs", 10)) == 2
    assert await queue.clear_failed() == 1
    assert [row[0] for row in entries(data_dir)] == ["pacs", "pacs"]


async def test_sent_entries_leave_the_queue(archive, data_dir):
    await receive(archive, make_dataset(instance=1), "pacs")
    [entry] = await archive.forward_queue.due("pacs", 10)
    assert await archive.forward_queue.sent([entry.id]) == 1
    assert entries(data_dir) == []


async def test_deleting_an_instance_drops_its_entries(archive, data_dir):
    kept, removed = make_dataset(study=1), make_dataset(study=2)
    await receive(archive, kept, "pacs")
    await receive(archive, removed, "pacs")
    await archive.delete(Level.STUDY, removed.StudyInstanceUID)
    assert entries(data_dir) == [("pacs", kept.SOPInstanceUID, PENDING, 0)]


async def test_a_replaced_instance_is_queued_again_under_a_new_id(data_dir):
    archive = await Archive.open(data_dir, StorageConfig(min_free_mb=0,
                                                         overwrite_duplicates=True))
    try:
        ds = make_dataset(instance=1)
        await receive(archive, ds, "pacs")
        [first] = await archive.forward_queue.due("pacs", 10)
        result = await receive(archive, ds, "pacs")
        assert result.outcome is Outcome.REPLACED and result.forwarded_to == ("pacs",)
        [second] = await archive.forward_queue.due("pacs", 10)
        assert second.id != first.id
        # The send of the old copy finishing now does not take the new entry with it.
        assert await archive.forward_queue.sent([first.id]) == 0
        assert len(entries(data_dir)) == 1
    finally:
        await archive.close()
