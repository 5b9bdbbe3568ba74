"""From pynetdicom's association threads to the event loop, and back.

Handlers run in association threads; the archive's index and every listener
live on the event loop. :meth:`LoopBridge.post` hands a callback to the loop
without waiting (events for logs and the UI, within
:data:`~tui_pacs.core.loop_posts.COALESCE`); :meth:`LoopBridge.run` waits
for a coroutine's result (an index query), so it must never be called on the
loop itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from tui_pacs.core.loop_posts import LoopPosts

T = TypeVar("T")

# How long an association thread waits for the index to answer a query.
INDEX_TIMEOUT = 60.0


class LoopGone(RuntimeError):
    """The event loop stopped or did not answer in time."""


class LoopBridge(LoopPosts):
    """:meth:`~tui_pacs.core.loop_posts.LoopPosts.post` (events for logs and
    the UI), and :meth:`run` (an index query)."""

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
