"""Running blocking network work from asyncio without blocking the loop.

Each operation gets its own daemon thread (not the default executor: a
thread stuck waiting for an unresponsive remote must not hold up the loop's
shutdown) and a :class:`Cancellation`. When the awaiting task is cancelled,
the remote is asked to stop (C-CANCEL); if the work has not ended after
``grace`` seconds, the association is aborted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, TypeVar

from tui_pacs.net.client.association import Cancellation

T = TypeVar("T")

# How long a cancelled operation may take to end by itself before it is aborted.
CANCEL_GRACE = 5.0

_END = object()
P = TypeVar("P")


def on_loop(callback: Callable[[P], None] | None) -> Callable[[P], None] | None:
    """``callback`` called on the running event loop, whichever thread calls it
    (progress reported by a worker)."""
    if callback is None:
        return None
    loop = asyncio.get_running_loop()

    def call_on_loop(value: P) -> None:
        loop.call_soon_threadsafe(callback, value)
    return call_on_loop


async def run_blocking(work: Callable[[Cancellation], T], *, name: str,
                       grace: float = CANCEL_GRACE) -> T:
    """``work(cancellation)`` in a thread; its result or exception, here."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    cancellation = Cancellation()

    def run() -> None:
        try:
            result = work(cancellation)
        except BaseException as exc:  # handed to the awaiting task, never lost
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=run, name=f"tui-pacs {name}", daemon=True).start()
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _stop(future, cancellation, grace)
        raise


async def stream_blocking(work: Callable[[Cancellation], Iterator[T]], *, name: str,
                          grace: float = CANCEL_GRACE) -> AsyncGenerator[T, None]:
    """The items of a blocking iterator, as they come, run in a thread.

    Leaving the loop early (break, cancellation, an exception) stops the
    work the same way as cancelling :func:`run_blocking`. Wrap the iterator
    in ``contextlib.aclosing`` to stop it as soon as the loop is left.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def pump(cancellation: Cancellation) -> None:
        try:
            for item in work(cancellation):
                loop.call_soon_threadsafe(queue.put_nowait, item)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    done = asyncio.ensure_future(run_blocking(pump, name=name, grace=grace))
    try:
        while (item := await queue.get()) is not _END:
            yield item
        await done
    finally:
        if not done.done():
            done.cancel()
            await asyncio.gather(done, return_exceptions=True)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _stop(future: asyncio.Future[Any], cancellation: Cancellation, grace: float) -> None:
    cancellation.request()
    # Whatever the work ends with now, nobody is waiting for it any more.
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    try:
        await asyncio.wait_for(asyncio.shield(future), grace)
    except TimeoutError:
        await asyncio.to_thread(cancellation.abort)
    except BaseException:  # the work ended with an error: it has stopped all the same
        pass
