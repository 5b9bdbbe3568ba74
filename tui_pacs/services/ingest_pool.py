"""Ingest worker processes: the node's associations served on every core.

One Python process runs Python in one thread at a time: receiving, checking
and answering the C-STOREs of several modalities at once kept one core busy
and left the other idle. With ``[node] workers`` above 1 (0, the default,
means one per CPU), the node's own process keeps what must be one (the
archive's index and its only writer, the event loop, the app) and accepts
every connection (:class:`~tui_pacs.net.server.acceptor.Acceptor`); worker
processes (:mod:`tui_pacs.services.ingest_worker`) serve them, handed out in
turn. Each worker has a channel (:mod:`tui_pacs.services.channel`) and a
link thread here that takes what it sends, without waiting for the event
loop:

* ``store``: an instance it staged in tmp/ and checked; the archive's writer
  commits it (:meth:`Archive.commit_staged`) and the answer goes back once it
  is durable and indexed: only then does the worker answer its peer.
* ``durable``: the staged file's own fsync is done.
* ``event``: its association and operation events, which the node logs,
  counts and passes on as its own (on the loop). The node keeps count of
  each worker's associations: for the status, and so that
  ``limits.max_associations`` holds for the node as a whole (each worker
  hears how many the others serve).
* ``log``: its log records, logged here.

A worker that ends unexpectedly (killed, crashed) is replaced; its
associations are reported aborted, and its staging files removed once what
it handed over is settled. Nothing it received was acknowledged without the
writer's word, so nothing acknowledged is lost. The node's own death kills
the workers (see ``ingest_worker``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from tui_pacs.config import Settings
from tui_pacs.core.events import AssociationEvent, NodeEvent
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.server.acceptor import Acceptor
from tui_pacs.net.server.scp import Listener
from tui_pacs.services.channel import Channel, ChannelClosed
from tui_pacs.store.archive import Archive
from tui_pacs.store.intake import COMMIT_TIMEOUT, commit_failure
from tui_pacs.store.writer import StagedInstance, StoreResult

log = logging.getLogger(__name__)

# A worker that ends sooner than this after its start is replaced only after
# RESTART_PAUSE: a worker that cannot start must not be started in a loop.
SHORT_LIFE = 5.0
RESTART_PAUSE = 1.0
# How long stopping waits for a worker told to abort before killing it.
EXIT_TIMEOUT = 10.0


def worker_count(settings: Settings) -> int:
    """How many worker processes ``[node] workers`` asks for (1: none)."""
    return settings.node.workers or os.cpu_count() or 1


@dataclass(eq=False)
class _Worker:
    number: int
    process: subprocess.Popen
    channel: Channel
    started: float = field(default_factory=time.monotonic)
    # Its files.PROCESS, once it is ready: the names of its staging files.
    token: str = ""
    # Its running associations: number -> the event that reported them accepted.
    active: dict[int, AssociationEvent] = field(default_factory=dict)
    # Commits of instances it handed over, not yet answered.
    outstanding: set[Future[StoreResult]] = field(default_factory=set)


class IngestPool:
    """Worker processes serving the node's associations; the same calls as
    :class:`~tui_pacs.net.server.scp.DicomServer` for the node."""

    def __init__(self, settings: Settings, archive: Archive, bridge: LoopBridge,
                 on_event: Callable[[NodeEvent], None], count: int) -> None:
        self._settings = settings
        self._archive = archive
        self._bridge = bridge
        self._on_event = on_event
        self._count = count
        self._workers: list[_Worker | None] = [None] * count
        self._turns = itertools.cycle(range(count))
        self._lock = threading.Lock()
        self._stopping = False
        self._acceptor = Acceptor(settings, self._hand_off)

    async def start(self) -> list[Listener]:
        """Listen (raise ListenError or TLSSetupError) and start the workers.

        The workers are started from the event loop's thread, whose end (the
        process's) they must not outlive.
        """
        listeners = await asyncio.to_thread(self._acceptor.start)
        for number in range(self._count):
            self._spawn(number)
        return listeners

    def update(self, settings: Settings) -> None:
        self._settings = settings
        self._broadcast(lambda worker: ("settings", settings))

    def stop_accepting(self) -> None:
        self._acceptor.stop()

    def request_stop(self) -> None:
        """Ask every worker to end its associations once their operation in
        progress is done, and then itself."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        for worker in self._running():
            if not worker.token:
                # Still starting: it serves nothing yet (a connection handed
                # to it is dropped, as one in the listen queue would be).
                worker.process.kill()
        self._broadcast(lambda worker: ("stop",))

    def abort_all(self) -> None:
        """Abort every association now, and wait for the workers to end."""
        self._broadcast(lambda worker: ("hurry",))
        for worker in self._running():
            try:
                worker.process.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                worker.process.kill()

    def busy(self) -> bool:
        """Whether any worker is still running."""
        return any(worker.process.poll() is None for worker in self._running())

    def active_peers(self) -> list[str]:
        with self._lock:
            return [f"{event.calling_aet} at {event.peer}"
                    for worker in self._workers if worker is not None
                    for event in worker.active.values()]

    # --- workers -------------------------------------------------------------------

    def _spawn(self, number: int) -> None:
        """Start worker ``number`` (on the event loop's thread)."""
        if self._stopping:
            return
        channel, theirs = Channel.pair()
        try:
            process = subprocess.Popen(
                # -P: nothing is imported from the working directory.
                [sys.executable, "-P", "-m", "tui_pacs.services.ingest_worker",
                 str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as exc:
            log.error("cannot start an ingest worker process: %s", exc.strerror or exc)
            channel.close()
            return
        finally:
            theirs.close()
        worker = _Worker(number, process, channel)
        debug = logging.getLogger().isEnabledFor(logging.DEBUG)
        try:
            channel.send("start", self._settings, number + 1, self._count, debug)
        except ChannelClosed:
            pass  # it died at once: its link notices
        with self._lock:
            self._workers[number] = worker
        threading.Thread(target=self._link, args=(worker,), daemon=True,
                         name=f"ingest-worker-{number + 1}").start()

    def _running(self) -> list[_Worker]:
        with self._lock:
            return [worker for worker in self._workers if worker is not None]

    def _hand_off(self, listener: int, client: socket.socket, address: Any) -> None:
        """Give a connection to the next worker in turn (in the acceptor's thread)."""
        for _ in range(self._count):
            with self._lock:
                worker = self._workers[next(self._turns)]
            if worker is None or worker.process.poll() is not None:
                continue
            try:
                worker.channel.send("connection", listener, address, fd=client.fileno())
                return
            except ChannelClosed:
                continue
        log.error("no ingest worker is running: connection from %s closed", address[0])

    def _broadcast(self, message: Callable[[_Worker], tuple[Any, ...]]) -> None:
        for worker in self._running():
            try:
                worker.channel.send(*message(worker))
            except ChannelClosed:
                pass  # it has gone: its link takes care of that

    # --- what a worker sends (in its link thread) --------------------------------

    def _link(self, worker: _Worker) -> None:
        while True:
            try:
                message, _ = worker.channel.receive()
            except ChannelClosed:
                break
            try:
                self._handle(worker, message)
            except Exception:
                log.exception("error handling %r from ingest worker %d", message[0],
                              worker.number + 1)
        self._ended(worker)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "store":
            self._store(worker, message[1], message[2])
        elif kind == "durable":
            self._archive.durable(message[1])
        elif kind == "event":
            self._count_associations(worker, message[1])
            self._bridge.post(self._on_event, message[1])
        elif kind == "log":
            _, name, level, text, fields, created, association = message
            record = logging.makeLogRecord({
                "name": name, "levelno": level, "levelname": logging.getLevelName(level),
                "msg": text, "created": created, "fields": fields,
                "association": association})
            logging.getLogger(name).handle(record)
        elif kind == "ready":
            worker.token = message[1]

    def _store(self, worker: _Worker, number: int, staged: StagedInstance) -> None:
        try:
            commit = self._archive.commit_staged(staged)
        except ValueError as exc:
            log.warning("ingest worker %d: %s", worker.number + 1, exc)
            self._answer(worker, number, None)
            return
        with self._lock:
            worker.outstanding.add(commit)
        commit.add_done_callback(partial(self._answer, worker, number))

    def _answer(self, worker: _Worker, number: int,
                commit: Future[StoreResult] | None) -> None:
        """Tell the worker how its instance's commit went (in the writer's thread)."""
        if commit is None:
            outcome: Any = ("not a staging file", False, False, True)
        else:
            with self._lock:
                worker.outstanding.discard(commit)
            try:
                outcome = commit.result()
            except Exception as exc:
                failure = commit_failure(exc)
                outcome = (str(failure), failure.out_of_space, failure.too_large,
                           failure.invalid)
        try:
            worker.channel.send("stored", number, outcome)
        except ChannelClosed:
            pass  # it has gone; its peer got no success

    def _count_associations(self, worker: _Worker, event: NodeEvent) -> None:
        if not isinstance(event, AssociationEvent) or not event.association:
            return
        with self._lock:
            if event.kind == "accepted":
                worker.active[event.association] = event
            elif worker.active.pop(event.association, None) is None:
                return
            total = sum(len(w.active) for w in self._workers if w is not None)
        self._broadcast(lambda w: ("elsewhere", total - len(w.active)))

    def _ended(self, worker: _Worker) -> None:
        """A worker's channel closed: it ended, or is ending."""
        try:
            code = worker.process.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            code = worker.process.wait()
        worker.channel.close()
        with self._lock:
            if self._workers[worker.number] is worker:
                self._workers[worker.number] = None
            lost = list(worker.active.values())
            worker.active.clear()
            outstanding = list(worker.outstanding)
        for event in lost:
            self._bridge.post(self._on_event, replace(
                event, time=datetime.now(), kind="aborted",
                detail="connection lost: its ingest worker process ended"))
        if lost:
            self._broadcast(lambda w: ("elsewhere", sum(
                len(o.active) for o in self._running() if o is not w)))
        # What it handed over is committed or refused by the writer; then
        # whatever else it staged is of no use.
        concurrent.futures.wait(outstanding, timeout=COMMIT_TIMEOUT)
        if worker.token:
            self._archive.remove_staged_by(worker.token)
        if self._stopping:
            return
        log.warning("ingest worker %d (process %d) ended unexpectedly (%s); starting another",
                    worker.number + 1, worker.process.pid, _exit_status(code))
        pause = RESTART_PAUSE if time.monotonic() - worker.started < SHORT_LIFE else 0
        self._bridge.loop.call_soon_threadsafe(
            self._bridge.loop.call_later, pause, self._spawn, worker.number)


def _exit_status(code: int) -> str:
    if code < 0:
        return f"signal {-code}"
    return f"exit status {code}"
