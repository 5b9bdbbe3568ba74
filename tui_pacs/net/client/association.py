"""Opening an association to a remote node, or saying which step failed and why.

Blocking code, run in a worker thread. The steps a connection goes through
are told apart so a person knows what to fix: name resolution, the TCP
connection (refused, timed out, unreachable), the association (rejected with
its source and reason, aborted, closed, unanswered), and the presentation
contexts (the service asked for not accepted).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from tui_pacs.config import LimitsConfig, TLSConfig
from tui_pacs.core import diagnosis
from tui_pacs.core.remote import Connection, RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.net.wire.ae import NODELAY_HANDLERS, make_ae
from tui_pacs.net.wire.pynetdicom_adapter import abort_received, request_association
from tui_pacs.net.wire.tls import TLSSetupError, client_context

T = TypeVar("T")

# Pauses before asking a busy remote again (about 2 s in all). A remote that
# takes few associations still counts the one we released a moment ago
# until its own thread for it has ended.
BUSY_RETRY_DELAYS = (0.1, 0.3, 0.6, 1.0)


@dataclass(frozen=True)
class Session:
    """Who calls whom, and how patiently: what every operation needs to connect."""

    target: Target
    calling_aet: str
    limits: LimitsConfig
    # Overrides the connection, ACSE and DIMSE timeouts for this operation.
    timeout: float | None = None
    tls: TLSConfig | None = None

    @property
    def connect_timeout(self) -> float:
        return self.timeout or self.limits.acse_timeout

    @property
    def dimse_timeout(self) -> float:
        return self.timeout or self.limits.dimse_timeout


class Abortable(Protocol):
    """An association, pynetdicom's or one of :mod:`tui_pacs.net.client.upper_layer`.

    Those that carry cancellable requests (C-FIND, C-MOVE, C-GET) also have
    ``send_c_cancel(message_id, query_model=...)``.
    """

    is_established: bool

    def abort(self) -> None: ...


class Cancellation:
    """Lets the asyncio side stop an operation that runs in a worker thread.

    ``request()`` sends a C-CANCEL for the C-FIND, C-MOVE or C-GET in
    progress (cheap, safe from the event loop); ``abort()`` aborts the
    association (blocking: call it from a thread) when the remote does not
    honour the cancel. An operation that uses several associations gives
    each a :meth:`branch`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._assoc: Abortable | None = None
        self._pending: tuple[int, str] | None = None
        self._branches: list[Cancellation] = []

    @property
    def requested(self) -> bool:
        return self._requested

    def attach(self, assoc: Abortable) -> None:
        with self._lock:
            self._assoc = assoc

    def started(self, message_id: int, query_model: str) -> None:
        """A cancellable request is in progress on the attached association."""
        with self._lock:
            self._pending = (message_id, query_model)
            late = self._requested
        if late:
            self._send_cancel()

    def finished(self) -> None:
        with self._lock:
            self._pending = None

    def branch(self) -> Cancellation:
        """The cancellation of one more association of this operation: requested
        and aborted with this one."""
        child = Cancellation()
        with self._lock:
            self._branches.append(child)
            late = self._requested
        if late:
            child.request()
        return child

    def request(self) -> None:
        with self._lock:
            self._requested = True
            branches = list(self._branches)
        self._send_cancel()
        for branch in branches:
            branch.request()

    def abort(self) -> None:
        with self._lock:
            assoc, branches = self._assoc, list(self._branches)
        if assoc is not None and assoc.is_established:
            assoc.abort()
        for branch in branches:
            branch.abort()

    def _send_cancel(self) -> None:
        with self._lock:
            assoc, pending = self._assoc, self._pending
        send_c_cancel = getattr(assoc, "send_c_cancel", None)
        if send_c_cancel is None or pending is None or assoc is None or not assoc.is_established:
            return
        try:
            send_c_cancel(pending[0], query_model=pending[1])
        except (RuntimeError, ValueError):
            pass  # the association ended meanwhile: nothing left to cancel


class Cancelled(Exception):
    """The operation stopped because it was cancelled."""


def resolve(target: Target) -> tuple[str, float]:
    """The address ``target.host`` stands for, and how long resolving it took."""
    try:
        ipaddress.ip_address(target.host)
        return target.host, 0.0
    except ValueError:
        pass
    started = time.perf_counter()
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise RemoteFailure(diagnosis.name_not_resolved(target, reason or str(exc))) from None
    return str(infos[0][4][0]), time.perf_counter() - started


