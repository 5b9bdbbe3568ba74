"""The forwarding queue as the app words it: one summary per destination.

Plain text from :class:`~tui_pacs.store.forward_queue.QueueState` rows, so
that the dialog that shows it stays a thin layer. Times are the app's clock
(local time); what a peer said (the last error) is made printable by the
widget that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tui_pacs.store.forward_queue import FAILED, PENDING, QueueState, parse_stamp


@dataclass(frozen=True)
class DestinationSummary:
    destination: str
    pending: int
    failed: int
    # When the oldest entry was queued, and when the waiting ones are tried next.
    oldest: str
    next_try: str
    last_error: str


def summarize(states: list[QueueState], now: datetime) -> list[DestinationSummary]:
    """One summary per destination, in the order of ``states``."""
    by_destination: dict[str, dict[str, QueueState]] = {}
    for state in states:
        by_destination.setdefault(state.destination, {})[state.state] = state
    summaries = []
    for destination, kinds in by_destination.items():
        pending, failed = kinds.get(PENDING), kinds.get(FAILED)
        latest = max(kinds.values(), key=lambda s: s.last_attempt)
        summaries.append(DestinationSummary(
            destination, pending.entries if pending else 0, failed.entries if failed else 0,
            _when(min(s.oldest for s in kinds.values()), now),
            _next_try(pending.next_attempt, now) if pending else "", latest.last_error))
    return summaries


def _local(stamp: str) -> datetime | None:
    moment = parse_stamp(stamp)
    return moment.astimezone().replace(tzinfo=None) if moment else None


def _when(stamp: str, now: datetime) -> str:
    moment = _local(stamp)
    if moment is None:
        return "?"
    return moment.strftime("%H:%M:%S" if moment.date() == now.date() else "%Y-%m-%d %H:%M")


def _next_try(stamp: str, now: datetime) -> str:
    moment = _local(stamp)
    seconds = (moment - now).total_seconds() if moment else 0
    if seconds < 1:
        return "sending now"
    if seconds < 120:
        return f"next try in {seconds:.0f} s"
    return f"next try in {seconds / 60:.0f} min"
