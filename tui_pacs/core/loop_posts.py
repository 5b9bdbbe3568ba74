"""Calls handed to an event loop from other threads, the loop woken once for many.

Under load, each instance received produces calls for the loop (a log line,
the listeners of the archive); waking the loop for each one costs a write to
its self-pipe, a trip through its selector and a thread switch. Calls posted
while the loop has not yet run the last ones go with them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class LoopPosts:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._posted: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._scheduled = False

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` on the loop soon, in the order posted; never blocks."""
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
