"""Blocking work run from asyncio: results, errors, and cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tui_pacs.services.worker import run_blocking, stream_blocking


async def test_the_result_and_the_thread():
    loop_thread = threading.get_ident()
    result = await run_blocking(lambda c: threading.get_ident(), name="test")
    assert result != loop_thread


async def test_errors_come_back_to_the_caller():
    def fail(cancellation):
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        await run_blocking(fail, name="test")


async def test_the_loop_runs_while_the_work_blocks():
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await run_blocking(lambda c: time.sleep(0.3), name="test")
    ticker.cancel()
    assert ticks > 10


class Recorder:
    """Stands in for a Cancellation's association: records the abort."""

    def __init__(self) -> None:
        self.is_established = True
        self.aborted = threading.Event()

    def abort(self) -> None:
        self.aborted.set()


async def test_cancelling_asks_the_work_to_stop_and_waits_for_it():
    stopped = threading.Event()

    def polite(cancellation):
        while not cancellation.requested:
            time.sleep(0.01)
        stopped.set()

    task = asyncio.create_task(run_blocking(polite, name="test"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()


async def test_work_that_does_not_stop_is_aborted_after_the_grace_period():
    association = Recorder()

    def stubborn(cancellation):
        cancellation.attach(association)
        association.aborted.wait(5)

    task = asyncio.create_task(run_blocking(stubborn, name="test", grace=0.1))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert association.aborted.is_set()
    assert time.perf_counter() - started < 2


async def test_streams_deliver_items_as_they_come():
    def produce(cancellation):
        for number in range(3):
            yield number
            time.sleep(0.05)

    arrivals = []
    async for item in stream_blocking(produce, name="test"):
        arrivals.append((item, time.perf_counter()))
    assert [item for item, _ in arrivals] == [0, 1, 2]
    assert arrivals[-1][1] - arrivals[0][1] >= 0.09


async def test_a_stream_error_is_raised_after_the_items():
    def produce(cancellation):
        yield 1
        raise ValueError("broken")

    items = []
    with pytest.raises(ValueError, match="broken"):
        async for item in stream_blocking(produce, name="test"):
            items.append(item)
    assert items == [1]
