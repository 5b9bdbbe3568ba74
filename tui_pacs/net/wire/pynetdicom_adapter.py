"""The one door to pynetdicom's internals: its association machinery, adapted.

tui-pacs keeps pynetdicom's state machine, ACSE negotiation, events,
handlers and service classes (C-ECHO, N-services), and replaces what cost
more than the network or could not be bounded. Every use of pynetdicom's
internal modules (``_globals``, ``_handlers``, ``_config``, ``dul``,
``fsm``, ``pdu``, ``dimse``, ``transport``) is here; the rest of the package
uses its documented API. ``UPSTREAM`` lists the functions this module
copies, overrides or relies on, with the digest of their source in
pynetdicom 3.0.x, and a test fails when an upgrade changes one of them.

pynetdicom 3.0 runs each association in two threads that poll (1 ms sleeps),
reads the socket 4 KiB per call into a growing buffer, copies each PDU three
times before decoding it, encodes every command set through pydicom, and
deep-copies the acceptor's presentation contexts for every association
(0.1 s with every storage SOP class in every transfer syntax). Profiled with
py-spy, it took 2.6 s of CPU to receive 500 CT images. Here:

* :class:`TunedDUL` sleeps in ``select()`` on the socket and on a wake-up
  pipe, reads what the peer sent before sending more (so a C-CANCEL is seen
  while C-FIND responses are queued), reads each PDU with the wire layer's
  one reader (:mod:`tui_pacs.net.wire.pdu`), and hands P-DATA in the data
  phase straight to the DIMSE provider as views of the PDU's buffer.
* :class:`TunedDIMSE` encodes and decodes every message through the wire
  layer (:mod:`~tui_pacs.net.wire.commands`, :mod:`~tui_pacs.net.wire.messages`)
  and writes it from the calling thread (:func:`~tui_pacs.net.wire.pdu.write_message`).
* :class:`TunedAssociation` waits on an event instead of sleeping, can be
  asked to stop between operations (:meth:`~TunedAssociation.request_stop`:
  how the node shuts down without cutting a C-STORE in half), stops waiting
  for an A-ASSOCIATE-RQ as soon as the peer has gone, and lets the node serve
  some requests itself (``service_overrides``: C-STORE, C-FIND, C-MOVE, C-GET,
  N-ACTION), which may wait there for the answer to a request of their own
  (:meth:`~TunedAssociation.answer_or_release`); C-STORE in the thread that
  reads it (``inline_services``).
* :class:`TunedRequestHandler` and :class:`TunedServer` set the network
  timeout on each accepted socket, do the TLS handshake in the connection's
  thread, share the server's presentation contexts, bound the connections
  waiting for their association request, and do not block on close.
* :func:`request_association` requests a :class:`TunedAssociation`; the
  ``*_associate_*`` functions encode and decode the association phase of the
  client's own upper layer (:mod:`tui_pacs.net.client.upper_layer`).
"""

from __future__ import annotations

import logging
import os
import queue
import select
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from io import BytesIO
from ssl import SSLContext
from typing import Any, cast

from pynetdicom import AE, _config, evt, fsm
from pynetdicom._globals import MODE_ACCEPTOR, MODE_REQUESTOR
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_CANCEL, N_EVENT_REPORT
from pynetdicom.dul import DULServiceProvider
from pynetdicom.fsm import TRANSITION_TABLE
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, A_RELEASE
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import (
    AddressInformation,
    AssociationSocket,
    RequestHandler,
    ThreadedAssociationServer,
)
from pynetdicom.utils import make_target

from tui_pacs.net.wire import commands
from tui_pacs.net.wire.commands import Command, MalformedMessage
from tui_pacs.net.wire.messages import DatasetSink, MessageAssembler
from tui_pacs.net.wire.pdu import (
    P_DATA_TF,
    PDU_HEADER,
    SERVICE_PROVIDER,
    NotDicom,
    TruncatedPdu,
    abort_pdu,
    fragment_size,
    pdu_size_limit,
    pdv_items,
    read_pdu,
    write_messages,
)
from tui_pacs.net.wire.syntaxes import MAX_CONTEXTS

