"""The Node service as the app uses it: start, status, events on the loop, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading

import pytest
from pynetdicom.sop_class import CTImageStorage, Verification

from tests.dicom_factory import file_meta_for, make_dataset, write_instance
from tests.server.node_fixtures import associate, settings_for, started, wait_until
from tui_pacs.config import AccessConfig
from tui_pacs.core.events import AssociationEvent, InstanceStored, OperationEvent
from tui_pacs.services.node import Node


def echo(node, aet="CLIENT"):
    assoc = associate(node, [Verification], aet)
    try:
        return assoc.send_c_echo().Status
    finally:
        assoc.release()


def store(node, datasets, aet="MODALITY"):
    assoc = associate(node, [CTImageStorage], aet)
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def ct(n: int):
    ds = make_dataset(instance=n, rows=16, columns=16)
    ds.file_meta = file_meta_for(ds)
    return ds


async def test_events_reach_subscribers_on_the_loop_thread(tmp_path):
    node = await started(settings_for(tmp_path / "data"))
    seen = []
    unsubscribe = node.subscribe(lambda e: seen.append((e, threading.get_ident())))
    try:
        assert await asyncio.to_thread(echo, node) == 0x0000
        await wait_until(lambda: any(getattr(e, "kind", "") == "released" for e, _ in seen))
    finally:
        unsubscribe()
        await node.stop()
    assert {thread for _, thread in seen} == {threading.get_ident()}
    kinds = [e.kind if isinstance(e, AssociationEvent) else e.service for e, _ in seen]
    assert kinds == ["accepted", "C-ECHO", "released"]
    operation = next(e for e, _ in seen if isinstance(e, OperationEvent))
    assert (operation.calling_aet, operation.called_aet, operation.peer) == \
        ("CLIENT", "TUIPACS", "127.0.0.1")
    assert operation.status == 0x0000 and operation.duration >= 0


async def test_status_counts_and_instance_events(tmp_path):
    node = await started(settings_for(tmp_path / "data"))
    stored = []
    node.subscribe(lambda e: stored.append(e) if isinstance(e, InstanceStored) else None)
    try:
        statuses = await asyncio.to_thread(store, node, [ct(n) for n in (1, 2, 3)])
        assert statuses == [0, 0, 0]
        await wait_until(lambda: node.status.instances_received == 3)
        status = node.status
        assert status.listening and not status.listen_error
        assert status.bytes_received > 3 * 16 * 16 * 2
        assert status.associations == 1 and status.failed_operations == 0
        assert [e.record.instance_number for e in stored] == [1, 2, 3]
        totals = await node.archive.index.totals()
        assert totals["instances"] == 3
    finally:
        await node.stop()
    assert not node.status.listening


async def test_a_port_in_use_is_reported_not_raised(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        settings = settings_for(tmp_path / "data")
        settings = settings.with_node(port=busy.getsockname()[1])
        node = Node(settings)
        await node.start()
        try:
            assert not node.status.listening
            assert "the port is already in use" in node.status.listen_error
            assert node.archive is not None
            assert (await node.archive.index.totals())["instances"] == 0
        finally:
            await node.stop()


async def test_access_changes_apply_to_the_next_association(tmp_path):
    node = await started(settings_for(tmp_path / "data"))
    try:
        assert await asyncio.to_thread(echo, node) == 0x0000
        closed = dataclasses.replace(node.settings, access=AccessConfig(echo=("CT1",),
                                                                        store=("CT1",)))
        assert node.apply_settings(closed) is False
        with pytest.raises(AssertionError, match="association failed"):
            await asyncio.to_thread(echo, node, "CLIENT")
        assert await asyncio.to_thread(echo, node, "CT1") == 0x0000
        assert node.apply_settings(closed.with_node(port=1)) is True
    finally:
        await node.stop()


async def test_stop_waits_for_the_store_in_progress(tmp_path):
    node = await started(settings_for(tmp_path / "data"))
    path = write_instance(tmp_path / "big.dcm", make_dataset(rows=512, columns=512))
    acknowledged = []

    def send_until_stopped():
        from pydicom import dcmread

        assoc = associate(node, [CTImageStorage], "MODALITY")
        ds = dcmread(path)
        for n in range(1, 10_000):
            ds.SOPInstanceUID = f"{ds.SOPInstanceUID.rsplit('.', 1)[0]}.{n}"
            status = assoc.send_c_store(ds)
            if not assoc.is_established or "Status" not in status:
                return
            acknowledged.append(ds.SOPInstanceUID)

    sender = asyncio.create_task(asyncio.to_thread(send_until_stopped))
    await wait_until(lambda: len(acknowledged) >= 5)
    await node.stop()
    await asyncio.wait_for(sender, 30)
    # Every acknowledged instance is in the archive, which closed cleanly.
    reopened = await started(settings_for(tmp_path / "data"))
    try:
        for uid in acknowledged:
            assert await reopened.archive.index.file_of(uid) is not None, uid
        assert reopened.archive.recovery is None
    finally:
        await reopened.stop()


async def test_hurry_stop_aborts_an_operation_that_would_keep_stop_waiting(tmp_path):
    """A C-GET whose requester stalls on every sub-operation: stop() waits for
    it (up to the DIMSE timeout) unless told to hurry."""
    import time

    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

    from tests.server.node_fixtures import query

    node = await started(settings_for(tmp_path / "data"))
    await node.archive.store_file(write_instance(tmp_path / "a.dcm", make_dataset(instance=1)))
    await node.archive.store_file(write_instance(tmp_path / "b.dcm", make_dataset(instance=2)))
    stalled = threading.Event()

    def stall(event):
        stalled.set()
        time.sleep(5)
        return 0x0000

    def get():
        assoc = associate(node, [StudyRootQueryRetrieveInformationModelGet, CTImageStorage],
                          ext_neg=[build_role(CTImageStorage, scp_role=True)],
                          evt_handlers=[(evt.EVT_C_STORE, stall)])
        list(assoc.send_c_get(query("STUDY", StudyInstanceUID=make_dataset().StudyInstanceUID),
                              StudyRootQueryRetrieveInformationModelGet))
        assoc.release()

    getter = asyncio.create_task(asyncio.to_thread(get))
    await asyncio.to_thread(stalled.wait, 10)
    started_stopping = asyncio.get_running_loop().time()
    stopping = asyncio.create_task(node.stop(timeout=60))
    await asyncio.sleep(0.3)
    node.hurry_stop()
    await asyncio.wait_for(stopping, 10)
    assert asyncio.get_running_loop().time() - started_stopping < 3
    await asyncio.wait_for(getter, 30)


async def echo_alone(node, accepted):
    """An echo, and the wait until its connection is counted closed (the
    pool's own count, which the next connection is handed out by)."""
    before = len(accepted)
    assert await asyncio.to_thread(echo, node) == 0x0000
    await wait_until(lambda: len(accepted) > before and not any(node._server._open))


async def test_a_modality_alone_is_served_by_the_node_and_two_at_once_by_both_processes(
        tmp_path):
    """With a worker process beside the node's own, connections go to each in
    turn, starting with the node's own whenever none is open: one modality
    costs no trip between processes, two at once use both cores. (The node's
    own process numbers its associations 1, 3, 5…, the worker 2, 4, 6….)"""
    settings = settings_for(tmp_path / "data")
    node = await started(dataclasses.replace(
        settings, node=dataclasses.replace(settings.node, workers=2)))
    pool = node._server
    await wait_until(lambda: all(worker is not None and worker.token
                                 for worker in pool._workers[1:]), timeout=30)
    accepted: list[int] = []
    unsubscribe = node.subscribe(lambda event: accepted.append(event.association) if
                                 isinstance(event, AssociationEvent)
                                 and event.kind == "accepted" else None)
    try:
        for _ in range(2):  # one after the other: each finds both processes idle
            await echo_alone(node, accepted)
        held = await asyncio.gather(*(asyncio.to_thread(associate, node, [Verification])
                                      for _ in range(2)))
        await wait_until(lambda: len(accepted) == 4, timeout=30)
        for assoc in held:
            assoc.release()
    finally:
        unsubscribe()
        await node.stop()
    alone, both = accepted[:2], accepted[2:]
    assert [number % 2 for number in alone] == [1, 1]
    assert sorted(number % 2 for number in both) == [0, 1]
