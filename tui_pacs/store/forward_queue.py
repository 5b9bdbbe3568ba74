"""The forwarding queue in the index: what waits to be sent to which destination.

An entry names an instance (by SOP Instance UID) and a destination (a
``[[modalities]]`` name). The writer thread adds entries in the transaction
that indexes their instances (:func:`enqueue`), so an acknowledged instance
is never without its entries, whatever crashes when. An entry leaves the
queue only once the destination has acknowledged the instance
(:meth:`ForwardQueue.sent`), so a crash between sending and recording
means sending again: at least once.

A failed attempt pushes the entry's next attempt back (the delay doubles,
see :meth:`~tui_pacs.config.ForwardingConfig.retry_delay`); after
``max_attempts`` it is kept as ``failed`` until someone retries it.

Reads go through the archive's reader connection; every change is a short
transaction on a writing connection (:meth:`IndexWriter.change`), the
node's writer thread or that of a command run beside the node.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from tui_pacs.config import ForwardingConfig
from tui_pacs.store.schema import TIME_FORMAT

if TYPE_CHECKING:
    import aiosqlite

    from tui_pacs.store.writer import IndexWriter

T = TypeVar("T")

PENDING = "pending"
FAILED = "failed"


@dataclass(frozen=True)
class Entry:
    """An entry due to be sent, with what sending its instance needs."""

    id: int
    sop_uid: str
    attempts: int
    # All three '' when the archive no longer holds the instance.
    sop_class: str
    transfer_syntax: str
    path: str
    # The instance's file may not be at its place yet (committed, being renamed).
    settling: bool

    @property
    def archived(self) -> bool:
        return bool(self.path)


@dataclass(frozen=True)
class QueueState:
    """The entries of one destination in one state."""

    destination: str
    state: str
    entries: int
    # When the oldest of them was queued (UTC, as the index writes times).
    oldest: str
    # The earliest next attempt of pending entries ('' means now), and the
    # latest among those that were tried before ('' when none was).
    next_attempt: str
    latest_retry: str
    last_error: str
    last_attempt: str


@dataclass(frozen=True)
class Attempt:
    """What recording failed attempts did."""

    # Entries that used their last attempt and are kept as failed now.
    now_failed: int
    # Entries that will be tried again, and the first and last of their next
    # attempts (None when there are none).
    waiting: int
    earliest: datetime | None
    latest: datetime | None


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_stamp(text: str) -> datetime | None:
    """A time written by :func:`stamp`; None for '' (now, or never)."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC) if text else None


# --- on a writing connection, inside the writer's transaction ------------------


def enqueue(conn: sqlite3.Connection, entries: Iterable[tuple[str, str]], now: str) -> None:
    """Queue (destination, SOP Instance UID) pairs. An instance queued again for
    the same destination (it was replaced) gets a new entry, due at once."""
    conn.executemany(
        "INSERT OR REPLACE INTO forward_queue (destination, sop_uid, queued_at) VALUES (?, ?, ?)",
        [(destination, sop_uid, now) for destination, sop_uid in entries])


def forget_instances(conn: sqlite3.Connection, instance_ids: list[int]) -> None:
    """Drop the entries of instances being removed from the index: nothing is
    left to send."""
    conn.execute(
        "DELETE FROM forward_queue WHERE sop_uid IN "
        f"(SELECT sop_uid FROM instances WHERE id IN ({_marks(instance_ids)}))", instance_ids)


def _remove(conn: sqlite3.Connection, ids: list[int]) -> int:
    return conn.execute(f"DELETE FROM forward_queue WHERE id IN ({_marks(ids)})", ids).rowcount


def _fail(conn: sqlite3.Connection, failures: dict[int, str], policy: ForwardingConfig,
          now: datetime) -> Attempt:
    """One more failed attempt for each entry id (with its reason)."""
    ids = list(failures)
    rows = conn.execute(f"SELECT id, attempts FROM forward_queue WHERE state = '{PENDING}' "
                        f"AND id IN ({_marks(ids)})", ids).fetchall()
    updates = []
    now_failed = 0
    retries: list[datetime] = []
    for entry_id, attempts in rows:
        attempts += 1
        if attempts >= policy.max_attempts:
            state, due = FAILED, ""
            now_failed += 1
        else:
            state = PENDING
            moment = now + timedelta(seconds=policy.retry_delay(attempts))
            due = stamp(moment)
            retries.append(moment)
        updates.append((attempts, state, due, failures[entry_id], stamp(now), entry_id))
    conn.executemany(
        "UPDATE forward_queue SET attempts = ?, state = ?, next_attempt = ?, last_error = ?, "
        "last_attempt = ? WHERE id = ?", updates)
    return Attempt(now_failed, len(retries), min(retries, default=None),
                   max(retries, default=None))


def _unreachable(conn: sqlite3.Connection, destination: str, error: str,
                 policy: ForwardingConfig, now: datetime) -> Attempt:
    """The destination could not be reached: a failed attempt for every entry
    that was due for it, not only those of the batch tried."""
    ids = [row[0] for row in conn.execute(
        f"SELECT id FROM forward_queue WHERE destination = ? AND state = '{PENDING}' "
        "AND next_attempt <= ?", (destination, stamp(now)))]
    failures = dict.fromkeys(ids, error)
    return _fail(conn, failures, policy, now) if ids else Attempt(0, 0, None, None)