LOGGER = logging.getLogger(__name__)

# States in which we may send P-DATA (PS3.8 9.2): established, and after the
# peer asked to release (a response to its last request still goes out).
_DATA_STATES = frozenset({"Sta6", "Sta8"})
# State machine events that are primitives from our own side (PS3.8 9.2).
_LOCAL_EVENTS = frozenset({"Evt1", "Evt7", "Evt8", "Evt9", "Evt11", "Evt14", "Evt15"})
# Longest sleep of an idle reactor: bounds how late a timer (ARTIM, network
# timeout) is noticed. Data and primitives wake the reactors at once.
IDLE_WAIT = 0.05
# How long an ending association waits for its reactor thread to end.
DUL_END_WAIT = 5.0
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
        # The last _idle_wait() found the peer's socket readable (spares asking
        # the kernel again, once per PDU, before reading it).
        self._readable = False

    def send_pdu(self, primitive: Any) -> None:
        super().send_pdu(primitive)
        self._wake()

    def send_message(self, context_id: int, command: bytes,
                     dataset: bytes | bytearray | memoryview | None = None) -> None:
        """Write a DIMSE message straight to the socket, from the calling
        thread (:func:`tui_pacs.net.wire.pdu.write_message`).

        The queue to the reactor thread and the state machine take every PDU
        one by one: an image sent as a C-GET sub-operation crossed them in
        dozens of PDUs. A P-DATA leaves the state where it is, so only the
        state is checked; a lock keeps every PDU (ours, and the reactor's
        A-ABORT, A-RELEASE) whole. Raises ConnectionError when the association
        is no longer established, OSError when the connection fails.
        """
        self.send_messages(context_id, [(command, dataset)])

    def send_messages(self, context_id: int,
                      messages: Sequence[tuple[bytes, bytes | bytearray | memoryview | None]],
                      ) -> None:
        """Several messages as :meth:`send_message` writes one; those that fit
        in a PDU each (C-FIND responses) in one write
        (:func:`tui_pacs.net.wire.pdu.write_messages`)."""
        with self._send_lock:
            sock = self.socket.socket if self.socket is not None else None
            if sock is None or self.state_machine.current_state not in _DATA_STATES:
                raise ConnectionError("the association is not established")
            fragment = fragment_size(int(self.assoc.dimse.maximum_pdu_size or 0))
            write_messages(sock, context_id, messages, fragment)

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
            readable, _, _ = select.select(watched, [], [], IDLE_WAIT)
        except (OSError, ValueError):
            time.sleep(self._run_loop_delay)
            return
        self._readable = sock in readable
        if self._wake_read not in readable:
            return
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _read_pdu_data(self) -> None:
        # pynetdicom 3.0 reads the PDU 4 KiB at a time into a growing
        # bytearray, then copies it twice more before decoding; here it is
        # read by the one PDU reader (tui_pacs.net.wire.pdu), and a P-DATA-TF
        # in the data phase goes straight to the DIMSE provider as views of
        # its buffer (the state machine's DT-2 does only that).
        sock = cast(TunedSocket, self.socket)
        header = bytearray(PDU_HEADER.size)
        try:
            started = sock.read_start(memoryview(header))
            if started is None:
                return
            if not started:
                raise ConnectionError("the peer closed the connection")
            kind, pdu = read_pdu(cast(socket.socket, sock.socket),
                                 pdu_size_limit(self.assoc.ae.maximum_pdu_size), header, started)
        except NotDicom as exc:
            self._refuse(str(exc))
            return
        except TruncatedPdu:
            if not self._refused:
                LOGGER.warning("%s: the connection ended (or stalled past "
                               "limits.network_timeout) in the middle of a PDU", self._peer())
            self._transport_closed()
            return
        except (OSError, TimeoutError):
            self._transport_closed()
            return
        if kind == P_DATA_TF and self.state_machine.current_state == "Sta6":
            try:
                cast(TunedDIMSE, self.assoc.dimse).receive_pdvs(pdv_items(pdu))
            except (NotDicom, MalformedMessage) as exc:
                self._refuse(f"a message that cannot be decoded ({exc})")
            return
        try:
            decoded, event = self._decode_pdu(pdu)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._refuse(f"a PDU that cannot be decoded ({reason})")
            return
        self.event_queue.put(event)
        self._recv_pdu.put(decoded)

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
        readable, self._readable = self._readable, False
        if self.state_machine.current_state == "Sta13":
            return False  # pynetdicom's own handling (_is_transport_event) applies
        wrapper = self.socket
        return wrapper is not None and (readable or wrapper.ready)

    def _transport_closed(self) -> None:
        self.transport_closed = True
        self.event_queue.put("Evt17")

    def run_reactor(self) -> None:
        try:
            self._reactor()
        finally:
            # A dataset still arriving will not be finished: its staging file
            # goes (this thread is the one that writes it).
            cast(TunedDIMSE, self.assoc.dimse).assembler.discard()
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
        if self.socket is not None and self.socket.socket is not None:
            self.socket.send(abort_pdu(SERVICE_PROVIDER))
        self.assoc.is_aborted = True
        self.assoc.is_established = False
        self.assoc._kill = True
        self._kill_thread = True


