"""C-FIND streaming and cancellation against an in-process pynetdicom SCP that
answers slowly, one pending response after another."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import aclosing

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from tests.peers.ports import free_port
from tui_pacs.core.model import Level
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.core.target import Target

MATCHES = 60


class SlowFindSCP:
    """Yields MATCHES studies, 10 ms apart; records whether a C-CANCEL arrived."""

    def __init__(self, failure_status: int | None = None) -> None:
        self.cancelled = threading.Event()
        self.sent = 0
        self.failure_status = failure_status

    def handle_find(self, event):
        if self.failure_status is not None:
            yield self.failure_status, None
            return
        for number in range(MATCHES):
            if event.is_cancelled:
                self.cancelled.set()
                yield 0xFE00, None
                return
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.StudyInstanceUID = f"1.2.3.{number}"
            ds.PatientName = f"PATIENT^{number}"
            self.sent += 1
            time.sleep(0.01)
            yield 0xFF00, ds


@pytest.fixture
def find_scp():
    def start(scp: SlowFindSCP) -> Target:
        ae = AE(ae_title="SLOWFIND")
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        port = free_port()
        servers.append(ae.start_server(("127.0.0.1", port), block=False,
                                       evt_handlers=[(evt.EVT_C_FIND, scp.handle_find)]))
        return Target("SLOWFIND", "127.0.0.1", port)

    servers = []
    yield start
    for server in servers:
        server.shutdown()


async def test_rows_stream_in_as_pending_responses_arrive(client, find_scp):
    target = find_scp(SlowFindSCP())
    arrivals = []
    async with aclosing(client.find(target, Level.STUDY, {"PatientName": "*"})) as rows:
        async for row in rows:
            arrivals.append((time.perf_counter(), row))
    assert len(arrivals) == MATCHES
    assert arrivals[0][1]["PatientName"] == "PATIENT^0"
    # The first row came long before the last: streamed, not collected.
    assert arrivals[-1][0] - arrivals[0][0] > 0.3


async def test_a_limit_cancels_the_rest(client, find_scp):
    scp = SlowFindSCP()
    target = find_scp(scp)
    rows = [row async for row in client.find(target, Level.STUDY, {}, limit=5)]
    assert len(rows) == 5
    assert scp.cancelled.wait(5)
    assert scp.sent < MATCHES


async def test_cancelling_the_task_sends_c_cancel(client, find_scp):
    scp = SlowFindSCP()
    target = find_scp(scp)
    seen = []

    async def consume():
        async for row in client.find(target, Level.STUDY, {}):
            seen.append(row)

    task = asyncio.create_task(consume())
    while len(seen) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scp.cancelled.wait(5)
    assert scp.sent < MATCHES


async def test_leaving_the_loop_early_cancels(client, find_scp):
    scp = SlowFindSCP()
    target = find_scp(scp)
    async with aclosing(client.find(target, Level.STUDY, {})) as rows:
        async for _ in rows:
            break
    assert scp.cancelled.wait(5)


async def test_a_failure_status_raises_with_the_status(client, find_scp):
    target = find_scp(SlowFindSCP(failure_status=0xA900))
    with pytest.raises(RemoteFailure) as caught:
        async for _ in client.find(target, Level.SERIES, {}):
            pass
    problem = caught.value.diagnosis
    assert problem.failure is Failure.OPERATION_FAILED
    assert "0xA900" in problem.summary
    assert any("StudyInstanceUID" in line for line in problem.advice)
