"""pynetdicom's association machinery, made to wait on events instead of polling.

pynetdicom 3.0 runs each association in two threads, and both poll: the
upper layer (DUL) reactor sleeps 1 ms whenever it finds nothing to do, and
the association reactor sleeps 1 ms on every turn before it looks for a
received DIMSE message. It reads the socket 4 KiB per call into a growing
buffer and copies each PDU three times more before decoding, and it
deep-copies the acceptor's presentation contexts for every association
(0.1 s with every storage SOP class in every transfer syntax). Profiled with
py-spy, pynetdicom alone took 2.6 s of CPU to receive 500 CT images.

The classes here keep pynetdicom's state machine, service classes, events
and handlers, and change how the threads wait and read:

* :class:`TunedDUL` sleeps in ``select()`` on the socket and on a wake-up
  pipe that :meth:`~TunedDUL.send_pdu` writes to, so it reacts at once to
  data from the peer and to a primitive from the association thread. It
  reads what the peer sent before sending more, so that a C-CANCEL is seen
  while C-FIND responses are queued; reads each PDU into one buffer of the
  announced size (bounded: :func:`pdu_size_limit`); and decodes P-DATA-TF
  PDUs from a memoryview, without copies.
* :class:`TunedAssociation` waits on an event set whenever a DIMSE message
  or an A-RELEASE/A-ABORT primitive is queued for it, instead of sleeping.
  It can be asked to stop between operations (:meth:`request_stop`), which
  is how the node shuts down without cutting a C-STORE in half; it stops
  waiting for an A-ASSOCIATE-RQ as soon as the peer has gone; and it lets
  the node serve some requests itself (``service_overrides``: C-FIND,
  C-MOVE, C-GET).
* :class:`TunedRequestHandler` sets the network timeout on each accepted
  socket (a peer that stops mid-PDU cannot pin a thread), does the TLS
  handshake in the connection's own thread (pynetdicom does it in the accept
  loop, where one slow client stalls every other) and shares the server's
  presentation contexts instead of copying them.
* :class:`TunedServer` does not block on close: the node decides how long
  to wait for associations to finish.

The reactor loops and the association set-up are copies of pynetdicom
3.0's with those changes; the ``pynetdicom<3.1`` requirement pins them, and
every server test runs through them.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import socket
import socketserver
import ssl
import struct
import threading
import time
from datetime import datetime
from typing import Any, cast

from pynetdicom import evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider
from pynetdicom.fsm import TRANSITION_TABLE
from pynetdicom.pdu import A_ABORT_RQ, P_DATA_TF
from pynetdicom.transport import (
    AssociationSocket,
    RequestHandler,
    ThreadedAssociationServer,
)

from tui_pacs.net.wire.pdv import fragment_size, write_message

LOGGER = logging.getLogger(__name__)

_PDU_TYPES = frozenset(range(0x01, 0x08))
# State machine events that are primitives from our own side (PS3.8 9.2).
_LOCAL_EVENTS = frozenset({"Evt1", "Evt7", "Evt8", "Evt9", "Evt11", "Evt14", "Evt15"})
# The largest PDU read when our maximum PDU size is 0 ("no limit"), and for
# association requests, which come before any size is agreed.
PDU_SIZE_FLOOR = 16 * 1024 * 1024

# Longest sleep of an idle reactor: bounds how late a timer (ARTIM, network
# timeout) is noticed. Data and primitives wake the reactors at once.
IDLE_WAIT = 0.05
# pynetdicom's per-PDU and per-message log handlers (unbind_log_handlers).
_STANDARD_LOG_HANDLERS = (
    (evt.EVT_DIMSE_RECV, standard_dimse_recv_handler),
    (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
    (evt.EVT_PDU_RECV, standard_pdu_recv_handler),
    (evt.EVT_PDU_SENT, standard_pdu_sent_handler),
)


class _SignallingQueue(queue.Queue):
    """A queue that sets ``signal`` whenever something is put on it."""

    def __init__(self, signal: threading.Event) -> None:
        super().__init__()
        self._signal = signal

    def _put(self, item: Any) -> None:
        super()._put(item)
        self._signal.set()


class _UserQueue(_SignallingQueue):
    """The DUL's queue to the association, whose blocking get() gives up early.

    pynetdicom waits up to the ACSE timeout for the A-ASSOCIATE-RQ, even when
    the peer has already closed the connection (a port probe, a health
    check): each such connection would hold a thread, and count against
    max_associations, for 30 s. Here the wait ends as soon as ``give_up()``.
    """

    def __init__(self, signal: threading.Event, give_up: Any) -> None:
        super().__init__(signal)
        self._give_up = give_up

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:
            return super().get(block=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = IDLE_WAIT if deadline is None else min(IDLE_WAIT, deadline - time.monotonic())
            try:
                return super().get(block=True, timeout=max(wait, 0))
            except queue.Empty:
                if self._give_up() or (deadline is not None and time.monotonic() >= deadline):
                    raise


class TunedSocket(AssociationSocket):
    """A PDU is read straight into one buffer, without growing it 4 KiB at a time."""

    def connect(self, primitive: Any) -> None:
        super().connect(primitive)
        if self._is_connected and self.socket is not None:
            # pynetdicom leaves a requested connection without a timeout once
            # it is up: a peer that stops mid-PDU would pin the reactor.
            self.socket.settimeout(self.assoc.network_timeout)

    def read_start(self, view: memoryview) -> int | None:
        """Read the first bytes of a PDU into ``view`` without waiting, once
        select() found the socket readable: how many came (0: the peer closed
        the connection), or None when what made a TLS socket readable was no
        data (a session ticket after the handshake, say), so that the reactor
        does not wait for a PDU while it has one to send."""
        sock = cast(socket.socket, self.socket)
        if not isinstance(sock, ssl.SSLSocket):
            return sock.recv_into(view)
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            return sock.recv_into(view)
        except ssl.SSLWantReadError:
            return None
        finally:
            sock.settimeout(timeout)

    def read_into(self, view: memoryview) -> int:
        """Fill ``view`` from the socket; return how many bytes arrived before
        the peer closed the connection (less than ``len(view)`` if it did)."""
        sock = cast(socket.socket, self.socket)
        filled = 0
        while filled < len(view):
            count = sock.recv_into(view[filled:])
            if not count:
                break
            filled += count
        return filled


class TunedDUL(DULServiceProvider):
    """The upper layer reactor, sleeping in select() until there is work."""

    def __init__(self, assoc: Association) -> None:
        super().__init__(assoc)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._wake_lock = threading.Lock()
        self._wake_closed = False
        self._send_lock = threading.Lock()
        # The peer closed the connection or it failed (Evt17 was queued).
        self.transport_closed = False
        # The peer sent something that is not DICOM (and was told, and logged).
        self._refused = False

    def send_pdu(self, primitive: Any) -> None:
        super().send_pdu(primitive)
        self._wake()

    def send_message(self, context_id: int, command: bytes,
                     dataset: bytes | bytearray | memoryview | None = None) -> None:
        """Write a DIMSE message straight to the socket, from the association's
        thread (see :mod:`tui_pacs.net.wire.pdv`).

        The queue to this thread and the state machine take every PDU one by
        one: an image sent as a C-GET sub-operation crossed them in dozens
        of PDUs. A P-DATA leaves the state where it is, so only the state is
        checked; a lock keeps this thread's own PDUs (A-ABORT, A-RELEASE,
        queued P-DATA) whole. Raises ConnectionError when the association is
        no longer established, OSError when the connection fails.
        """
        with self._send_lock:
            sock = self.socket.socket if self.socket is not None else None
            if sock is None or self.state_machine.current_state != "Sta6":
                raise ConnectionError("the association is not established")
            fragment = fragment_size(int(self.assoc.dimse.maximum_pdu_size or 0))
            write_message(sock, context_id, command, dataset, fragment)

    def _send(self, pdu: Any) -> None:
        with self._send_lock:
            super()._send(pdu)

    def kill_dul(self) -> None:
        super().kill_dul()
        self._wake()

    def stop_dul(self) -> bool:
        if self.state_machine.current_state == "Sta1":
            self._kill_thread = True
            self._wake()
        return super().stop_dul()

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_closed:
                return
            try:
                os.write(self._wake_write, b"\0")
            except BlockingIOError:
                pass  # already full of wake-ups: the reactor will run

    def _idle_wait(self) -> None:
        """Sleep until the peer sends, the association thread queues a primitive,
        or a timer may have run out."""
        wrapper = self.socket
        sock = wrapper.socket if wrapper is not None else None
        if wrapper is None or sock is None or sock.fileno() < 0:
            time.sleep(self._run_loop_delay)
            return
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return  # decrypted bytes already buffered: select() cannot see them
        if not self.to_provider_queue.empty():
            return  # a primitive whose wake-up was already taken
        # A requestor's socket is not connected until the A-ASSOCIATE request
        # is on its way (and select() finds an unconnected socket readable).
        watched: list[socket.socket | int] = (
            [sock, self._wake_read] if wrapper._is_connected else [self._wake_read])
        try:
            select.select(watched, [], [], IDLE_WAIT)
        except (OSError, ValueError):
            time.sleep(self._run_loop_delay)
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _read_pdu_data(self) -> None:
        # pynetdicom 3.0 reads the PDU 4 KiB at a time into a growing
        # bytearray, then copies it twice more before decoding. Here it goes
        # into one buffer of the announced size (bounded: pdu_size_limit())
        # and a P-DATA-TF is decoded from a memoryview, without copies.
        sock = cast(TunedSocket, self.socket)
        header = bytearray(6)
        try:
            started = sock.read_start(memoryview(header))
            if started is None:
                return
            complete = started > 0 and sock.read_into(memoryview(header)[started:]) == 6 - started
        except (OSError, TimeoutError):
            complete = False
        if not complete:
            self._transport_closed()
            return
        pdu_type, _, length = struct.unpack(">BBL", header)
        if pdu_type not in _PDU_TYPES:
            self._refuse(_unknown_pdu(pdu_type))
            return
        limit = pdu_size_limit(self.assoc.ae.maximum_pdu_size)
        if length > limit:
            self._refuse(f"a PDU of {length} bytes announced, more than the {limit} accepted")
            return
        buffer = bytearray(6 + length)
        buffer[:6] = header
        try:
            complete = sock.read_into(memoryview(buffer)[6:]) == length
        except (OSError, TimeoutError):
            complete = False
        if not complete:
            if not self._refused:
                LOGGER.warning("%s: the connection ended (or stalled past "
                               "limits.network_timeout) in the middle of a PDU", self._peer())
            self._transport_closed()
            return
        try:
            pdu, event = self._decode_pdu(buffer)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._refuse(f"a PDU that cannot be decoded ({reason})")
            return
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)

    def _refuse(self, what: str) -> None:
        """The peer sent something that is not DICOM: abort, and say so once
        (what follows until the connection closes is read as more PDUs)."""
        if not self._refused:
            self._refused = True
            LOGGER.warning("%s sent %s: aborting the connection", self._peer(), what)
        self.event_queue.put("Evt19")  # unrecognised or invalid PDU

    def _peer(self) -> str:
        return str(self.assoc.requestor.address or "the peer")

    def _peer_sent_something(self) -> bool:
        """Data from the peer is waiting, in a state where reading it is normal."""
        if self.state_machine.current_state == "Sta13":
            return False  # pynetdicom's own handling (_is_transport_event) applies
        wrapper = self.socket
        return wrapper is not None and wrapper.ready

    def _transport_closed(self) -> None:
        self.transport_closed = True
        self.event_queue.put("Evt17")

    def _decode_pdu(self, bytestream: bytearray) -> tuple[Any, str]:
        if bytestream[0] != 0x04 or self.assoc.get_handlers(evt.EVT_DATA_RECV):
            return super()._decode_pdu(bytestream)
        pdu = P_DATA_TF()
        pdu.decode(memoryview(bytestream))  # type: ignore[arg-type]
        evt.trigger(self.assoc, evt.EVT_PDU_RECV, {"pdu": pdu})
        return pdu, "Evt10"

    def run_reactor(self) -> None:
        try:
            self._reactor()
        finally:
            with self._wake_lock:
                self._wake_closed = True
                os.close(self._wake_read)
                os.close(self._wake_write)

    def _reactor(self) -> None:
        # pynetdicom 3.0 DULServiceProvider.run_reactor, waiting in _idle_wait()
        # instead of sleeping.
        self._idle_timer.start()
        idle = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
            if idle:
                self._idle_wait()
            if self._kill_thread:
                break
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                if self._peer_sent_something():
                    # Read first: pynetdicom sends everything queued before it
                    # reads, so a C-CANCEL (or an A-ABORT) would wait behind
                    # every C-FIND response the SCP has already produced.
                    self._read_pdu_data()
                    self._idle_timer.restart()
                elif self._process_recv_primitive():
                    pass
                elif self._is_transport_event():
                    self._idle_timer.restart()
            except Exception as exc:
                LOGGER.error("Exception in the DUL reactor, aborting the association")
                LOGGER.exception(exc)
                self._abort_hard()
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                idle = True
                continue
            idle = False
            if (event, self.state_machine.current_state) in TRANSITION_TABLE:
                self.state_machine.do_action(event)
            else:
                self._out_of_turn(event)

    def _out_of_turn(self, event: str) -> None:
        """An event the state machine has no transition for in its state.

        Our side may answer (accept the association, send a response) just
        after a bad PDU from the peer has aborted the association, or after
        the peer has gone: reading before sending makes that more likely.
        There is no one to send it to, so it is dropped. pynetdicom would
        raise in this thread (a traceback in the log) or, while awaiting the
        close (Sta13), look at the same primitive again until the ARTIM timer
        runs out.
        """
        state = self.state_machine.current_state
        if event in _LOCAL_EVENTS:
            try:
                self.to_provider_queue.get_nowait()  # the primitive behind the event
            except queue.Empty:
                pass
            LOGGER.debug("%s from our side in %s: dropped", event, state)
            return
        LOGGER.warning("%s: unexpected %s in %s: aborting the association", self._peer(),
                       event, state)
        self._abort_hard()

    def _abort_hard(self) -> None:
        """pynetdicom's last resort: send an A-ABORT bypassing the state machine."""
        abort_pdu = A_ABORT_RQ()
        abort_pdu.source = 0x02
        abort_pdu.reason_diagnostic = 0x00
        if self.socket is not None and self.socket.socket is not None:
            self.socket.send(abort_pdu.encode())
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True


