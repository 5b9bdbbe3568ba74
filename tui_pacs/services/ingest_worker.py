"""An ingest worker process: serves associations the node accepted.

Started by the node (:mod:`tui_pacs.services.ingest_pool`) as
``python -m tui_pacs.services.ingest_worker FD PID``, FD being its end of
the channel (:mod:`tui_pacs.services.channel`) and PID the node's process.
It runs the node's services as they are
(:class:`~tui_pacs.net.server.scp.DicomServer`: the same access policy, the
same C-STORE path, C-FIND, C-MOVE and C-GET over its own read-only
connection to the index) on each connection the node hands it, with two
differences:

* a received instance is staged and checked here
  (:class:`~tui_pacs.store.intake.Intake`), then committed by the node's
  writer: the instance goes over the channel, and the peer gets its answer
  once the node says the instance is durable and indexed;
* its association and operation events and its log records go to the node,
  which logs, counts and shows them as its own.

It dies with the node (PR_SET_PDEATHSIG, and the channel closing): a worker
must never outlive the process that owns the archive's index.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from tui_pacs import logs
from tui_pacs.config import Settings
from tui_pacs.core.association_threads import association_of
from tui_pacs.core.events import AssociationEvent, NodeEvent
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.server.scp import DicomServer
from tui_pacs.services.channel import Channel, ChannelClosed
from tui_pacs.store import db, staging
from tui_pacs.store.incoming import IncomingFile
from tui_pacs.store.index import Index, StoredFile
from tui_pacs.store.intake import Intake, Router, StoreFailure
from tui_pacs.store.layout import INDEX_FILE, resolve
from tui_pacs.store.writer import Outcome, StagedInstance, StoreResult

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# The longest answer the node gives about a commit (why it failed, in a sentence).
MAX_ANSWER = 65_536


class Outbox:
    """What the worker tells the node, sent in batches: each instance to
    commit goes at once, with whatever else waited (events, log records,
    fsyncs done); the rest within FLUSH_DELAY. A message, a wake-up of the
    node's link thread and of this one's: per batch, not per instance."""

    FLUSH_DELAY = 0.05

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._waiting: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._due = threading.Event()
        threading.Thread(target=self._flush_now_and_then, name="node-outbox",
                         daemon=True).start()

    def send(self, *message: Any, fd: int | None = None) -> None:
        """Send ``message`` now, after what waited (with ``fd``, for
        ``message``); raises ChannelClosed."""
        with self._lock:
            batch, self._waiting = self._waiting, []
            batch.append(message)
            self._channel.send("batch", batch, fd=fd)

    def post(self, *message: Any) -> None:
        """Send ``message`` soon."""
        with self._lock:
            self._waiting.append(message)
        self._due.set()

    def _flush_now_and_then(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.FLUSH_DELAY)
            self._due.clear()
            with self._lock:
                batch, self._waiting = self._waiting, []
                try:
                    if batch:
                        self._channel.send("batch", batch)
                except ChannelClosed:
                    return


class RemoteCommits:
    """The node's writer, over the channel (a :class:`~tui_pacs.store.intake.CommitQueue`).

    Each thread that hands instances over has a socket pair of its own for
    the answers: one end goes with each instance (the node answers on it and
    closes its copy), the thread waits on the other. The answer wakes the
    thread that waits for it, and no other (a thread reading the channel
    for everyone, and waking each waiting thread in turn, was a third of
    the worker's time on a busy machine).
    """

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._threads = threading.local()

    def expect(self) -> None:
        """Nothing to announce: the node's writer does not wait for other processes."""

    def unexpect(self) -> None:
        """See :meth:`expect`."""

    def submit(self, staged: StagedInstance) -> PendingCommit:
        answers = getattr(self._threads, "answers", None)
        if answers is None or answers[0].fileno() == -1:  # none yet, or given up
            answers = self._threads.answers = socket.socketpair(socket.AF_UNIX,
                                                                socket.SOCK_SEQPACKET)
        ours, theirs = answers
        try:
            # With the association it came on: its study is held from
            # retention until that association ends.
            self._outbox.send("store", staged, association_of(threading.get_ident()),
                              fd=theirs.fileno())
        except ChannelClosed:
            return PendingCommit(staged, None)
        return PendingCommit(staged, ours)

    def durable(self, sop_uid: str) -> None:
        # Lost if the worker dies first: the row stays pending, and the node's
        # next start checks the file against its checksum.
        self._outbox.post("durable", sop_uid)


class PendingCommit:
    """An instance handed to the node's writer; :meth:`result` waits for the answer."""

    def __init__(self, staged: StagedInstance, answers: socket.socket | None) -> None:
        self._staged = staged
        self._answers = answers

    def result(self, timeout: float | None = None) -> StoreResult:
        """The committed instance; raises StoreFailure, or TimeoutError."""
        if self._answers is None:
            raise StoreFailure("the node is gone")
        self._answers.settimeout(timeout)
        try:
            answer = self._answers.recv(MAX_ANSWER)
        except TimeoutError:
            self._answers.close()  # a late answer must not be taken for the next one
            raise
        except OSError:
            answer = b""
        if not answer:
            raise StoreFailure("the node is gone")
        outcome = pickle.loads(answer)
        if len(outcome) == 2:
            value, relpath = outcome
            return StoreResult(Outcome(value), self._staged.record, str(relpath))
        message, out_of_space, too_large, invalid = outcome
        raise StoreFailure(str(message), out_of_space=bool(out_of_space),
                           too_large=bool(too_large), invalid=bool(invalid))


class WorkerArchive:
    """The archive as the node's services see it, in a worker process: the
    index read over its own connection, instances received through an
    :class:`Intake` that commits with the node's writer."""

    def __init__(self, settings: Settings, index: Index, commits: RemoteCommits) -> None:
        self.data_dir = settings.node.data
        self.index = index
        # The node tells its archive's listeners, and holds the study
        # (Archive.commit_staged).
        self._intake = Intake(self.data_dir, settings.storage, settings.limits.max_dataset_mb,
                              commits, on_committed=lambda result: None,
                              on_receiving=lambda study_uid: None)

    def receive(self, sop_class: str, sop_instance: str, transfer_syntax: str,
                source_aet: str) -> IncomingFile:
        return self._intake.receive(sop_class, sop_instance, transfer_syntax, source_aet)

    def store_incoming(self, incoming: IncomingFile, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult:
        return self._intake.store_incoming(incoming, transfer_syntax, source_aet, route)

    def store_received(self, dataset: bytes | memoryview, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult:
        return self._intake.store_received(dataset, transfer_syntax, source_aet, route)

    def path_of(self, stored: StoredFile | str) -> Path:
        relpath = stored.path if isinstance(stored, StoredFile) else stored
        return resolve(self.data_dir, relpath)


class ForwardedLog(logging.Handler):
    """Sends each log record to the node, with the association its thread
    serves (the node's log, and the app's rows, show it as their own);
    warnings and errors at once."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        message = logs.message_of(record)
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        forwarded = ("log", record.name, record.levelno, message[:65_536],
                     getattr(record, "fields", None), record.created,
                     association_of(record.thread))
        if record.levelno < logging.WARNING:
            self._outbox.post(*forwarded)
            return
        try:
            self._outbox.send(*forwarded)
        except (ChannelClosed, ValueError):
            pass  # nowhere to say it


class _DirectPosts(LoopBridge):
    """Events go straight to the channel from the association's thread (a
    send is quick and thread-safe); queries still run on the worker's loop."""

    def post(self, callback: Any, *args: Any) -> None:
        callback(*args)


class Worker:
    def __init__(self, channel: Channel, outbox: Outbox, settings: Settings, number: int,
                 count: int) -> None:
        self.channel = channel
        self.outbox = outbox
        self.settings = settings
        self.number = number
        self.count = count
        self.commits = RemoteCommits(outbox)
        self.server: DicomServer | None = None
        self.elsewhere = 0
        self.hurry = False
        self._loop: asyncio.AbstractEventLoop
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        index_path = self.settings.node.data / INDEX_FILE
        reader = await db.connect_reader(index_path)
        try:
            archive = WorkerArchive(self.settings, Index(reader, index_path), self.commits)
            self.server = DicomServer(
                self.settings, archive, _DirectPosts(self._loop), self._forward_event,
                share=self.count, numbers=itertools.count(self.number, self.count),
                active_elsewhere=lambda: self.elsewhere, on_connection_end=self._closed)
            self.server.start(listen=False)
            self.outbox.send("ready", staging.PROCESS)
            threading.Thread(target=self._read, name="node-channel", daemon=True).start()
            await self._stop.wait()
            await self._drain(self.server)
        finally:
            await reader.close()
        self.outbox.send("stopped")

    def _closed(self) -> None:
        # At once: the node starts its turns again once no connection is open.
        try:
            self.outbox.send("closed")
        except ChannelClosed:
            pass

    def _forward_event(self, event: NodeEvent) -> None:
        # An association's operations are told in batches; that it began or
        # ended, and so everything before, at once.
        if isinstance(event, AssociationEvent):
            try:
                self.outbox.send("event", event)
            except ChannelClosed:
                pass
        else:
            self.outbox.post("event", event)

    def _read(self) -> None:
        """Take the node's messages (in a thread of its own)."""
        while True:
            try:
                message, fd = self.channel.receive()
            except ChannelClosed:
                os._exit(1)  # the node has gone: nothing here may outlive it
            try:
                self._handle(message, fd)
            except Exception:
                log.exception("ingest worker: error handling %r", message[0])

    def _handle(self, message: tuple[Any, ...], fd: int | None) -> None:
        kind = message[0]
        server = self.server
        assert server is not None  # the channel is read once the server is ready
        if kind == "connection":
            assert fd is not None  # it comes with the connection
            _, listener, address = message
            server.adopt(listener, socket.socket(fileno=fd), address)
        elif kind == "elsewhere":
            self.elsewhere = message[1]
        elif kind == "settings":
            self.settings = message[1]
            server.update(self.settings)
        elif kind == "stop":
            self._loop.call_soon_threadsafe(self._stop.set)
        elif kind == "hurry":
            self.hurry = True

    async def _drain(self, server: DicomServer) -> None:
        """As the node does in one process: let each association finish the
        operation in progress, then end it; abort them all when the node
        says so (its stop timed out, or was hurried)."""
        while True:
            server.request_stop()
            if not server.busy():
                return
            if self.hurry:
                await asyncio.to_thread(server.abort_all)
                return
            await asyncio.sleep(0.05)


def main(argv: list[str]) -> int:
    _die_with_parent(int(argv[2]))
    channel = Channel(socket.socket(fileno=int(argv[1])))
    message, _ = channel.receive()
    _, settings, number, count, debug = message
    outbox = Outbox(channel)
    logs.configure(debug=debug, handler=ForwardedLog(outbox))
    # The node stops its workers itself: the SIGTERM systemd sends to each of
    # its processes, or a signal sent to its whole group (a reload's SIGHUP
    # too), must not cut an association in half here.
    for each in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(each, signal.SIG_IGN)
    try:
        asyncio.run(Worker(channel, outbox, settings, number, count).run())
    except ChannelClosed:
        return 1
    except Exception:
        log.exception("ingest worker %d stopped on an error", number)
        return 1
    return 0


def _die_with_parent(parent: int) -> None:
    """Be killed when the node's process ends, however it ends (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the channel closing ends the worker too
    if os.getppid() != parent:
        os._exit(1)  # the node died before the signal was armed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
