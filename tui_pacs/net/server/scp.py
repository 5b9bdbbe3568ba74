"""The node's DICOM server: one AE, plain and/or TLS listeners, every service.

:class:`DicomServer` assembles pynetdicom: presentation contexts (C-ECHO,
C-STORE of every storage SOP class in every transfer syntax, C-FIND, C-MOVE
and C-GET in Patient Root and Study Root, the Storage Commitment Push Model),
the service classes of this package (C-ECHO and N-EVENT-REPORT through
pynetdicom handlers; C-STORE, C-FIND, C-MOVE, C-GET and N-ACTION served by
:class:`StoreSCP`, :class:`FindSCP`, :class:`RetrieveSCP` and
:class:`CommitmentSCP` in place of pynetdicom's), the association monitor (access policy, events)
and the tuned association machinery of :mod:`tui_pacs.net.wire.pynetdicom_adapter`.
Everything here blocks; the node (:mod:`tui_pacs.services.node`) calls it
from worker threads.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pynetdicom import DEFAULT_TRANSFER_SYNTAXES, evt, sop_class
from pynetdicom.dimse_primitives import C_FIND, C_GET, C_MOVE, C_STORE, N_ACTION

from tui_pacs.config import Settings
from tui_pacs.core.events import NodeEvent
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.commitment import accept_commitment
from tui_pacs.net.server.association_monitor import AssociationMonitor
from tui_pacs.net.server.commitment_scp import CommitmentSCP
from tui_pacs.net.server.context import ServedArchive, ServerContext
from tui_pacs.net.server.echo_scp import handle_echo
from tui_pacs.net.server.find_scp import FindSCP
from tui_pacs.net.server.retrieve_scp import RetrieveSCP
from tui_pacs.net.server.store_scp import StoreSCP
from tui_pacs.net.wire.ae import NODELAY_HANDLERS, add_storage_scp_contexts, make_ae
from tui_pacs.net.wire.pynetdicom_adapter import (
    TunedAssociation,
    TunedServer,
    configure_pynetdicom,
)
from tui_pacs.net.wire.tls import server_context

log = logging.getLogger(__name__)

QUERY_RETRIEVE_CLASSES = (
    sop_class.PatientRootQueryRetrieveInformationModelFind,
    sop_class.PatientRootQueryRetrieveInformationModelMove,
    sop_class.PatientRootQueryRetrieveInformationModelGet,
    sop_class.StudyRootQueryRetrieveInformationModelFind,
    sop_class.StudyRootQueryRetrieveInformationModelMove,
    sop_class.StudyRootQueryRetrieveInformationModelGet,
)
# How often the accept loop looks for a stop request (seconds).
ACCEPT_POLL = 0.2
# Connections that may wait for their association request, per association
# allowed (the oldest waiting is closed beyond that: see TunedServer).
WAITING_PER_ASSOCIATION = 4


class ListenError(Exception):
    """The node cannot listen; the message is one line for the user."""


@dataclass(frozen=True)
class Listener:
    address: str
    port: int
    tls: bool


class DicomServer:
    """Serves the node's associations, on its own listeners (:meth:`start`),
    or on connections another process accepted (``start(listen=False)``, then
    :meth:`adopt`: an ingest worker process). ``share`` is how many processes
    serve the node's associations together (each keeps its share of the
    connections waiting for their association request); ``numbers`` and
    ``active_elsewhere`` are as for :class:`ServerContext`.
    ``on_connection_end()`` is called once each connection is done with,
    whether it came to an association or not (in its thread)."""

    def __init__(self, settings: Settings, archive: ServedArchive, bridge: LoopBridge,
                 on_event: Callable[[NodeEvent], None], *, share: int = 1,
                 numbers: Iterator[int] | None = None,
                 active_elsewhere: Callable[[], int] = lambda: 0,
                 on_connection_end: Callable[[], None] = lambda: None) -> None:
        self.context = ServerContext(settings, archive, bridge, on_event, numbers,
                                     active_elsewhere)
        self._share = share
        self._on_connection_end = on_connection_end
        self.monitor = AssociationMonitor(self.context)
        self.store = StoreSCP(self.context)
        self.find = FindSCP(self.context)
        self.retrieve = RetrieveSCP(self.context)
        self.commitment = CommitmentSCP(self.context)
        self.listeners: list[Listener] = []
        self._servers: list[TunedServer] = []
        self._threads: list[threading.Thread] = []
        self.ae: Any = None

    # --- starting and stopping (blocking) ------------------------------------------

    def start(self, listen: bool = True) -> list[Listener]:
        """Listen on every configured port (``listen``), or get ready to serve the
        connections :meth:`adopt` is given; raise ListenError (or TLSSetupError)."""
        settings = self.context.settings
        configure_pynetdicom(settings.storage.accept_unknown_sop_classes)
        self.ae = self._make_ae(settings)
        handlers = [
            *NODELAY_HANDLERS,
            *self.monitor.handlers(),
            (evt.EVT_C_ECHO, handle_echo, [self.context]),
            (evt.EVT_N_EVENT_REPORT, self.commitment.handle_report),
        ]
        overrides: dict[type, Any] = {C_STORE: self.store.serve, C_FIND: self.find.serve,
                     C_MOVE: self.retrieve.serve_move, C_GET: self.retrieve.serve_get,
                     N_ACTION: self.commitment.serve_action}
        try:
            for listener, ssl_context in planned_listeners(settings):
                server = self._listen(listener, ssl_context, handlers, overrides, listen)
                self._servers.append(server)
                self.listeners.append(listener)
        except BaseException:
            self.stop_accepting()
            self.listeners.clear()  # start() may be tried again (the port was busy)
            raise
        if not listen:
            return list(self.listeners)
        for server, listener in zip(self._servers, self.listeners):
            thread = threading.Thread(target=server.serve_forever, args=(ACCEPT_POLL,),
                                      name=f"dicom-listener-{listener.port}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return list(self.listeners)

    def update(self, settings: Settings) -> None:
        """Apply new access rules, modalities and storage options to the next
        associations (AE title, ports and TLS need a restart)."""
        self.context.update(settings)
        configure_pynetdicom(settings.storage.accept_unknown_sop_classes)

    def adopt(self, listener: int, client: socket.socket, address: Any) -> None:
        """Serve a connection accepted by another process on ``self.listeners[listener]``."""
        self._servers[listener].adopt(client, address)

    def stop_accepting(self) -> None:
        """Close the listening sockets; running associations go on."""
        for server in self._servers:
            server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def request_stop(self) -> None:
        """Ask every association to end once its current operation is done."""
        self.context.stopping.set()
        for assoc in self.active_associations():
            assoc.request_stop()

    def abort_all(self) -> None:
        for assoc in self.active_associations():
            assoc.abort()

    def active_associations(self) -> list[TunedAssociation]:
        if self.ae is None:
            return []
        return [a for a in self.ae.active_associations
                if isinstance(a, TunedAssociation) and a.is_alive()]

    def busy(self) -> bool:
        """Whether any association is still running."""
        return bool(self.active_associations())

    def active_peers(self) -> list[str]:
        """Who the running associations are with ("CT3 at 127.0.0.1")."""
        return [f"{assoc.requestor.ae_title} at {assoc.requestor.address}"
                for assoc in self.active_associations()]

    # --- assembly --------------------------------------------------------------------

    def _make_ae(self, settings: Settings) -> Any:
        ae = make_ae(settings.node.aet, settings.limits)
        # The access policy enforces limits.max_associations and counts only
        # peers that asked for an association; pynetdicom's own count would
        # include idle connections (see AssociationMonitor.on_requested).
        ae.maximum_associations = sys.maxsize
        for uid in (sop_class.Verification, *QUERY_RETRIEVE_CLASSES):
            ae.add_supported_context(uid, DEFAULT_TRANSFER_SYNTAXES)
        add_storage_scp_contexts(ae, retrieve_roles=True)
        accept_commitment(ae)
        return ae

    def _listen(self, listener: Listener, ssl_context: Any, handlers: list[Any],
                overrides: dict[type, Any], listen: bool) -> TunedServer:
        waiting = WAITING_PER_ASSOCIATION * self.context.settings.limits.max_associations
        try:
            return self.ae.make_server(
                (listener.address, listener.port),
                ssl_context=ssl_context,
                evt_handlers=handlers,
                server_class=TunedServer,
                on_tls_failure=self._tls_failed,
                on_association_end=self._association_ended,
                service_overrides=overrides,
                open_dataset=self.store.open_dataset,
                max_waiting=max(1, waiting // self._share),
                listen=listen,
                inline_services=frozenset({C_STORE}),
            )
        except OSError as exc:
            raise ListenError(listen_problem(listener, exc)) from None

    def _association_ended(self, assoc: Any) -> None:
        try:
            self.monitor.on_end(assoc)
        finally:
            self._on_connection_end()

    def _tls_failed(self, address: Any, exc: Exception) -> None:
        try:
            self.monitor.tls_failed(address, exc)
        finally:
            self._on_connection_end()


def planned_listeners(settings: Settings) -> list[tuple[Listener, Any]]:
    """The node's listeners, each with its TLS context (None for plain DICOM);
    raises TLSSetupError."""
    node, tls = settings.node, settings.tls
    address = "127.0.0.1" if node.bind == "localhost" else node.bind
    planned: list[tuple[Listener, Any]] = []
    if not tls.enabled or tls.port is not None:
        planned.append((Listener(address, node.port, tls=False), None))
    if tls.enabled:
        port = tls.port if tls.port is not None else node.port
        planned.append((Listener(address, port, tls=True), server_context(tls)))
    return planned


def listen_problem(listener: Listener, exc: OSError) -> str:
    """Why the node cannot listen on ``listener``, in one line."""
    where = f"{listener.address}:{listener.port}" + (" (TLS)" if listener.tls else "")
    if exc.errno == errno.EADDRINUSE:
        why = "the port is already in use (another DICOM node, or tui-pacs already running?)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = ("permission denied (ports below 1024 need root or the "
               "CAP_NET_BIND_SERVICE capability)")
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "this machine has no such address (check node.bind)"
    elif isinstance(exc, socket.gaierror):
        why = f"the address cannot be resolved ({exc.strerror})"
    else:
        why = exc.strerror or str(exc)
    return f"cannot listen on {where}: {why}"
