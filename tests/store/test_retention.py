"""Retention plans and the deletes they lead to, on a real archive: oldest arrival
first, holds (protected, being received) passed by, the index and the files in
step afterwards."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

from pydicom.uid import ExplicitVRLittleEndian

from tests.dicom_factory import uid, write_study
from tests.server.helpers import dataset_bytes
from tui_pacs.config import RetentionConfig
from tui_pacs.core.model import Level
from tui_pacs.services.retention import RetentionKeeper
from tui_pacs.store.check import check_archive
from tui_pacs.store.retention import Limits, delete_expired, plan


async def store_studies(archive, folder, numbers, instances=2):
    """Studies stored one after the other: their arrival order is ``numbers``."""
    for number in numbers:
        for path in write_study(folder, study=number, instances=instances):
            await archive.store_file(path)


async def study_numbers(archive) -> list[int]:
    rows = await archive.index.query(Level.STUDY)
    return sorted(int(row["StudyInstanceUID"].rsplit(".", 1)[1]) for row in rows)


async def test_max_studies_deletes_the_first_arrivals(archive, tmp_path):
    await store_studies(archive, tmp_path, [5, 1, 4, 2, 3])
    keeper = RetentionKeeper(archive, RetentionConfig(max_studies=3))
    deleted = await keeper.check()
    assert [e.study.study_uid for e in deleted] == [uid(5), uid(1)]
    assert {e.reason for e in deleted} == {"more than max_studies (3)"}
    assert await study_numbers(archive) == [2, 3, 4]


async def test_protected_studies_are_kept_and_the_next_oldest_go(archive, tmp_path):
    await store_studies(archive, tmp_path, [1, 2, 3, 4, 5])
    assert await archive.set_protected(uid(1))
    assert not await archive.set_protected(uid(99))
    deleted = await RetentionKeeper(archive, RetentionConfig(max_studies=3)).check()
    assert [e.study.study_uid for e in deleted] == [uid(2), uid(3)]
    assert await study_numbers(archive) == [1, 4, 5]
    await archive.set_protected(uid(1), False)
    await RetentionKeeper(archive, RetentionConfig(max_studies=2)).check()
    assert await study_numbers(archive) == [4, 5]


async def test_max_size_gb_counts_bytes_and_says_when_holds_keep_it_over(archive, tmp_path):
    await store_studies(archive, tmp_path, [1, 2, 3])
    await archive.set_protected(uid(2))
    found = await plan(archive.index, Limits.from_config(RetentionConfig(max_size_gb=1e-6),
                                                         datetime.now()), [])
    assert [e.study.study_uid for e in found.expired] == [uid(1), uid(3)]
    assert "more than max_size_gb (1e-06)" in found.still_over
    assert "held (protected, queued for forwarding, being received)" in found.still_over
    for expired in found.expired:
        assert await delete_expired(archive, expired) is not None
    assert await study_numbers(archive) == [2]


async def test_keep_days_deletes_what_arrived_before_the_cutoff(archive, tmp_path):
    await store_studies(archive, tmp_path, [1, 2])
    config = RetentionConfig(keep_days=30)
    soon = RetentionKeeper(archive, config, clock=lambda: datetime.now() + timedelta(days=29))
    assert await soon.check() == []
    later = RetentionKeeper(archive, config, clock=lambda: datetime.now() + timedelta(days=31))
    deleted = await later.check()
    assert [e.reason for e in deleted] == ["older than keep_days (30)"] * 2
    assert await archive.index.count(Level.STUDY) == 0


async def test_a_study_being_received_is_held_until_its_association_ends(archive, tmp_path):
    await store_studies(archive, tmp_path, [1, 2, 3])
    [received] = write_study(tmp_path / "late", study=1, instances=1, sop_uid=uid(1, 1, 99))
    stored, leave = threading.Event(), threading.Event()

    def association() -> None:
        # As an association thread does: store, then stay (the peer may send more).
        archive.store_received(dataset_bytes(received), ExplicitVRLittleEndian, "MODALITY")
        stored.set()
        leave.wait(30)

    thread = threading.Thread(target=association)
    thread.start()
    try:
        await asyncio.to_thread(stored.wait, 30)
        assert archive.receiving_studies() == [uid(1)]
        found = await plan(archive.index, Limits(max_studies=1, studies_reason="cap"),
                           archive.receiving_studies())
        assert [e.study.study_uid for e in found.expired] == [uid(2), uid(3)]
        # Chosen by a plan that did not know of it, the writer still passes it by.
        everything = await plan(archive.index, Limits(max_bytes=1, bytes_reason="cap"), [])
        assert [e.study.study_uid for e in everything.expired] == [uid(2), uid(3), uid(1)]
        results = [await delete_expired(archive, e) for e in everything.expired]
        assert [r is None for r in results] == [False, False, True]
        assert await study_numbers(archive) == [1]
    finally:
        leave.set()
        await asyncio.to_thread(thread.join)
    assert archive.receiving_studies() == []
    await RetentionKeeper(archive, RetentionConfig(max_size_gb=1e-6)).check()
    assert await archive.index.count(Level.STUDY) == 0


async def test_index_and_files_agree_after_retention(archive, tmp_path, data_dir):
    await store_studies(archive, tmp_path, range(1, 7), instances=3)
    await RetentionKeeper(archive, RetentionConfig(max_studies=2)).check()
    report = await asyncio.to_thread(check_archive, data_dir)
    assert report.ok, report
    assert await archive.index.count(Level.IMAGE) == 6


async def test_a_study_queued_for_forwarding_is_kept(archive, tmp_path):
    """An instance not yet forwarded (pending or failed) holds its study."""
    def receive(path, route) -> None:  # as an association would, in a thread that ends
        archive.store_received(dataset_bytes(path), ExplicitVRLittleEndian, "CT1", route)

    for number in (1, 2, 3):
        for path in write_study(tmp_path, study=number, instances=1):
            association = threading.Thread(target=receive, args=(
                path, (lambda record: ["pacs"]) if number == 1 else None))
            association.start()
            await asyncio.to_thread(association.join)
    deleted = await RetentionKeeper(archive, RetentionConfig(max_studies=2)).check()
    assert [e.study.study_uid for e in deleted] == [uid(2)]
    assert await study_numbers(archive) == [1, 3]
    assert [(s.destination, s.state, s.entries)
            for s in await archive.forward_queue.summary()] == [("pacs", "pending", 1)]