class TunedAssociation(Association):
    """An association whose reactor waits for messages instead of polling.

    Accepted by :class:`TunedServer`, or requested with
    :func:`tui_pacs.net.client.requestor.request_association`.
    """

    dul: TunedDUL

    def __init__(self, ae: Any, mode: str) -> None:
        super().__init__(ae, mode)
        self._activity = threading.Event()
        self._stop_requested = False
        # DIMSE request type -> callable(assoc, request, presentation context)
        # serving it instead of pynetdicom's service class.
        self.service_overrides: dict[type, Any] = {}
        # Called with this association when its thread is about to end,
        # after any EVT_RELEASED or EVT_ABORTED.
        self.on_end: Any = None
        self.dul = TunedDUL(self)
        # The timers are the new DUL's: pynetdicom set the timeouts on the one
        # it made. Left at their defaults (ARTIM 30 s, idle 60 s), a peer that
        # connects and says nothing, or garbage, or stops mid-association,
        # would hold its thread that long whatever the config says.
        self.acse_timeout = self.ae.acse_timeout
        self.network_timeout = self.ae.network_timeout
        self.dul.to_user_queue = _UserQueue(self._activity, self._give_up_waiting)
        self.dimse.msg_queue = _SignallingQueue(self._activity)

    def request_stop(self) -> None:
        """Abort this association once the operation in progress (if any) is done."""
        self._stop_requested = True
        self._activity.set()

    def _give_up_waiting(self) -> bool:
        return self._stop_requested or self.dul.transport_closed

    def kill(self) -> None:
        super().kill()
        self._activity.set()

    def run_reactor(self) -> None:
        try:
            super().run_reactor()
        finally:
            if self.on_end is not None:
                self.on_end(self)

    def _serve_request(self, msg: Any, context_id: int) -> None:
        serve = self.service_overrides.get(type(msg))
        context = self._accepted_cx.get(context_id)
        if serve is None or context is None or self._sent_release or not msg.is_valid_request:
            super()._serve_request(msg, context_id)
            return
        # As pynetdicom's _serve_request does around a service class: pending
        # C-CANCELs belong to this request only, and the reactor counts as
        # paused so that send_c_store() can be used from within (C-GET).
        self.dimse.cancel_req = {}
        self._is_paused = True
        try:
            serve(self, msg, context)
        except Exception as exc:
            LOGGER.exception("error serving %s: %s", type(msg).__name__, exc)
            self.abort()
        finally:
            self._is_paused = False
            self.dimse.cancel_req = {}

    def _run_reactor(self) -> None:
        # pynetdicom 3.0 Association._run_reactor, waiting on `_activity`
        # instead of sleeping 1 ms per turn, and stopping between operations
        # when asked to. While it waits it counts as paused: pynetdicom's
        # send_*() methods pause the reactor (clear the checkpoint, then spin
        # until `_is_paused`) before they read the responses themselves, and
        # must not wait for it to come round. Having unpaused itself, it
        # looks at the checkpoint again: a send_*() call that paused it
        # meanwhile owns the messages queued for it.
        while not self._kill:
            self._is_paused = True
            self._activity.wait(IDLE_WAIT)
            self._activity.clear()
            self._reactor_checkpoint.wait()
            self._is_paused = False
            if not self._reactor_checkpoint.is_set():
                continue

            context_id, msg = self.dimse.get_msg(block=False)
            if msg:
                self._serve_request(msg, cast(int, context_id))
                # More may be queued: look again before waiting.
                self._activity.set()
                continue

            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                LOGGER.debug("Association Released")
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return

            if self.acse.is_aborted():
                LOGGER.debug("Association Aborted%s",
                            " (A-P-ABORT)" if self.acse.is_aborted("a-p-abort") else "")
                self.dul.receive_pdu(wait=False)
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return

            if self._stop_requested:
                LOGGER.debug("Association aborted: the node is stopping")
                self.abort()
                return

            if not self.dul.is_alive():
                self.kill()
                return

            if self.dul.idle_timer_expired():
                LOGGER.warning("%s sent nothing for %s s (limits.network_timeout): aborting",
                               self.requestor.address, self.network_timeout)
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return