class TunedDIMSE(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider, encoding and decoding through our wire layer.

    Every message pynetdicom's service classes and ``send_*()`` methods send
    is encoded by :mod:`tui_pacs.net.wire.commands` and written by
    :func:`tui_pacs.net.wire.pdu.write_message` from the calling thread
    (pynetdicom queues each PDU for the reactor thread and its state machine;
    a P-DATA leaves the state where it is). Every message received is put
    together by :class:`~tui_pacs.net.wire.messages.MessageAssembler` and
    handed on as the primitive pynetdicom would have made, to the same
    queues (pynetdicom 3.0 ``DIMSEServiceProvider.receive_primitive``). The
    EVT_DIMSE_SENT/EVT_DIMSE_RECV notifications, which carry pynetdicom's
    own message objects, are not triggered: only its debug log used them.
    """

    def __init__(self, assoc: Association) -> None:
        super().__init__(assoc)
        # Called with (association, command, transfer syntax of its context, or
        # None if not accepted) when a message with a dataset begins: a
        # writable file for its dataset, or None for memory.
        self.open_dataset: Callable[[Association, Command, str | None], DatasetSink | None] \
            | None = None
        self.assembler = MessageAssembler(self._dataset_for)

    def _dataset_for(self, context_id: int, command: Command) -> DatasetSink:
        opened = None
        if self.open_dataset is not None:
            context = self.assoc._accepted_cx.get(context_id)
            syntax = str(context.transfer_syntax[0]) if context is not None else None
            opened = self.open_dataset(self.assoc, command, syntax)
        return opened if opened is not None else BytesIO()

    def send_msg(self, primitive: Any, context_id: int) -> None:
        command, dataset = commands.from_primitive(primitive)
        try:
            cast(TunedDUL, self.dul).send_message(
                context_id, command, dataset.getbuffer() if dataset is not None else None)
        except (ConnectionError, OSError) as exc:
            # As a primitive queued for a state machine that has moved on:
            # the association has ended, and the caller learns it from there.
            LOGGER.debug("%s not sent: %s", type(primitive).__name__, exc)

    def receive_pdvs(self, items: Any) -> None:
        """Take the fragments of one P-DATA-TF (in the reactor's thread)."""
        for context_id, control, fragment in items:
            message = self.assembler.feed(context_id, control, fragment)
            if message is None:
                continue
            dataset = message.dataset
            if dataset is None or type(dataset) is BytesIO:
                primitive = commands.to_primitive(message.context_id, message.command, dataset)
            else:
                # Written where open_dataset said: the service takes it from
                # there (an empty DataSet keeps the request valid for pynetdicom).
                primitive = commands.to_primitive(message.context_id, message.command,
                                                  BytesIO())
                primitive.received_file = dataset
            if not cast(TunedAssociation, self.assoc).serve_inline(primitive, message.context_id):
                self._deliver(message.context_id, primitive)

    def _deliver(self, context_id: int, primitive: Any) -> None:
        # pynetdicom 3.0 DIMSEServiceProvider.receive_primitive, from the
        # decoded primitive on: C-CANCELs are kept apart (up to 10), an
        # N-EVENT-REPORT request is served in a thread of its own.
        if isinstance(primitive, C_CANCEL) and len(self.cancel_req) < 10:
            self.cancel_req[int(primitive.MessageIDBeingRespondedTo or 0)] = primitive
        elif isinstance(primitive, N_EVENT_REPORT) and primitive.is_valid_request:
            threading.Thread(target=make_target(self.assoc._serve_request),
                             args=(primitive, context_id), daemon=True).start()
        else:
            self.msg_queue.put((context_id, primitive))


class TunedAssociation(Association):
    """An association whose reactor waits for messages instead of polling.

    Accepted by :class:`TunedServer`, or requested with
    :func:`request_association`.
    """

    dul: TunedDUL

    def __init__(self, ae: Any, mode: str) -> None:
        super().__init__(ae, mode)
        self._activity = threading.Event()
        self._stop_requested = False
        # DIMSE request type -> callable(assoc, request, presentation context)
        # serving it instead of pynetdicom's service class.
        self.service_overrides: dict[type, Any] = {}
        # Request types of service_overrides served by the thread that reads
        # the PDUs, without handing them to this association's thread.
        self.inline_services: frozenset[type] = frozenset()
        # Held while a request is served inline; once _ending, none is.
        self._serving = threading.Lock()
        self._ending = False
        # Called with this association when its thread is about to end,
        # after any EVT_RELEASED or EVT_ABORTED.
        self.on_end: Any = None
        self.dul = TunedDUL(self)
        self.dimse = TunedDIMSE(self)
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

    def release_requested(self) -> bool:
        """Whether the peer has asked to release the association; its request
        waits for the reactor (a service override runs in the reactor's thread)."""
        return isinstance(self.dul.peek_next_pdu(), A_RELEASE)

    def answer_or_release(self, timeout: float) -> Any | None:
        """The next message, for a service override that sent a request of its
        own on this association: None after ``timeout``, when the association
        is aborted or its connection closed, as soon as the peer asks to
        release it instead of answering, or when this association is asked to
        stop (:meth:`request_stop`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.dimse.msg_queue.get_nowait()[1]
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if (self.release_requested() or self._give_up_waiting() or not self.is_established
                    or remaining <= 0):
                return None
            # Set by every message and primitive queued for this association.
            self._activity.wait(remaining)
            self._activity.clear()

    def run_reactor(self) -> None:
        try:
            super().run_reactor()
        finally:
            # The association counts as running until its reactor thread has
            # ended too, having removed any dataset left half received.
            if self.dul.is_alive() and self.dul is not threading.current_thread():
                self.dul.join(DUL_END_WAIT)
            # Requests received but never served: their staging files go too.
            while True:
                try:
                    _drop_dataset(self.dimse.msg_queue.get_nowait()[1])
                except queue.Empty:
                    break
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

    def serve_inline(self, msg: Any, context_id: int) -> bool:
        """Serve ``msg`` in the calling thread, the one reading the PDUs, if
        its type is one of ``inline_services``; False if it is not served here.

        A C-STORE handed from the thread that reads it to the association's
        thread cost two context switches, each of them waiting for the GIL on
        a busy machine, for every instance received; the peer sends nothing
        more until it has its answer anyway. Meanwhile no PDU is read, and
        the association is not ended in the middle (see _end_between_operations).
        """
        serve = self.service_overrides.get(type(msg))
        context = self._accepted_cx.get(context_id)
        if (type(msg) not in self.inline_services or serve is None or context is None
                or self._sent_release or not msg.is_valid_request):
            return False
        with self._serving:
            if self._ending:
                # The association is ending between operations: the request
                # goes unanswered, and what it brought is dropped.
                _drop_dataset(msg)
                return True
            try:
                serve(self, msg, context)
            except Exception as exc:
                LOGGER.exception("error serving %s: %s", type(msg).__name__, exc)
                self.abort(block=False)  # this thread is the one that sends it
        return True

    def _end_between_operations(self) -> None:
        """No request is served inline from now on: the association may end."""
        with self._serving:
            self._ending = True

    def _run_reactor(self) -> None:
        # pynetdicom 3.0 Association._run_reactor, waiting on `_activity`
        # instead of sleeping 1 ms per turn, and stopping between operations
        # when asked to. While it waits it counts as paused: pynetdicom's
        # send_*() methods pause the reactor (clear the checkpoint, then spin
        # until `_is_paused`) before they read the responses themselves, and
        # must not wait for it to come round. Having unpaused itself, it
        # looks at the checkpoint again: a send_*() call that paused it
        # meanwhile owns the messages queued for it. While it waits at the
        # checkpoint it says again that it is paused: pynetdicom serves an
        # N-EVENT-REPORT in a thread of its own, which marks the reactor
        # unpaused when done, and a release() would wait for it forever.
        while not self._kill:
            self._is_paused = True
            self._activity.wait(IDLE_WAIT)
            self._activity.clear()
            while not self._reactor_checkpoint.wait(IDLE_WAIT):
                self._is_paused = True
            self._is_paused = False
            if not self._reactor_checkpoint.is_set():
                continue

            context_id, msg = self.dimse.get_msg(block=False)
            if msg:
                self._serve_request(msg, cast(int, context_id))
                # The peer had nothing to say while it was being answered: its
                # silence (limits.network_timeout) counts from the answer's end,
                # or every operation longer than the timeout would be aborted.
                self.dul._idle_timer.restart()
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
                self._end_between_operations()
                self.abort()
                return

            if not self.dul.is_alive():
                self.kill()
                return

            if self.dul.idle_timer_expired():
                LOGGER.warning("%s sent nothing for %s s (limits.network_timeout): aborting",
                               self.requestor.address, self.network_timeout)
                self._end_between_operations()
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return


def request_association(
    ae: AE,
    address: str,
    port: int,
    contexts: Sequence[PresentationContext],
    *,
    ae_title: str,
    ext_neg: Sequence[Any] = (),
    evt_handlers: Sequence[tuple[Any, ...]] = (),
    tls_args: tuple[SSLContext, str] | None = None,
) -> TunedAssociation:
    """Ask ``ae_title`` at ``address``:``port`` for an association, as ``ae``.

    pynetdicom 3.0 ``AE.associate()`` always builds its own Association,
    whose two threads poll with 1 ms sleeps (about 10 ms per instance as the
    receiving end of a C-GET). This takes the same steps for a
    :class:`TunedAssociation` in requestor mode, except that the requested
    contexts are used as given, not deep-copied (their IDs are set here),
    that our maximum PDU size is ``ae.maximum_pdu_size`` (pynetdicom proposes
    16 KiB unless told otherwise, which makes a peer cut every image into
    dozens of PDUs), and that pynetdicom's per-PDU log handlers stay unbound
    unless its logger shows debug messages. Like ``AE.associate()``, it
    returns the association whether or not it was accepted.

    ``ae`` gives our AE title, timeouts and maximum PDU size. Blocks until
    the association is accepted, rejected or aborted, or the connection
    failed; raises ValueError for no contexts, or more than 128.
    """
    if not 0 < len(contexts) <= MAX_CONTEXTS:
        raise ValueError(f"an association proposes 1 to {MAX_CONTEXTS} presentation "
                         f"contexts, not {len(contexts)}")
    assoc = TunedAssociation(ae, MODE_REQUESTOR)
    assoc.name = f"RequestorThread@{datetime.now():%Y%m%d%H%M%S}"

    remote = AddressInformation.from_addr_port(address, port)
    local = AddressInformation.from_tuple(
        ("::0", 0) if remote.address_family == socket.AF_INET6 else ("", 0))
    sock = TunedSocket(assoc, address=local)
    sock.tls_args = tls_args
    assoc.set_socket(sock)

    assoc.acceptor.ae_title = ae_title
    assoc.acceptor.address_info = remote
    # Nominal until the connection is made (the socket then records it).
    assoc.requestor.address_info = local
    assoc.requestor.ae_title = ae.ae_title
    assoc.requestor.maximum_length = ae.maximum_pdu_size
    assoc.requestor.implementation_class_uid = ae.implementation_class_uid
    assoc.requestor.implementation_version_name = ae.implementation_version_name
    for item in ext_neg:
        assoc.requestor.add_negotiation_item(item)

    for number, context in enumerate(contexts):
        context.context_id = 2 * number + 1
    assoc.requestor.requested_contexts = list(contexts)

    for handler in evt_handlers:
        assoc.bind(*handler)
    unbind_log_handlers(assoc)

    assoc.request()
    if assoc.is_established:
        assoc.start()
    return assoc


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
        assoc.inline_services = self.server.inline_services
        cast(TunedDIMSE, assoc.dimse).open_dataset = self.server.open_dataset
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
    when a client fails the TLS handshake; ``service_overrides``,
    ``inline_services`` and ``on_association_end`` are given to every association (see
    :class:`TunedAssociation`), ``open_dataset`` to its DIMSE provider (see
    :class:`TunedDIMSE`). At most ``max_waiting`` connections may wait
    for their A-ASSOCIATE-RQ: beyond that the one waiting longest is closed.
    Real peers ask at once; a flood of idle connections (a scanner, a
    slowloris) would otherwise take a thread pair and a file descriptor each
    until the ACSE timeout, and then every file descriptor the process may have.

    With ``listen=False`` it binds nothing: another process accepts the
    connections and hands them over (:meth:`adopt`), as the node does with
    its ingest workers.
    """

    # Stopping the accept loop must not wait for every association to end.
    block_on_close = False
    daemon_threads = True
    # The listen backlog: socketserver's 5 overflows when a few peers connect
    # at once while the accept loop shares the GIL with their new threads, and
    # each overflowing peer's connection then waits a second for the SYN
    # to be sent again (and arrives out of order). 1024, as busy servers use
    # (the kernel caps it at net.core.somaxconn).
    request_queue_size = 1024

    def __init__(self, *args: Any, on_tls_failure: Any = None,
                 service_overrides: dict[type, Any] | None = None,
                 on_association_end: Any = None, max_waiting: int = 128,
                 open_dataset: Any = None, listen: bool = True,
                 inline_services: frozenset[type] = frozenset(), **kwargs: Any) -> None:
        kwargs.setdefault("request_handler", TunedRequestHandler)
        self._listens = listen
        self.inline_services = inline_services
        self._on_tls_failure = on_tls_failure
        self.on_association_end = on_association_end
        self.service_overrides = dict(service_overrides or {})
        self.open_dataset = open_dataset
        self.max_waiting = max_waiting
        # Connections in the order they were accepted (a dict as an ordered set),
        # until they ask for an association or end: their threads start in no
        # particular order, so the accept loop keeps the order itself.
        self._accepted: dict[socket.socket, None] = {}
        super().__init__(*args, **kwargs)
        if not listen:
            cast(socket.socket, self.socket).close()

    def server_bind(self) -> None:
        if self._listens:
            super().server_bind()

    def server_activate(self) -> None:
        if self._listens:
            super().server_activate()

    def adopt(self, client: socket.socket, address: Any) -> None:
        """Serve a connection accepted elsewhere (``listen=False``), as if accepted here."""
        self.process_request(self._wrapped(client), address)

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
        return self._wrapped(client), address

    def _wrapped(self, client: socket.socket) -> socket.socket:
        if self.ssl_context:
            # The handshake happens in the connection's thread (TunedRequestHandler).
            return self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client

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


def configure_pynetdicom(accept_unknown_sop_classes: bool) -> None:
    """pynetdicom's process-wide switches, as the node needs them."""
    # Storage SOP classes pynetdicom does not know (private ones, newer ones).
    _config.UNRESTRICTED_STORAGE_SERVICE = accept_unknown_sop_classes
    # Dumping every identifier costs time even when the log level hides it.
    verbose = logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG)
    _config.LOG_REQUEST_IDENTIFIERS = verbose
    _config.LOG_RESPONSE_IDENTIFIERS = verbose


def unbind_log_handlers(assoc: Association) -> None:
    """Unbind pynetdicom's per-PDU and per-message log handlers unless its
    logger shows debug messages (they format every PDU even when nothing
    is logged)."""
    if not logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
        for event, handler in _STANDARD_LOG_HANDLERS:
            assoc.unbind(event, handler)


def _drop_dataset(msg: Any) -> None:
    """Remove the staging file of a request that will not be served."""
    dataset = getattr(msg, "received_file", None)
    if dataset is not None:
        getattr(dataset, "discard", dataset.close)()


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


# --- the association phase of our own upper layer (tui_pacs.net.client.upper_layer) -------

def encode_associate_request(request: A_ASSOCIATE) -> bytes:
    """An A-ASSOCIATE-RQ PDU, encoded by pynetdicom's PDU classes."""
    return cast(bytes, A_ASSOCIATE_RQ(request).encode())


def decode_associate_accept(pdu: bytearray) -> A_ASSOCIATE:
    """An A-ASSOCIATE-AC PDU as pynetdicom's primitive (what negotiation reads)."""
    answer = A_ASSOCIATE_AC()
    answer.decode(bytes(pdu))
    return answer.to_primitive()


def decode_associate_reject(pdu: bytearray) -> tuple[int, int, int]:
    """An A-ASSOCIATE-RJ PDU's result, source and reason."""
    reject = A_ASSOCIATE_RJ()
    reject.decode(bytes(pdu))
    return int(reject.result or 0), int(reject.source or 0), int(reject.reason_diagnostic or 0)


def abort_received(event: evt.Event) -> tuple[int, int] | None:
    """The source and reason of the A-ABORT an EVT_PDU_RECV carries, if it does."""
    pdu = event.pdu
    if isinstance(pdu, A_ABORT_RQ):
        return int(pdu.source or 0), int(pdu.reason_diagnostic or 0)
    return None


# What this module adapts, copies or relies on, with the sha256 of its source in
# pynetdicom 3.0.x; tests/unit/test_pynetdicom_adapter.py fails when an upgrade
# changes any of them, so that the adaptation is read again instead of hanging.
UPSTREAM: dict[str, tuple[object, str]] = {
    # copied: TunedDUL._reactor
    "DULServiceProvider.run_reactor": (
        DULServiceProvider.run_reactor,
        "e3a10eb3a0931e4854af33b9496e92d9679522aca26b0e04da8967559b9e2803"),
    # replaced: TunedDUL._read_pdu_data
    "DULServiceProvider._read_pdu_data": (
        DULServiceProvider._read_pdu_data,
        "19f2d4e38c13c83586365d93dd5cd96a0c7c665cb37251054b3e1f246e9f431b"),
    # used for the association phase
    "DULServiceProvider._decode_pdu": (
        DULServiceProvider._decode_pdu,
        "fc71dd1bf853e1ce79d29b11731a26a4f6ee9eb697026ad611f8fc91f8aa69c9"),
    # used by the reactor
    "DULServiceProvider._is_transport_event": (
        DULServiceProvider._is_transport_event,
        "8725ed03bb8fbdefef249d5d9888c120e6277d7b6aa2c4f537e23027186e1253"),
    # relied on: TunedAssociation.release_requested
    "DULServiceProvider.peek_next_pdu": (
        DULServiceProvider.peek_next_pdu,
        "7bdb626e1247e1b649bfbe45104a0f2899076c1c0963c85b54824822a21fcc95"),
    # wrapped: wakes the reactor
    "DULServiceProvider.send_pdu": (
        DULServiceProvider.send_pdu,
        "7cbce5da8594124e9e70c790a68df640d21df11af4220783e752bc607de8dde6"),
    # bypassed: P-DATA in Sta6 goes straight to TunedDIMSE
    "fsm.DT_2": (
        fsm.DT_2,
        "9ec543394e0b49eb8be2448fc3f9950361b0047db7cf3742844f377bd225ba73"),
    # copied: TunedDIMSE._deliver
    "DIMSEServiceProvider.receive_primitive": (
        DIMSEServiceProvider.receive_primitive,
        "5f99c86b14a15cefa87d914cda3591ec4d636d4c53a982e945ec9c1828c6e43f"),
    # replaced: TunedDIMSE.send_msg
    "DIMSEServiceProvider.send_msg": (
        DIMSEServiceProvider.send_msg,
        "a839cf2fb46976d9da29cf06fea41c04416b38d14fab612af12e5d869bd5b3f0"),
    # copied: TunedAssociation._run_reactor
    "Association._run_reactor": (
        Association._run_reactor,
        "f28838c5559e462a563750cfc9f3790027f4bb7e2223baf42c9f5d682c359dee"),
    # waits for the reactor to be paused, which TunedAssociation._run_reactor
    # says again while it waits at the checkpoint
    "Association.release": (
        Association.release,
        "c7d713502b77d70284320ac20245444b78f49a9d37b6a351d38e18344edaae43"),
    # mirrored around service_overrides
    "Association._serve_request": (
        Association._serve_request,
        "2f24c1759cdf6c8c433094f2a8dd8144f76f5547f03daed7b94e0f78bc12f877"),
    # called by request_association
    "Association.request": (
        Association.request,
        "928cd0e3013c9ab99cb6899c35b624b3f72f5ac1b846a273fdf4106a1db5c67f"),
    # copied: request_association
    "AE.associate": (
        AE.associate,
        "dbc8cf47090386b2068817f6e65e39ca2c0d5b8fd80f6b9b7a322d37b85b2985"),
    # copied
    "RequestHandler._create_association": (
        RequestHandler._create_association,
        "05c8d12b79863cdbdb901ce37187b7030a0434c5cd89d219ed0bedbda679a61e"),
    # replaced: TLS handshake later
    "ThreadedAssociationServer.get_request": (
        ThreadedAssociationServer.get_request,
        "925a4f3a3042f6e4b944505d06dc19c41e10ff7dec5385c794d62d31fd000300"),
    # skipped: TunedServer.shutdown
    "ThreadedAssociationServer.shutdown": (
        ThreadedAssociationServer.shutdown,
        "e8e2c3a41009886d8544d17ce01118a81bac81b612a1d17f30fc200971f41db9"),
    # wrapped: TunedSocket.connect
    "AssociationSocket.connect": (
        AssociationSocket.connect,
        "aeeeae413bd339dcc18230a6c0926993a824fd6ec31479febfbe21734911482f"),
}