def _give_up(conn: sqlite3.Connection, ids: list[int], reason: str, now: datetime) -> int:
    return conn.execute(
        f"UPDATE forward_queue SET state = '{FAILED}', next_attempt = '', last_error = ?, "
        f"last_attempt = ? WHERE id IN ({_marks(ids)})", [reason, stamp(now), *ids]).rowcount


def _retry(conn: sqlite3.Connection, destination: str | None) -> int:
    """Failed entries back in the queue with their attempts reset, and waiting
    ones due now; returns how many failed entries were put back."""
    where, params = _of(destination)
    put_back = conn.execute(
        f"UPDATE forward_queue SET state = '{PENDING}', attempts = 0, next_attempt = '' "
        f"WHERE state = '{FAILED}'{where}", params).rowcount
    conn.execute(f"UPDATE forward_queue SET next_attempt = '' WHERE state = '{PENDING}' "
                 f"AND next_attempt != ''{where}", params)
    return put_back


def _clear_failed(conn: sqlite3.Connection, destination: str | None) -> int:
    where, params = _of(destination)
    return conn.execute(f"DELETE FROM forward_queue WHERE state = '{FAILED}'{where}",
                        params).rowcount


def _of(destination: str | None) -> tuple[str, list[str]]:
    return ("", []) if destination is None else (" AND destination = ?", [destination])


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


# --- the queue as the node and the commands use it -------------------------------------

_DUE = f"""
    SELECT q.id, q.sop_uid, q.attempts, coalesce(i.sop_class_uid, ''),
        coalesce(i.transfer_syntax, ''), coalesce(i.path, ''), coalesce(i.pending, '')
    FROM forward_queue q LEFT JOIN instances i ON i.sop_uid = q.sop_uid
    WHERE q.destination = ? AND q.state = '{PENDING}' AND q.next_attempt <= ?
    ORDER BY q.id LIMIT ?"""

_SUMMARY = """
    SELECT destination, state, count(*), min(queued_at), min(next_attempt),
        coalesce(max(CASE WHEN attempts > 0 THEN next_attempt END), ''),
        (SELECT last_error || char(0) || last_attempt FROM forward_queue e
         WHERE e.destination = q.destination AND e.state = q.state AND e.last_attempt != ''
         ORDER BY e.last_attempt DESC LIMIT 1)
    FROM forward_queue q GROUP BY destination, state ORDER BY destination, state DESC"""


class ForwardQueue:
    """The queue of one open archive: reads on its reader, changes through its writer."""

    def __init__(self, reader: aiosqlite.Connection, writer: IndexWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def summary(self) -> list[QueueState]:
        """Each destination's pending entries, then its failed ones."""
        async with self._reader.execute(_SUMMARY) as cursor:
            rows = await cursor.fetchall()
        states = []
        for destination, state, count, oldest, next_attempt, latest_retry, last in rows:
            error, _, attempted = (last or "\0").partition("\0")
            pending = state == PENDING
            states.append(QueueState(destination, state, count, oldest,
                                     next_attempt if pending else "",
                                     latest_retry if pending else "", error, attempted))
        return states

    async def due(self, destination: str, limit: int, now: datetime | None = None
                  ) -> list[Entry]:
        """The oldest entries due for ``destination``, at most ``limit``."""
        moment = stamp(now or datetime.now(UTC))
        async with self._reader.execute(_DUE, (destination, moment, limit)) as cursor:
            rows = await cursor.fetchall()
        return [Entry(entry_id, sop_uid, attempts, sop_class, syntax, path, bool(pending))
                for entry_id, sop_uid, attempts, sop_class, syntax, path, pending in rows]

    async def sent(self, ids: list[int]) -> int:
        """The destination acknowledged these entries' instances: they leave the queue."""
        return await self._change(lambda conn: _remove(conn, ids)) if ids else 0

    async def failed(self, failures: dict[int, str], policy: ForwardingConfig) -> Attempt:
        """One more failed attempt for each entry id, with the reason."""
        if not failures:
            return Attempt(0, 0, None, None)
        now = datetime.now(UTC)
        return await self._change(lambda conn: _fail(conn, failures, policy, now))

    async def unreachable(self, destination: str, error: str,
                          policy: ForwardingConfig) -> Attempt:
        """A failed attempt for every entry due for a destination that could not be reached."""
        now = datetime.now(UTC)
        return await self._change(lambda conn: _unreachable(conn, destination, error,
                                                            policy, now))

    async def give_up(self, ids: list[int], reason: str) -> int:
        """Keep these entries as failed at once (there is no point in retrying them)."""
        if not ids:
            return 0
        now = datetime.now(UTC)
        return await self._change(lambda conn: _give_up(conn, ids, reason, now))

    async def retry(self, destination: str | None = None) -> int:
        """Failed entries (of one destination, or all) are sent again, from their
        first attempt, and waiting ones are due now; returns how many failed
        entries were put back."""
        return await self._change(lambda conn: _retry(conn, destination))

    async def clear_failed(self, destination: str | None = None) -> int:
        """Delete failed entries (of one destination, or all); returns how many."""
        return await self._change(lambda conn: _clear_failed(conn, destination))

    async def _change(self, change: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writer.change(change)
