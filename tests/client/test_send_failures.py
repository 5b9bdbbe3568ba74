"""How sending fails: refused associations, failure statuses, a remote that aborts,
cancellation. In-process pynetdicom storage SCPs on loopback play the remote."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from tests.dicom_factory import make_dataset, write_instance
from tests.peers.ports import free_port
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.net.wire.ae import add_storage_scp_contexts


@pytest.fixture
def files(tmp_path):
    return [write_instance(tmp_path / f"{n}.dcm", make_dataset(instance=n, rows=8, columns=8))
            for n in range(1, 11)]


@pytest.fixture
def storage_scp():
    """Start a storage SCP whose C-STORE handler is ``handle(event, number)``."""
    servers = []

    def start(handle, **options) -> Target:
        ae = AE(ae_title="STORE")
        add_storage_scp_contexts(ae)
        for name, value in options.items():
            setattr(ae, name, value)
        count = iter(range(1, 1_000_000))
        port = free_port()
        servers.append(ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[
            (evt.EVT_C_STORE, lambda event: handle(event, next(count)))]))
        return Target("STORE", "127.0.0.1", port)

    yield start
    for server in servers:
        server.shutdown()


async def test_a_failure_status_fails_that_instance_only(client, files, storage_scp):
    target = storage_scp(lambda event, number: 0xA700 if number == 4 else 0x0000)
    report = await client.send_files(target, files)
    assert report.sent == 9
    [failure] = report.failures
    assert failure.source.endswith("4.dcm")
    assert "0xA700" in failure.reason and "out of resources" in failure.reason


async def test_warnings_are_counted_as_sent_and_say_what_they_mean(client, files,
                                                                   storage_scp):
    codes = {1: 0xB007, 2: 0xB000}
    target = storage_scp(lambda event, number: codes.get(number, 0x0000))
    progress = []
    report = await client.send_files(target, files[:3], on_progress=progress.append)
    assert report.ok and (report.sent, report.warnings) == (3, 2)
    details = [step.detail for step in progress]
    # 0xB000 is a C-STORE's coercion, not the C-MOVE warning of the same code.
    assert details[:2] == ["status 0xB007 (warning: data set does not match SOP class)",
                           "status 0xB000 (warning: data elements coerced)"]


async def test_a_remote_that_aborts_midway(client, files, storage_scp):
    def handle(event, number):
        if number == 3:
            event.assoc.abort()
        return 0x0000

    report = await client.send_files(storage_scp(handle), files)
    assert report.sent == 2
    assert len(report.failures) == 8
    assert "aborted the association during the C-STORE" in report.failures[0].reason
    assert all(f.reason.startswith("not sent: ") for f in report.failures[1:])


async def test_a_rejected_calling_ae_title(client, files, storage_scp):
    target = storage_scp(lambda event, number: 0, require_calling_aet=["SOMEONE"])
    with pytest.raises(RemoteFailure) as caught:
        await client.send_files(target, files)
    problem = caught.value.diagnosis
    assert problem.failure is Failure.ASSOCIATION_REJECTED
    assert "calling AE title not recognised" in problem.summary


async def test_a_remote_that_stores_nothing(client, files):
    ae = AE(ae_title="ECHOONLY")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        with pytest.raises(RemoteFailure) as caught:
            await client.send_files(Target("ECHOONLY", "127.0.0.1", port), files)
    finally:
        server.shutdown()
    problem = caught.value.diagnosis
    assert problem.failure is Failure.SERVICE_NOT_ACCEPTED
    assert "CT Image Storage: not supported" in problem.summary


async def test_no_answer_to_the_association_request(client, files):
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(RemoteFailure) as caught:
            await client.send_files(Target("MUTE", "127.0.0.1", listener.getsockname()[1]),
                                    files, timeout=0.3)
    finally:
        listener.close()
    assert caught.value.diagnosis.failure is Failure.NO_ASSOCIATION_ANSWER


async def test_cancelling_stops_after_the_instance_in_flight(client, files, storage_scp):
    stored = []

    def handle(event, number):
        time.sleep(0.05)
        stored.append(number)
        return 0x0000

    target = storage_scp(handle)
    progress = []
    task = asyncio.create_task(client.send_files(target, files, on_progress=progress.append))
    while len(progress) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert 2 <= len(stored) < len(files)
