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
import signal
import socket
import sys
import threading
import traceback
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tui_pacs import logs
from tui_pacs.config import Settings
from tui_pacs.core.association_threads import association_of
from tui_pacs.core.events import NodeEvent
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.server.scp import DicomServer
from tui_pacs.services.channel import Channel, ChannelClosed
from tui_pacs.store import db, files
from tui_pacs.store.incoming import IncomingFile
from tui_pacs.store.index import Index, StoredFile
from tui_pacs.store.intake import Intake, StoreFailure
from tui_pacs.store.layout import INDEX_FILE, resolve
from tui_pacs.store.writer import StagedInstance, StoreResult

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class RemoteCommits:
    """The node's writer, over the channel (a :class:`~tui_pacs.store.intake.CommitQueue`)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._numbers = itertools.count(1)
        self._waiting: dict[int, Future[StoreResult]] = {}
        self._lock = threading.Lock()

    def expect(self) -> None:
        """Nothing to announce: the node's writer does not wait for other processes."""

    def unexpect(self) -> None:
        """See :meth:`expect`."""

    def submit(self, staged: StagedInstance) -> Future[StoreResult]:
        commit: Future[StoreResult] = Future()
        with self._lock:
            number = next(self._numbers)
            self._waiting[number] = commit
        try:
            self._channel.send("store", number, staged)
        except ChannelClosed:
            self._settle(number, StoreFailure("the node is gone"))
        return commit

    def durable(self, sop_uid: str) -> None:
        try:
            self._channel.send("durable", sop_uid)
        except ChannelClosed:
            pass  # the row stays pending: the node's next start checks the file

    def stored(self, number: int, outcome: StoreResult | tuple[str, bool, bool, bool]) -> None:
        """The node's answer: the result, or why it failed."""
        if isinstance(outcome, StoreResult):
            self._settle(number, outcome)
            return
        message, out_of_space, too_large, invalid = outcome
        self._settle(number, StoreFailure(message, out_of_space=out_of_space,
                                          too_large=too_large, invalid=invalid))

    def fail_all(self) -> None:
        """The channel closed: nothing waiting will be answered."""
        with self._lock:
            numbers = list(self._waiting)
        for number in numbers:
            self._settle(number, StoreFailure("the node is gone"))

    def _settle(self, number: int, outcome: StoreResult | StoreFailure) -> None:
        with self._lock:
            commit = self._waiting.pop(number, None)
        if commit is None:
            return
        if isinstance(outcome, StoreFailure):
            commit.set_exception(outcome)
        else:
            commit.set_result(outcome)


class WorkerArchive:
    """The archive as the node's services see it, in a worker process: the
    index read over its own connection, instances received through an
    :class:`Intake` that commits with the node's writer."""

    def __init__(self, settings: Settings, index: Index, commits: RemoteCommits) -> None:
        self.data_dir = settings.node.data
        self.index = index
        self._intake = Intake(self.data_dir, settings.storage, settings.limits.max_dataset_mb,
                              commits, on_committed=lambda result: None)

    def receive(self, sop_class: str, sop_instance: str, transfer_syntax: str,
                source_aet: str) -> IncomingFile:
        return self._intake.receive(sop_class, sop_instance, transfer_syntax, source_aet)

    def store_incoming(self, incoming: IncomingFile, transfer_syntax: str,
                       source_aet: str) -> StoreResult:
        return self._intake.store_incoming(incoming, transfer_syntax, source_aet)

    def store_received(self, dataset: bytes | memoryview, transfer_syntax: str,
                       source_aet: str) -> StoreResult:
        return self._intake.store_received(dataset, transfer_syntax, source_aet)

    def path_of(self, stored: StoredFile | str) -> Path:
        relpath = stored.path if isinstance(stored, StoredFile) else stored
        return resolve(self.data_dir, relpath)


class ForwardedLog(logging.Handler):
    """Sends each log record to the node, with the association its thread
    serves (the node's log, and the app's rows, show it as their own)."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        try:
            self._channel.send("log", record.name, record.levelno, message[:65_536],
                               getattr(record, "fields", None), record.created,
                               association_of(record.thread))
        except (ChannelClosed, ValueError):
            pass  # nowhere to say it


class _DirectPosts(LoopBridge):
    """Events go straight to the channel from the association's thread (a
    send is quick and thread-safe); queries still run on the worker's loop."""

    def post(self, callback: Any, *args: Any) -> None:
        callback(*args)


class Worker:
    def __init__(self, channel: Channel, settings: Settings, number: int, count: int) -> None:
        self.channel = channel
        self.settings = settings
        self.number = number
        self.count = count
        self.commits = RemoteCommits(channel)
        self.server: DicomServer | None = None
        self.elsewhere = 0
        self.hurry = False
        self._loop: asyncio.AbstractEventLoop
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        reader = await db.connect_reader(self.settings.node.data / INDEX_FILE)
        try:
            archive = WorkerArchive(self.settings, Index(reader), self.commits)
            self.server = DicomServer(
                self.settings, archive, _DirectPosts(self._loop), self._forward_event,
                share=self.count, numbers=itertools.count(self.number, self.count),
                active_elsewhere=lambda: self.elsewhere)
            self.server.start(listen=False)
            self.channel.send("ready", files.PROCESS)
            threading.Thread(target=self._read, name="node-channel", daemon=True).start()
            await self._stop.wait()
            await self._drain(self.server)
        finally:
            await reader.close()
        self.channel.send("stopped")

    def _forward_event(self, event: NodeEvent) -> None:
        try:
            self.channel.send("event", event)
        except ChannelClosed:
            pass

    def _read(self) -> None:
        """Take the node's messages (in a thread of its own)."""
        while True:
            try:
                message, fd = self.channel.receive()
            except ChannelClosed:
                # The node has gone: nothing here may outlive it.
                self.commits.fail_all()
                os._exit(1)
            try:
                self._handle(message, fd)
            except Exception:
                log.exception("ingest worker: error handling %r", message[0])

    def _handle(self, message: tuple[Any, ...], fd: int | None) -> None:
        kind = message[0]
        server = self.server
        assert server is not None  # the channel is read once the server is ready
        if kind == "stored":
            self.commits.stored(message[1], message[2])
        elif kind == "connection":
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
    logs.configure(debug=debug, handler=ForwardedLog(channel))
    # The node stops its workers itself: a Ctrl-C at its terminal, or the
    # SIGTERM systemd sends to each of its processes, must not cut an
    # association in half here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        asyncio.run(Worker(channel, settings, number, count).run())
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