class TunedRequestHandler(RequestHandler):
    """Creates a :class:`TunedAssociation` for each accepted connection."""

    server: TunedServer

    def handle(self) -> None:
        sock = cast(socket.socket, self.request)
        timeout = self.ae.network_timeout
        sock.settimeout(timeout)
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.do_handshake()
            except (OSError, ValueError) as exc:
                self.server.tls_handshake_failed(self.client_address, exc)
                _close_quietly(sock)
                return
        super().handle()

    def _create_association(self) -> Association:
        # pynetdicom 3.0 RequestHandler._create_association, creating our classes.
        assoc = TunedAssociation(self.ae, MODE_ACCEPTOR)
        assoc._server = self.server
        timestamp = datetime.strftime(datetime.now(), "%Y%m%d%H%M%S")
        assoc.name = f"AcceptorThread@{timestamp}"

        sock = TunedSocket(assoc, client_socket=self.request)
        assoc.set_socket(sock)

        assoc.acceptor.maximum_length = self.ae.maximum_pdu_size
        assoc.acceptor.ae_title = self.server.ae_title
        assoc.acceptor.address_info = self.local
        assoc.acceptor.implementation_class_uid = self.ae.implementation_class_uid
        assoc.acceptor.implementation_version_name = self.ae.implementation_version_name
        # pynetdicom deep-copies the contexts here: ~0.1 s per association
        # for every storage SOP class in every transfer syntax. Negotiation
        # only reads them (presentation.negotiate_as_acceptor), so share them.
        assoc.acceptor.supported_contexts = list(self.server.contexts)
        assoc.requestor.address_info = self.remote

        assoc.service_overrides = self.server.service_overrides
        assoc.on_end = self.server.on_association_end
        for event, handlers in self.server._handlers.items():
            if event.is_intervention and handlers:
                assoc.bind(event, *handlers)
            elif isinstance(event, evt.NotificationEvent):
                for handler, args in cast(list, handlers):
                    assoc.bind(event, handler, args)
        unbind_log_handlers(assoc)
        return assoc


