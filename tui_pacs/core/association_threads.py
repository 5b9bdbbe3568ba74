"""Which association a log line belongs to, told by the thread that wrote it.

pynetdicom logs its errors ("DIMSE timeout", "invalid PDU") from the
association's own two threads (the association and its upper layer) and
does not say which association they concern. The node registers those
threads while an association runs, so a log handler can fold each line
into that association's row instead of leaving it to float alone.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_numbers: dict[int, int] = {}


def register(number: int, *threads: int | None) -> None:
    """Log records from ``threads`` (thread idents) belong to association ``number``."""
    with _lock:
        for ident in threads:
            if ident is not None:
                _numbers[ident] = number


def forget(*threads: int | None) -> None:
    """The threads end: a later thread may reuse their idents."""
    with _lock:
        for ident in threads:
            if ident is not None:
                _numbers.pop(ident, None)


def association_of(thread: int | None) -> int:
    """The association a thread serves, or 0."""
    with _lock:
        return _numbers.get(thread, 0) if thread is not None else 0
