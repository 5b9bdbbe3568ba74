"""The node: the archive and the DICOM server, run by ``tui-pacs serve`` and by the app.

API (everything on the event loop; imports neither Textual nor anything that does)::

    node = Node(settings)
    await node.start()          # opens the archive (node.archive), starts listening
    await node.listen_again()   # when the port could not be bound at start
    node.status                 # NodeStatus snapshot: listening, listen_error, counters
    node.health                 # StatusService: the report `tui-pacs status` and the app show
    unsubscribe = node.subscribe(callback)
    node.apply_settings(new)    # access, modalities, forwarding, retention: live
    node.forwarder              # the forwarding queue's sender (services/forwarder.py)
    await node.stop()           # stop accepting, finish operations, close the archive

While it runs, the node keeps the archive within ``[retention]``
(services/retention.py).

``start()`` raises :class:`~tui_pacs.store.archive.ArchiveError` when the
data directory cannot be used. A port that cannot be bound (in use,
permission denied) or unusable TLS files do not raise: the archive stays
open and ``node.status.listen_error`` holds one line saying why, so the app
can still open and show it (``tui-pacs serve`` exits with status 1).

While it runs, the node answers ``tui-pacs status`` on ``status.sock`` in
the data directory (:mod:`tui_pacs.services.status_socket`).

``subscribe(callback)`` calls ``callback(event)`` on the event loop, never in
a pynetdicom thread, for every
:class:`~tui_pacs.core.events.AssociationEvent` (accepted, rejected,
released, aborted), :class:`~tui_pacs.core.events.OperationEvent` (one per
C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) and
:class:`~tui_pacs.core.events.InstanceStored` (every instance committed to
the archive, by the server or by anything else using ``node.archive``).
Callbacks must be quick: the association threads never wait for them, but
the loop does. It returns a function that unsubscribes.

The node forwards what it receives as ``[[forward]]`` says, from the time
it starts: :class:`~tui_pacs.services.forwarder.Forwarder` sends the
archive's forwarding queue.

``stop()`` stops forwarding first (after the instance in flight; the rest
stays queued), closes the listening sockets, then lets every association
finish the operation in progress (a C-STORE being received is stored and
acknowledged; C-FIND, C-MOVE and C-GET end between responses with status
Cancel) and aborts it; associations still busy after ``timeout`` seconds
(default: limits.dimse_timeout) are aborted outright. The archive closes
last, after its writer has committed everything queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tui_pacs.config import Settings
from tui_pacs.core.events import AssociationEvent, InstanceStored, NodeEvent, OperationEvent
from tui_pacs.core.node_report import ListenAddress
from tui_pacs.core.status import category
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.server.scp import DicomServer, ListenError
from tui_pacs.net.wire.tls import TLSSetupError
from tui_pacs.services.event_log import log_event
from tui_pacs.services.forwarder import Forwarder
from tui_pacs.services.ingest_pool import IngestPool, worker_count
from tui_pacs.services.retention import RetentionKeeper
from tui_pacs.services.status import StatusService
from tui_pacs.services.status_socket import StatusSocket
from tui_pacs.store.archive import Archive, Outcome, StoreResult

log = logging.getLogger(__name__)

Subscriber = Callable[[NodeEvent], None]


@dataclass(frozen=True)
class NodeStatus:
    aet: str
    port: int
    bind: str
    # The TLS port when TLS is on (equal to ``port`` when TLS replaces plain DICOM).
    tls_port: int | None
    listening: bool
    # Why the node is not listening, in one line ("" when it is).
    listen_error: str
    active_associations: int
    # Accepted since the start.
    associations: int
    instances_received: int
    bytes_received: int
    failed_operations: int
    started_at: datetime | None
    # Where it listens (none while it does not).
    listeners: tuple[ListenAddress, ...] = ()

    @property
    def summary(self) -> str:
        """Where the node listens, in a few words (systemd's status line)."""
        where = ", ".join(str(listener) for listener in self.listeners)
        return f"listening on {where} as {self.aet}" if where else "not listening"


class Node:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.archive: Archive | None = None
        self._health: StatusService | None = None
        self._status_socket: StatusSocket | None = None
        self.forwarder: Forwarder | None = None
        # Serving associations in this process, or with worker processes.
        self._server: DicomServer | IngestPool | None = None
        # Events from the association threads to the loop.
        self._bridge: LoopBridge | None = None
        self._retention: RetentionKeeper | None = None
        self._subscribers: list[Subscriber] = []
        self._listening = False
        self._listen_error = ""
        self._started_at: datetime | None = None
        self._associations = 0
        self._instances = 0
        self._bytes = 0
        self._failed = 0
        self._hurry = asyncio.Event()

    @property
    def settings(self) -> Settings:
        return self._settings

    # --- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._settings
        self.archive = await Archive.open(settings.node.data, settings.storage,
                                          settings.limits.max_dataset_mb)
        self.archive.add_listener(self._on_stored)
        self.forwarder = Forwarder(settings, self.archive)
        self.forwarder.start()
        self._retention = RetentionKeeper(self.archive, settings.retention)
        self._retention.start()
        self._started_at = datetime.now()
        bridge = self._bridge = LoopBridge(asyncio.get_running_loop())
        workers = worker_count(settings)
        self._server = (IngestPool(settings, self.archive, bridge, self._dispatch, workers)
                        if workers > 1 else DicomServer(settings, self.archive, bridge,
                                                        self._dispatch))
        self._health = StatusService(self.archive, settings, self)
        self._health.contribute("retention", self._retention.section)
        self._health.contribute("forwarding", self.forwarder.section)
        if isinstance(self._server, IngestPool):
            self._health.contribute("ingest", self._server.section)
        self._health.start()
        self._status_socket = StatusSocket(settings.node.data,
                                           {"status": self._answer_status})
        await self._status_socket.start()
        await self.listen_again()

    @property
    def health(self) -> StatusService:
        """How the node is doing (after start())."""
        if self._health is None:
            raise RuntimeError("the node is not started")
        return self._health

    async def _answer_status(self, request: dict[str, object]) -> dict[str, object]:
        return (await self.health.report()).to_json()

    async def listen_again(self) -> bool:
        """Try to listen, as start() did: True when the node listens now.

        For a port that was busy at start (another node, a previous run still
        closing): the app retries when asked, without a restart. Does nothing
        while the node listens or after stop().
        """
        server = self._server
        if server is None or self._listening:
            return self._listening
        try:
            listeners = await (server.start() if isinstance(server, IngestPool)
                               else asyncio.to_thread(server.start))
        except (ListenError, TLSSetupError) as exc:
            self._listen_error = str(exc)
            return False
        self._listen_error = ""
        self._listening = True
        for listener in listeners:
            log.info("listening on %s:%d%s as %s", listener.address, listener.port,
                     " (TLS)" if listener.tls else "", self._settings.node.aet)
        return True

    async def stop(self, timeout: float | None = None) -> None:
        if self.forwarder is not None:
            await self.forwarder.stop()
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.stop_accepting)
            self._listening = False
            await self._drain(server, self._settings.limits.dimse_timeout
                              if timeout is None else timeout)
        # The last events of the associations, and the last instances stored,
        # are told now: their loop's timers may not fire again.
        if self._bridge is not None:
            self._bridge.flush()
        if self.archive is not None:
            self.archive.notify_now()
        retention, self._retention = self._retention, None
        if retention is not None:
            await retention.stop()
        if self._status_socket is not None:
            await self._status_socket.close()
            self._status_socket = None
        if self._health is not None:
            self._health.stop()
        if self.archive is not None:
            self.archive.remove_listener(self._on_stored)
            await self.archive.close()

    async def _drain(self, server: DicomServer | IngestPool, timeout: float) -> None:
        """Let associations finish their operation in progress, then end them."""
        deadline = time.monotonic() + timeout
        while True:
            server.request_stop()
            if not server.busy():
                return
            if time.monotonic() >= deadline or self._hurry.is_set():
                log.warning("aborting %d association(s) still busy",
                            len(server.active_peers()))
                await asyncio.to_thread(server.abort_all)
                return
            await asyncio.sleep(0.05)

    def active_peers(self) -> list[str]:
        """Who the running associations are with ("CT3 at 127.0.0.1"), to say what
        stopping the node would end."""
        server = self._server
        return server.active_peers() if server is not None else []

    def hurry_stop(self) -> None:
        """Make a running stop() abort busy associations now instead of waiting."""
        self._hurry.set()

    def apply_settings(self, settings: Settings) -> bool:
        """Use new settings; True when some changes need a restart of the node.

        Access rules, modalities and forwarding apply from the next request
        on (the forwarding queue's next batch), retention limits at once; the
        AE title, addresses, ports, limits, TLS, the data directory and the
        storage options (read when the archive opens) at the next start.
        """
        restart = (settings.node != self._settings.node or settings.tls != self._settings.tls
                   or settings.limits != self._settings.limits
                   or settings.storage != self._settings.storage)
        self._settings = settings
        if self._server is not None:
            self._server.update(settings)
        if self._retention is not None:
            self._retention.update(settings.retention)
        if self.forwarder is not None:
            self.forwarder.apply_settings(settings)
        return restart

    # --- state and events ---------------------------------------------------------------

    @property
    def status(self) -> NodeStatus:
        node, tls = self._settings.node, self._settings.tls
        server = self._server
        return NodeStatus(
            aet=node.aet,
            port=node.port,
            bind=node.bind,
            tls_port=(tls.port or node.port) if tls.enabled else None,
            listening=self._listening,
            listen_error=self._listen_error,
            active_associations=len(server.active_peers()) if server else 0,
            associations=self._associations,
            instances_received=self._instances,
            bytes_received=self._bytes,
            failed_operations=self._failed,
            started_at=self._started_at,
            listeners=tuple(ListenAddress(listener.address, listener.port, listener.tls)
                            for listener in server.listeners) if server and self._listening
            else (),
        )

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _on_stored(self, result: StoreResult) -> None:
        self._dispatch(InstanceStored(datetime.now(), result.record,
                                      replaced=result.outcome is Outcome.REPLACED))

    def _dispatch(self, event: NodeEvent) -> None:
        """On the loop: count, log, and tell every subscriber."""
        if isinstance(event, OperationEvent):
            if category(event.status) == "failure":
                self._failed += 1
            elif event.service == "C-STORE":
                self._instances += event.counts.get("instances", 0)
                self._bytes += event.counts.get("bytes", 0)
            log_event(event)
        elif isinstance(event, AssociationEvent):
            if event.kind == "accepted":
                self._associations += 1
            log_event(event)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("a node event subscriber failed")

