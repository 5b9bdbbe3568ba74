"""Forwarding: passing what the node receives on to other nodes, from a durable queue.

The C-STORE SCP queues each received instance for the destinations its
``[[forward]]`` rules name, in the transaction that indexes it
(:mod:`tui_pacs.store.forward_queue`). The forwarder sends what is queued:

* one lane per destination, so that a destination that is down does not
  hold up the others; a lane sends the oldest due entries in batches of
  up to ``BATCH`` over one association (``tui-pacs send``'s C-STORE path,
  :func:`tui_pacs.net.client.send.send`, in a worker thread), as long as
  entries are due;
* an entry leaves the queue once the destination answered success, or a
  warning status (the destination has the instance, and said something
  about it: counted as sent, and logged); anything else is a failed
  attempt, retried later, the delay doubling from ``[forwarding]
  first_retry`` to ``max_retry``; a destination that cannot be reached
  costs every entry due for it one attempt, and rests its lane until the
  last of them is due again (or they are retried by hand): the delay
  grows with the outage, and instances that arrive meanwhile wait for that
  retry instead of each trying again.
  After ``max_attempts`` an entry is kept as failed until retried
  (``tui-pacs queue --retry``);
* the queue is looked at when an instance is queued, when a lane goes
  idle, when told (:meth:`Forwarder.wake`), and every ``POLL_INTERVAL``
  seconds: a ``tui-pacs queue --retry`` run beside the node changes the
  index, not this process.

Only one process forwards from a data directory (a lock file); another
node or app on the same archive leaves it to the first, and takes over
when that one stops. Stopping cancels the batches under way after the
instance in flight; what the destination acknowledged until then leaves
the queue, the rest is sent again at the next start.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tui_pacs.config import Modality, Settings
from tui_pacs.core.node_report import Section
from tui_pacs.core.remote import RemoteFailure, SendProgress
from tui_pacs.core.target import parse_target
from tui_pacs.net.client import send
from tui_pacs.net.client.association import Cancellation, Session
from tui_pacs.services.worker import run_blocking
from tui_pacs.store.archive import Archive, StoreResult
from tui_pacs.store.forward_queue import FAILED, PENDING, Attempt, Entry, QueueState, parse_stamp

log = logging.getLogger("tui_pacs.forward")

# Instances sent over one association.
BATCH = 100
# How often the queue is looked at without being told.
POLL_INTERVAL = 2.0
# Held by the process that forwards from a data directory.
LOCK_FILE = "forwarding.lock"


@dataclass
class _Batch:
    """What sending one batch did; filled in by the worker thread as answers come."""

    sent: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    # Why the destination could not be reached ('' when it was).
    unreachable: str = ""
    seconds: float = 0.0


class Forwarder:
    """Sends the forwarding queue of ``archive``; everything here runs on the event loop."""

    def __init__(self, settings: Settings, archive: Archive) -> None:
        self._settings = settings
        self._archive = archive
        self._queue = archive.forward_queue
        self._lanes: dict[str, _Lane] = {}
        self._look = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        self._states: list[QueueState] = []
        # Destinations that could not be reached at the last attempt: they rest
        # until every entry tried is due again.
        self._unreachable: set[str] = set()
        self._stopping = False

    def start(self) -> None:
        self._archive.add_listener(self._on_stored)
        self._watch = asyncio.create_task(self._watch_queue(), name="forwarding")

    async def stop(self) -> None:
        """Stop sending (after the instance in flight) and record what was sent."""
        self._stopping = True
        self._archive.remove_listener(self._on_stored)
        tasks = [lane.task for lane in self._lanes.values()]
        if self._watch is not None:
            tasks.append(self._watch)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def apply_settings(self, settings: Settings) -> None:
        """Destinations and retry rules from now on (the rules are the store SCP's)."""
        self._settings = settings
        self.wake()

    def wake(self) -> None:
        """Look at the queue now (entries were retried, settings changed)."""
        self._look.set()

    async def section(self) -> Section:
        """The queue per destination and state, for the node's status report;
        failed entries need someone's attention."""
        counts: dict[str, dict[str, int]] = {}
        for state in await self._queue.summary():
            counts.setdefault(state.destination, {})[state.state] = state.entries
        attention = tuple(f"forwarding: {entries:,} failed to {destination}"
                          for destination, states in counts.items()
                          if (entries := states.get(FAILED, 0)))
        return Section(counts, attention)

    # --- watching the queue ------------------------------------------------------------

    def _on_stored(self, result: StoreResult) -> None:
        if self._forwarding():
            for destination in result.forwarded_to:
                if destination not in self._unreachable:
                    self._lane(destination).poke()

    async def _watch_queue(self) -> None:
        # Not `while True`: wait_for may swallow the cancellation that stop() sends
        # when it comes as the event is set (Python 3.11).
        while not self._stopping:
            self._look.clear()
            try:
                wait = await self._look_at_queue()
            except Exception:
                log.exception("cannot read the forwarding queue")
                wait = POLL_INTERVAL
            try:
                await asyncio.wait_for(self._look.wait(), wait)
            except TimeoutError:
                pass

    async def _look_at_queue(self) -> float:
        """Poke the lanes that have entries due; returns the seconds until the next is."""
        self._states = await self._queue.summary()
        if not self._forwarding():
            return POLL_INTERVAL
        now = _now()
        wait = POLL_INTERVAL
        for state in self._states:
            if state.state != PENDING:
                continue
            due = parse_stamp(state.next_attempt) or now
            if state.destination in self._unreachable:
                due = max(due, parse_stamp(state.latest_retry) or now)
            seconds = (due - now).total_seconds()
            if seconds <= 0:
                self._lane(state.destination).poke()
            else:
                wait = min(wait, seconds)
        return wait

    def _forwarding(self) -> bool:
        """Whether this process forwards (it holds the lock, or takes it now)."""
        if self._stopping:
            return False
        if self._lock_fd is not None:
            return True
        fd = os.open(self._archive.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _lane(self, destination: str) -> _Lane:
        if destination not in self._lanes:
            self._lanes[destination] = _Lane(self, destination)
        return self._lanes[destination]

    # --- sending -------------------------------------------------------------------------

    async def drain(self, destination: str) -> bool:
        """Send what is due for ``destination``, batch after batch, until nothing is
        (or only entries whose files are still being put in place, whose
        arrival pokes the lane again). Returns whether the queue changed."""
        changed = False
        while not self._stopping:
            entries = await self._queue.due(destination, BATCH)
            if not entries:
                break
            modality = self._settings.modality(destination)
            if modality is None:
                kept = await self._queue.give_up(
                    [e.id for e in entries], f"{destination} is not a configured modality")
                log.error("forwarding: %d instance(s) queued for %r, which is no longer a "
                          "configured modality, are kept as failed (tui-pacs queue)",
                          kept, destination)
                changed = True
                continue
            missing = [e.id for e in entries if not e.archived]
            if missing:
                await self._queue.give_up(missing, "no longer in the archive")
                log.error("forwarding to %s: %d instance(s) no longer in the archive, kept as "
                          "failed", destination, len(missing))
                changed = True
            batch = await self._send(modality, [e for e in entries if e.archived])
            await self._record(destination, batch)
            answered = bool(batch.sent or batch.failed)
            changed = changed or answered or bool(batch.unreachable)
            if batch.unreachable or not answered:
                break
        return changed

    async def _send(self, modality: Modality, entries: list[Entry]) -> _Batch:
        settings = self._settings
        session = Session(parse_target(modality.name, settings.modalities), settings.node.aet,
                          settings.limits, tls=settings.tls)
        items = {entry.id: send.Outgoing(self._archive.path_of(entry.path), entry.sop_class,
                                         entry.sop_uid, entry.transfer_syntax)
                 for entry in entries}
        settling = {entry.id for entry in entries if entry.settling}
        batch = _Batch()
        try:
            await run_blocking(lambda c: _send_batch(session, items, settling, batch, c),
                               name=f"forward to {modality.name}")
        except asyncio.CancelledError:
            # Stopping: what the destination acknowledged so far leaves the queue.
            await asyncio.shield(self._queue.sent(list(batch.sent)))
            raise
        return batch

    async def _record(self, destination: str, batch: _Batch) -> None:
        policy = self._settings.forwarding
        if batch.unreachable:
            attempt = await self._queue.unreachable(destination, batch.unreachable, policy)
            self._unreachable.add(destination)
            log.warning("cannot forward to %s: %s; %d instance(s) wait%s", destination,
                        batch.unreachable, attempt.waiting, _next_try(attempt.latest))
            _log_given_up(destination, attempt, batch.unreachable)
            return
        self._unreachable.discard(destination)
        await self._queue.sent(batch.sent)
        attempt = await self._queue.failed(batch.failed, policy)
        if batch.sent or batch.failed:
            line = (f"forwarded {len(batch.sent)} instance(s) to {destination} in "
                    f"{batch.seconds:.2f} s")
            if batch.warnings:
                line += (f"; {len(batch.warnings)} with a warning status, counted as sent "
                         f"({batch.warnings[0]})")
            if batch.failed:
                first = next(iter(batch.failed.values()))
                line += f"; {len(batch.failed)} failed ({first}){_next_try(attempt.earliest)}"
                log.warning("%s", line)
            else:
                log.info("%s", line)
            _log_given_up(destination, attempt, next(iter(batch.failed.values()), ""))


class _Lane:
    """One destination's sending, one batch at a time, in a task of its own."""

    def __init__(self, forwarder: Forwarder, destination: str) -> None:
        self._forwarder = forwarder
        self.destination = destination
        self._due = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"forward to {destination}")

    def poke(self) -> None:
        self._due.set()

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                changed = await self._forwarder.drain(self.destination)
            except Exception:
                log.exception("forwarding to %s stopped by an error; it goes on at the next "
                              "look at the queue", self.destination)
                continue
            if changed:
                # When the next entry is due depends on what this round recorded.
                self._forwarder.wake()


def _send_batch(session: Session, items: dict[int, send.Outgoing], settling: set[int],
                batch: _Batch, cancellation: Cancellation) -> None:
    """C-STORE ``items`` (entry id -> instance) over one association, noting each
    answer in ``batch`` (in a worker thread)."""
    started = time.perf_counter()
    # Left for the round that the end of their rename starts.
    ready = {entry_id: item for entry_id, item in items.items()
             if entry_id not in settling or item.path.exists()}
    if not ready:
        return
    ids = {item.source: entry_id for entry_id, item in ready.items()}

    def answered(progress: SendProgress) -> None:
        entry_id = ids[progress.source]
        if not progress.ok:
            batch.failed[entry_id] = progress.detail
            return
        batch.sent.append(entry_id)
        if progress.detail:
            batch.warnings.append(progress.detail)

    try:
        send.send(session, list(ready.values()), [], answered, cancellation)
    except RemoteFailure as exc:
        batch.unreachable = exc.diagnosis.summary
    batch.seconds = time.perf_counter() - started


def _now() -> datetime:
    return datetime.now(UTC)


def _next_try(moment: datetime | None) -> str:
    if moment is None:
        return ""
    seconds = max(0.0, (moment - _now()).total_seconds())
    return f", next try in {seconds:.1f} s" if seconds < 10 else f", next try in {seconds:.0f} s"


def _log_given_up(destination: str, attempt: Attempt, reason: str) -> None:
    if attempt.now_failed:
        log.error("forwarding to %s: %d instance(s) failed too often and are kept as failed "
                  "(%s); `tui-pacs queue --retry %s` sends them again", destination,
                  attempt.now_failed, reason, destination)
