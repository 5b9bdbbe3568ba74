"""A thread-safe least-recently-used cache, bounded by entries or by a size of your choosing."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """Keeps the most recently used values whose total ``size`` stays within ``capacity``.

    ``size`` defaults to 1 per entry, making ``capacity`` an entry count.
    """

    def __init__(self, capacity: int, size: Callable[[V], int] = lambda value: 1) -> None:
        self.capacity = capacity
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: V) -> None:
        size = self._size(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= old[1]
            self._entries[key] = (value, size)
            self._total += size
            # Keep at least the newest entry, even when it alone is over capacity.
            while self._total > self.capacity and len(self._entries) > 1:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._total -= evicted

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0
