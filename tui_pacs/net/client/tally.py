"""Counting what a C-MOVE or C-GET did, over one or several requests.

A retrieve is one request (C-MOVE, C-GET) or, when a C-GET is split over
parallel associations, several: :class:`Tally` adds up the sub-operation
counts of their responses with what arrived here, and :func:`combined`
makes one outcome of their final responses.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tui_pacs.core import status
from tui_pacs.core.remote import RetrieveProgress

ProgressCallback = Callable[[RetrieveProgress], None]


@dataclass
class Outcome:
    """How one request (or all of them) ended."""

    status: int | None = None
    failed_instances: tuple[str, ...] = ()
    cancelled: bool = False
    comment: str = ""


@dataclass
class _Counts:
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0


class Tally:
    """Sub-operation counts from the responses, and what arrived here.

    Responses come on the retrieve's threads, arrivals on association
    threads: one lock keeps each progress report whole.
    """

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.progress = RetrieveProgress()
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._requests: list[_Counts] = []

    def request(self, expected: int | None = None) -> int:
        """Count one more request, which should bring ``expected`` instances
        (None: unknown until its first response); returns its number."""
        with self._lock:
            self._requests.append(_Counts(remaining=expected))
            self._sum()
            return len(self._requests) - 1

    def update(self, number: int, *, remaining: int | None, completed: int | None,
               failed: int | None, warning: int | None, final: bool = False) -> None:
        """The counts of a response to request ``number``; those it leaves out
        keep their last value (a final response leaves nothing remaining)."""
        with self._lock:
            counts = self._requests[number]
            counts.remaining = 0 if final else _given(remaining, counts.remaining)
            counts.completed = _given(completed, counts.completed) or 0
            counts.failed = _given(failed, counts.failed) or 0
            counts.warning = _given(warning, counts.warning) or 0
            self._sum()
            self._notify()

    def arrived(self, received: int) -> None:
        """``received`` instances are here so far.
        Association threads report concurrently, a later count possibly before an
        earlier one."""
        with self._lock:
            if received <= self.progress.received:
                return
            self.progress = dataclasses.replace(self.progress, received=received)
            self._notify()

    def _sum(self) -> None:
        remaining = [counts.remaining for counts in self._requests]
        self.progress = RetrieveProgress(
            completed=sum(counts.completed for counts in self._requests),
            remaining=None if None in remaining else sum(remaining),  # type: ignore[arg-type]
            failed=sum(counts.failed for counts in self._requests),
            warning=sum(counts.warning for counts in self._requests),
            received=self.progress.received,
        )

    def _notify(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)


def combined(outcomes: Sequence[Outcome], cancelled: bool) -> Outcome:
    """One outcome for the requests of a retrieve split into several.

    Cancelled if any was (or the retrieve was); success if all succeeded; a
    failure status when every request failed; otherwise 0xB000, sub-operations
    complete with failures, the Failed SOP Instance UID Lists put together.
    """
    if len(outcomes) == 1 and not cancelled:
        return outcomes[0]
    failed = tuple(uid for outcome in outcomes for uid in outcome.failed_instances)
    comment = next((outcome.comment for outcome in outcomes if outcome.comment), "")
    if cancelled or any(outcome.cancelled for outcome in outcomes):
        return Outcome(status.CANCEL, failed, True, comment)
    codes = [outcome.status for outcome in outcomes]
    if all(code == status.SUCCESS for code in codes):
        return Outcome(status.SUCCESS)
    failures = [code for code in codes if code is not None and status.category(code) == "failure"]
    if len(failures) == len(codes):
        return Outcome(failures[0], failed, False, comment)
    return Outcome(status.WARNING_SUBOPERATIONS, failed, False, comment)


def _given(value: int | None, previous: int | None) -> int | None:
    return previous if value is None else value
