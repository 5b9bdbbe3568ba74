"""From pynetdicom's association threads to the event loop, and back.

Handlers run in association threads; the archive's index and every listener
live on the event loop. :meth:`LoopBridge.post` hands a callback to the loop
without waiting (events for logs and the UI); :meth:`LoopBridge.run` waits
for a coroutine's result (an index query), so it must never be called on the
loop itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long an association thread waits for the index to answer a query.
INDEX_TIMEOUT = 60.0


class LoopGone(RuntimeError):
    """The event loop stopped or did not answer in time."""


class LoopBridge:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._posted: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._scheduled = False

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait (in this thread) for its result."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:
            coro.close()
            raise LoopGone("the node is shutting down") from None
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise LoopGone(f"no answer from the index within {timeout:g} s") from None

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` on the loop soon, in the order posted; never blocks.

        Calls posted while the loop has not yet run the last ones go with
        them: under load (an event per instance received) the loop wakes once
        for many instead of once for each.
        """
        with self._lock:
            self._posted.append((callback, args))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._run_posted)
        except RuntimeError:
            pass  # the loop is closed: nobody is left to tell

    def _run_posted(self) -> None:
        with self._lock:
            posted, self._posted = self._posted, []
            self._scheduled = False
        for callback, args in posted:
            try:
                callback(*args)
            except Exception:
                log.exception("error in %r, posted to the event loop", callback)
