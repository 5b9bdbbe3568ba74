"""Ingest worker processes: the node's associations served on every core.

One Python process runs Python in one thread at a time: receiving, checking
and answering the C-STOREs of several modalities at once kept one core busy
and left the other idle. With ``[node] workers`` above 1 (0, the default,
means one per CPU), that many processes serve the node's associations: the
node's own process, which keeps what must be one (the archive's index and
its only writer, the event loop, the app) and accepts every connection
(:class:`~tui_pacs.net.server.acceptor.Acceptor`), and worker processes
(:mod:`tui_pacs.services.ingest_worker`); connections are handed out in
turn (see :class:`IngestPool`). Each worker has a channel
(:mod:`tui_pacs.services.channel`) and a link thread here that takes what it
sends, without waiting for the event loop:

Messages come in batches (``batch``): an instance to commit at once, the
rest with it or within a few milliseconds.

* ``store``: an instance it staged in tmp/ and checked; the archive's writer
  commits it (:meth:`Archive.commit_staged`) and the answer goes back, on
  the socket that came with it, once it is durable and indexed: only then
  does the worker answer its peer.
* ``durable``: the staged file's own fsync is done.
* ``event``: its association and operation events, which the node logs,
  counts and passes on as its own (on the loop). The node keeps count of
  each worker's associations: for the status, and so that
  ``limits.max_associations`` holds for the node as a whole (each worker
  hears how many the others serve).
* ``log``: its log records, logged here.
* ``closed``: a connection it was given is done with.

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
import pickle
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
from tui_pacs.core.node_report import Section
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.server.acceptor import Acceptor
from tui_pacs.net.server.scp import DicomServer, Listener
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
    """How many processes ``[node] workers`` asks for, the node's own included
    (1: the node's alone)."""
    return settings.node.workers or os.cpu_count() or 1


@dataclass(eq=False)
class _Worker:
    number: int
    process: subprocess.Popen
    channel: Channel
    started: float = field(default_factory=time.monotonic)
    # Its staging.PROCESS, once it is ready: the names of its staging files.
    token: str = ""
    # Its running associations: number -> the event that reported them accepted.
    active: dict[int, AssociationEvent] = field(default_factory=dict)
    # Commits of instances it handed over, not yet answered.
    outstanding: set[Future[StoreResult]] = field(default_factory=set)
    # The thread taking what it sends, until it has ended.
    link: threading.Thread = field(default_factory=threading.Thread)
    # (slot, association) of its associations that stored: their studies are
    # held from retention until they end (Archive.commit_staged).
    holders: set[tuple[int, int]] = field(default_factory=set)


class IngestPool:
    """The node's associations served by ``count`` processes: its own (a
    :class:`~tui_pacs.net.server.scp.DicomServer` fed by the acceptor, slot 0)
    and ``count - 1`` worker processes; the same calls as a DicomServer for
    the node. Each process is one core's worth of Python.

    Connections go to the processes in turn, starting again with the node's
    own whenever none is open: a modality sending alone is served without
    the trip over a channel (a quarter more instances per second), several
    at once are spread over the cores, and each process keeps its share of
    a flood of idle connections, the newest. A connection counts as open
    from its hand-off until it is done with (a worker says so: ``closed``),
    not from events that come later. A worker takes connections once it is
    ready."""

    def __init__(self, settings: Settings, archive: Archive, bridge: LoopBridge,
                 on_event: Callable[[NodeEvent], None], count: int) -> None:
        self._settings = settings
        self._archive = archive
        self._bridge = bridge
        self._on_event = on_event
        self._count = count
        self._local = DicomServer(settings, archive, bridge, self._local_event, share=count,
                                  numbers=itertools.count(1, count),
                                  active_elsewhere=self._active_in_workers,
                                  on_connection_end=partial(self._closed, 0))
        # By slot; slot 0 is the node's own process.
        self._workers: list[_Worker | None] = [None] * count
        # The associations served here, as a worker's (_Worker.active).
        self._local_active: dict[int, AssociationEvent] = {}
        # Open connections by slot, and the slot given the last one.
        self._open = [0] * count
        self._last = 0
        self._lock = threading.Lock()
        self._stopping = False
        self._acceptor = Acceptor(settings, self._hand_off)
        self.listeners: list[Listener] = []

    async def start(self) -> list[Listener]:
        """Listen (raise ListenError or TLSSetupError) and start the workers.

        The workers are started from the event loop's thread, whose end (the
        process's) they must not outlive.
        """
        if not self._local.listeners:  # once: start() is tried again when the port was busy
            await asyncio.to_thread(self._local.start, False)
        self.listeners = await asyncio.to_thread(self._acceptor.start)
        for slot in range(1, self._count):
            self._spawn(slot)
        return list(self.listeners)

    def update(self, settings: Settings) -> None:
        self._settings = settings
        self._local.update(settings)
        self._broadcast(lambda worker: ("settings", settings))

    def stop_accepting(self) -> None:
        self._acceptor.stop()

    def request_stop(self) -> None:
        """Ask every association to end once its operation in progress is
        done, and each worker to end then."""
        self._local.request_stop()
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
        self._local.abort_all()
        for worker in self._running():
            try:
                worker.process.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                worker.process.kill()

    def busy(self) -> bool:
        """Whether any association, or any worker, is still running (until
        the node has taken all it sent)."""
        return self._local.busy() or any(worker.link.is_alive() for worker in self._running())

    def active_peers(self) -> list[str]:
        with self._lock:
            elsewhere = [f"{event.calling_aet} at {event.peer}"
                         for worker in self._workers if worker is not None
                         for event in worker.active.values()]
        return self._local.active_peers() + elsewhere

    def _active_in_workers(self) -> int:
        with self._lock:
            return sum(len(worker.active) for worker in self._workers if worker is not None)

    def _local_event(self, event: NodeEvent) -> None:
        """An event of the associations served here (on the loop)."""
        with self._lock:
            changed = _counted(self._local_active, event)
        if changed:
            self._tell_elsewhere()
        self._on_event(event)

    def _tell_elsewhere(self) -> None:
        """Tell each worker how many associations the others serve."""
        with self._lock:
            total = len(self._local_active) + sum(len(w.active) for w in self._workers
                                                  if w is not None)
        self._broadcast(lambda w: ("elsewhere", total - len(w.active)))

    # --- workers -------------------------------------------------------------------

    def _spawn(self, number: int) -> None:
        """Start the worker of slot ``number`` (on the event loop's thread)."""
        if self._stopping:
            return
        channel, theirs = Channel.pair()
        try:
            process = subprocess.Popen(
                # -P: nothing is imported from the working directory.
                [sys.executable, "-P", "-m", "tui_pacs.services.ingest_worker",
                 str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                # Out of the terminal's reach: Ctrl-C, or the hang-up when an
                # SSH connection drops, goes to the node, which stops its workers.
                start_new_session=True)
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
        worker.link = threading.Thread(target=self._link, args=(worker,), daemon=True,
                                       name=f"ingest-worker-{number}")
        with self._lock:
            self._workers[number] = worker
        worker.link.start()

    async def section(self) -> Section:
        """For the node's status report: how many of its processes serve
        connections, and how many are starting (a worker just started or
        replaced; until it is ready the others take its share)."""
        with self._lock:
            serving = 1 + sum(self._serving(slot) for slot in range(1, self._count))
        return Section({"processes": {"serving": serving, "starting": self._count - serving}})

    def _running(self) -> list[_Worker]:
        with self._lock:
            return [worker for worker in self._workers if worker is not None]

    def _hand_off(self, listener: int, client: socket.socket, address: Any) -> None:
        """Give a connection to the next process in turn, this one's when none
        has any open (in the acceptor's thread)."""
        gone: set[int] = set()
        while True:
            with self._lock:
                # The node's own process, then the workers that are ready.
                order = [0, *(slot for slot in range(1, self._count)
                              if slot not in gone and self._serving(slot))]
                following = [slot for slot in order if slot > self._last]
                slot = following[0] if following and any(self._open) else 0
                self._last = slot
                self._open[slot] += 1
                worker = self._workers[slot]
            if worker is None:
                self._local.adopt(listener, client.dup(), address)
                return
            try:
                worker.channel.send("connection", listener, address, fd=client.fileno())
                return
            except ChannelClosed:
                self._closed(slot)
                gone.add(slot)

    def _serving(self, slot: int) -> bool:
        """Whether the worker of ``slot`` is ready and runs (under the lock):
        one still starting would keep a connection waiting that this
        process could serve at once."""
        worker = self._workers[slot]
        return worker is not None and bool(worker.token) and worker.process.poll() is None

    def _closed(self, slot: int) -> None:
        """A connection the process of ``slot`` served is done with."""
        with self._lock:
            self._open[slot] = max(0, self._open[slot] - 1)

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
                message, fd = worker.channel.receive()
            except ChannelClosed:
                break
            # A batch; its last message is the one a file descriptor came with.
            *others, last = message[1]
            for each, each_fd in (*((m, None) for m in others), (last, fd)):
                try:
                    self._handle(worker, each, each_fd)
                except Exception:
                    log.exception("error handling %r from ingest worker %d", each[0],
                                  worker.number)
        self._ended(worker)

    def _handle(self, worker: _Worker, message: tuple[Any, ...], fd: int | None) -> None:
        kind = message[0]
        if kind == "store":
            assert fd is not None  # where to answer comes with it
            # Family and type given: a socket made from a bare descriptor asks
            # the kernel for them, three system calls per instance.
            answers = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0, fileno=fd)
            self._store(worker, message[1], message[2], answers)
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
        elif kind == "closed":
            self._closed(worker.number)
        elif kind == "ready":
            worker.token = message[1]
            log.info("ingest worker %d ready (process %d)", worker.number, worker.process.pid)

    def _store(self, worker: _Worker, staged: StagedInstance, association: int,
               answers: socket.socket) -> None:
        holder = (worker.number, association)
        with self._lock:
            worker.holders.add(holder)
        try:
            commit = self._archive.commit_staged(staged, holder)
        except ValueError as exc:
            log.warning("ingest worker %d: %s", worker.number, exc)
            self._answer(worker, answers, None)
            return
        with self._lock:
            worker.outstanding.add(commit)
        commit.add_done_callback(partial(self._answer, worker, answers))

    def _answer(self, worker: _Worker, answers: socket.socket,
                commit: Future[StoreResult] | None) -> None:
        """Tell the worker's waiting thread how its instance's commit went (in
        the writer's thread): the outcome and the stored file's path (it has
        the record), or why it failed."""
        if commit is None:
            outcome: tuple[Any, ...] = ("not a staging file", False, False, True)
        else:
            with self._lock:
                worker.outstanding.discard(commit)
            try:
                result = commit.result()
                outcome = (result.outcome.value, result.path)
            except Exception as exc:
                failure = commit_failure(exc)
                outcome = (str(failure), failure.out_of_space, failure.too_large,
                           failure.invalid)
        with answers:
            try:
                answers.send(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))
            except OSError:
                pass  # it has gone; its peer got no success

    def _count_associations(self, worker: _Worker, event: NodeEvent) -> None:
        with self._lock:
            changed = _counted(worker.active, event)
        if not changed:
            return
        assert isinstance(event, AssociationEvent)  # only those are counted
        if event.kind != "accepted":
            self._release(worker, (worker.number, event.association))
        self._tell_elsewhere()

    def _release(self, worker: _Worker, holder: tuple[int, int]) -> None:
        """The association ``holder`` stored through has ended: its studies are
        no longer being received."""
        with self._lock:
            worker.holders.discard(holder)
        self._archive.release(holder)

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
                self._open[worker.number] = 0
            lost = list(worker.active.values())
            worker.active.clear()
            outstanding = list(worker.outstanding)
        for event in lost:
            self._bridge.post(self._on_event, replace(
                event, time=datetime.now(), kind="aborted",
                detail="connection lost: its ingest worker process ended"))
        if lost:
            self._tell_elsewhere()
        # What it handed over is committed or refused by the writer; then
        # whatever else it staged is of no use.
        concurrent.futures.wait(outstanding, timeout=COMMIT_TIMEOUT)
        for holder in list(worker.holders):
            self._release(worker, holder)
        if worker.token:
            self._archive.remove_staged_by(worker.token)
        if self._stopping:
            return
        log.warning("ingest worker %d (process %d) ended unexpectedly (%s); starting another",
                    worker.number, worker.process.pid, _exit_status(code))
        pause = RESTART_PAUSE if time.monotonic() - worker.started < SHORT_LIFE else 0
        self._bridge.loop.call_soon_threadsafe(
            self._bridge.loop.call_later, pause, self._spawn, worker.number)


def _counted(active: dict[int, AssociationEvent], event: NodeEvent) -> bool:
    """Keep ``active`` (running associations, by number) up to date with
    ``event``; whether it changed. Connections that never asked for an
    association do not count, as for limits.max_associations in one process."""
    if not isinstance(event, AssociationEvent) or not event.association:
        return False
    if event.kind == "accepted":
        active[event.association] = event
        return True
    return active.pop(event.association, None) is not None


def _exit_status(code: int) -> str:
    if code < 0:
        return f"signal {-code}"
    return f"exit status {code}"