class TunedServer(ThreadedAssociationServer):
    """A threaded association server for :class:`TunedAssociation`.

    ``on_tls_failure(address, exc)`` is called (in the connection's thread)
    when a client fails the TLS handshake; ``service_overrides`` and
    ``on_association_end`` are given to every association (see
    :class:`TunedAssociation`). At most ``max_waiting`` connections may wait
    for their A-ASSOCIATE-RQ: beyond that the one waiting longest is closed.
    Real peers ask at once; a flood of idle connections (a scanner, a
    slowloris) would otherwise take a thread pair and a file descriptor each
    until the ACSE timeout, and then every file descriptor the process may have.
    """

    # Stopping the accept loop must not wait for every association to end.
    block_on_close = False
    daemon_threads = True
    # The listen backlog: socketserver's 5 overflows when a few peers connect
    # at once while the accept loop shares the GIL with their new threads, and
    # each overflowing peer's connection then waits a second for the SYN
    # to be sent again.
    request_queue_size = 128

    def __init__(self, *args: Any, on_tls_failure: Any = None,
                 service_overrides: dict[type, Any] | None = None,
                 on_association_end: Any = None, max_waiting: int = 128,
                 **kwargs: Any) -> None:
        kwargs.setdefault("request_handler", TunedRequestHandler)
        self._on_tls_failure = on_tls_failure
        self.on_association_end = on_association_end
        self.service_overrides = dict(service_overrides or {})
        self.max_waiting = max_waiting
        # Connections in the order they were accepted (a dict as an ordered set),
        # until they ask for an association or end: their threads start in no
        # particular order, so the accept loop keeps the order itself.
        self._accepted: dict[socket.socket, None] = {}
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._close_longest_waiting()
        self._accepted[request] = None
        super().process_request(request, client_address)

    def _close_longest_waiting(self) -> None:
        """Make room for one more connection waiting for its association request."""
        asked = set()
        for assoc in self.ae.active_associations:
            if assoc.is_acceptor and getattr(assoc.requestor, "primitive", None) is not None:
                asked.add(getattr(assoc.dul.socket, "socket", None))
        for sock in [s for s in self._accepted if s in asked or s.fileno() == -1]:
            del self._accepted[sock]
        waiting = list(self._accepted)
        for sock in waiting[:max(0, len(waiting) - self.max_waiting + 1)]:
            del self._accepted[sock]
            try:
                sock.shutdown(socket.SHUT_RDWR)  # its DUL sees the end at once
            except OSError:
                pass  # already gone

    def get_request(self) -> tuple[socket.socket, Any]:
        sock = cast(socket.socket, self.socket)
        client, address = sock.accept()
        if self.ssl_context:
            # The handshake happens in the connection's thread (TunedRequestHandler).
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address

    def tls_handshake_failed(self, address: Any, exc: Exception) -> None:
        if self._on_tls_failure is not None:
            self._on_tls_failure(address, exc)

    def shutdown(self) -> None:
        """Stop accepting and close the listening socket; associations go on."""
        # Skip ThreadedAssociationServer.shutdown: it expects the AE to have
        # started this server itself (ae.start_server), which the node does not.
        socketserver.BaseServer.shutdown(self)
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOGGER.exception("error handling a connection from %s", client_address)


def _unknown_pdu(first_byte: int) -> str:
    """What a peer whose first byte is no PDU type probably sent."""
    if first_byte == 0x16:
        return "a TLS handshake, to a port without TLS"
    if chr(first_byte) in "GHPO":
        return "an HTTP request (GET, HEAD, POST, OPTIONS?), not DICOM"
    return f"a PDU of unknown type 0x{first_byte:02X} (not DICOM?)"


def unbind_log_handlers(assoc: Association) -> None:
    """Unbind pynetdicom's per-PDU and per-message log handlers unless its
    logger shows debug messages (they format every PDU even when nothing
    is logged)."""
    if not logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
        for event, handler in _STANDARD_LOG_HANDLERS:
            assoc.unbind(event, handler)


def pdu_size_limit(maximum_pdu_size: int) -> int:
    """The largest PDU accepted from a peer: what we advertised, never less
    than PDU_SIZE_FLOOR (a lying length must not make us allocate gigabytes)."""
    return max(maximum_pdu_size or 0, PDU_SIZE_FLOOR)


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