def connect_tcp(target: Target, address: str, timeout: float) -> socket.socket:
    """A TCP connection with TCP_NODELAY; raises RemoteFailure saying why it failed."""
    try:
        sock = socket.create_connection((address, target.port), timeout=timeout)
    except ConnectionRefusedError:
        raise RemoteFailure(diagnosis.connection_refused(target, address)) from None
    except TimeoutError:
        raise RemoteFailure(diagnosis.connection_timed_out(target, address, timeout)) from None
    except OSError as exc:  # no route, network down, address not available...
        reason = exc.strerror or str(exc)
        raise RemoteFailure(diagnosis.network_unreachable(target, address, reason)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def probe_tcp(target: Target, address: str, timeout: float) -> float:
    """Open and close a TCP connection: how long it took, or RemoteFailure."""
    started = time.perf_counter()
    connect_tcp(target, address, timeout).close()
    return time.perf_counter() - started


def wrap_tls(sock: socket.socket, session: Session) -> ssl.SSLSocket:
    """The TLS handshake on a connected socket, or RemoteFailure saying why it failed."""
    try:
        context, host = _tls_args(session)
        return context.wrap_socket(sock, server_hostname=host)
    except RemoteFailure:
        sock.close()
        raise
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise RemoteFailure(diagnosis.tls_failed(session.target, str(reason))) from None


class _Watch:
    """Notes what happened while an association was being opened."""

    def __init__(self) -> None:
        self.connected_at: float | None = None
        # The source and reason of an A-ABORT the remote sent.
        self.abort: tuple[int, int] | None = None

    def on_open(self, event: evt.Event) -> None:
        self.connected_at = time.perf_counter()

    def on_pdu(self, event: evt.Event) -> None:
        self.abort = abort_received(event) or self.abort

    @property
    def handlers(self) -> list[Any]:
        return [(evt.EVT_CONN_OPEN, self.on_open), (evt.EVT_PDU_RECV, self.on_pdu)]


def open_association(
    session: Session,
    contexts: Sequence[PresentationContext],
    *,
    ext_neg: list[Any] | None = None,
    evt_handlers: list[Any] | None = None,
    cancellation: Cancellation | None = None,
) -> tuple[Association, Connection]:
    """An established association proposing ``contexts``, or RemoteFailure."""
    target = session.target
    address, resolve_seconds = resolve(target)
    ae = make_ae(session.calling_aet, session.limits)
    ae.connection_timeout = session.connect_timeout
    ae.acse_timeout = session.connect_timeout
    ae.dimse_timeout = session.dimse_timeout
    watch = _Watch()
    started = time.perf_counter()
    assoc = request_association(
        ae, address, target.port, contexts, ae_title=target.aet, ext_neg=ext_neg or (),
        evt_handlers=[*NODELAY_HANDLERS, *watch.handlers, *(evt_handlers or [])],
        tls_args=_tls_args(session) if target.tls else None,
    )
    ended = time.perf_counter()
    if not assoc.is_established:
        raise RemoteFailure(_why_not(session, assoc, address, watch, ended - started))
    assoc.unbind(evt.EVT_PDU_RECV, watch.on_pdu)
    connected_at = watch.connected_at or started
    accepted = assoc.acceptor
    connection = Connection(
        address=address,
        local_address=str(assoc.requestor.address),
        resolve_seconds=resolve_seconds,
        connect_seconds=connected_at - started,
        associate_seconds=ended - connected_at,
        remote_max_pdu=int(accepted.maximum_length or 0),
        remote_implementation=str(accepted.implementation_version_name or
                                  accepted.implementation_class_uid or ""),
    )
    if cancellation is not None:
        cancellation.attach(assoc)
        if cancellation.requested:
            assoc.abort()
            raise Cancelled()
    return assoc, connection


def when_busy_retry(open_once: Callable[[], T],
                    cancellation: Cancellation | None = None) -> T:
    """``open_once()``, tried again a few times while the remote rejects the
    association as busy. For operations that open associations one after
    another; echo and doctor ask once, since they report what they see."""
    for delay in BUSY_RETRY_DELAYS:
        try:
            return open_once()
        except RemoteFailure as exc:
            if not exc.diagnosis.busy or (cancellation is not None and cancellation.requested):
                raise
        time.sleep(delay)
    return open_once()


def _why_not(session: Session, assoc: Association, address: str, watch: _Watch,
             seconds: float):
    target = session.target
    if watch.connected_at is None:
        # pynetdicom logs the connect error but does not keep it: ask again.
        if target.tls:
            wrap_tls(connect_tcp(target, address, session.connect_timeout), session).close()
        else:
            probe_tcp(target, address, session.connect_timeout)
        return diagnosis.network_unreachable(
            target, address, "the connection failed, then worked on a second try; "
            "the network or the remote is unstable")
    answer = assoc.acceptor.primitive
    if assoc.is_rejected and answer is not None:
        return diagnosis.association_rejected(
            # An A-ASSOCIATE-RJ always carries all three; `or 0` only tells mypy so.
            target, session.calling_aet, int(answer.result or 0),
            int(answer.result_source or 0), int(answer.diagnostic or 0))
    if answer is not None and answer.result == 0x00:
        refusals = [(_service_name(cx.abstract_syntax or ""), int(cx.result or 0))
                    for cx in assoc.rejected_contexts]
        return diagnosis.service_not_accepted(target, refusals)
    if watch.abort is not None:
        return diagnosis.association_aborted(target, *watch.abort)
    if seconds >= session.connect_timeout * 0.9:
        return diagnosis.no_association_answer(target, session.connect_timeout)
    return diagnosis.connection_closed(target)


def _service_name(sop_class: str) -> str:
    from pydicom.uid import UID

    return UID(sop_class).name


def _tls_args(session: Session) -> tuple[ssl.SSLContext, str]:
    """Verify the remote against our CA (or the system's); offer our certificate."""
    try:
        context = client_context(session.tls)
    except TLSSetupError as exc:
        reason = f"our certificates cannot be loaded: {exc}"
        raise RemoteFailure(diagnosis.tls_failed(session.target, reason)) from None
    return context, session.target.host
