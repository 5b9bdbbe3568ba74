"""Associations whose data phase this module speaks itself: the bulk paths.

Moving instances is where pynetdicom's machinery costs more than the
network: each PDU goes through two queues and a state machine in another
thread, each message through pydicom's dataset reader and writer, and each
answer waits for another thread to wake. Measured with bench/send.py, 500 CT
images went at about a third of DCMTK storescu's rate through pynetdicom,
and at storescu's pace with this module.

:class:`UpperLayerAssociation` does what every such association needs, from
one thread: open the association (with the same diagnoses as every other
one, see :mod:`tui_pacs.net.client.association`), write a message (its command set,
then its dataset in fragments), read the next message as its PDUs come,
release or abort. PDUs of the association phase are encoded and decoded
with pynetdicom's own PDU classes; the data phase goes through the wire
layer every association shares: :mod:`~tui_pacs.net.wire.pdu` (reading PDUs,
writing fragments), :mod:`~tui_pacs.net.wire.messages` (putting messages
together) and :mod:`~tui_pacs.net.wire.commands` (command sets).

:class:`StoreAssociation` sends C-STORE requests (``tui-pacs send``, the
sub-operations of a C-MOVE we serve); :class:`~tui_pacs.net.client.get_scu.GetAssociation`
receives the instances of a C-GET.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import cached_property
from io import BytesIO
from typing import Self

from pydicom.uid import UID
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_requestor

from tui_pacs.core import diagnosis
from tui_pacs.core.remote import Connection, Diagnosis, RemoteFailure
from tui_pacs.net.client.association import Session, connect_tcp, resolve, wrap_tls
from tui_pacs.net.wire.commands import C_STORE_RSP, Command, MalformedMessage, store_request
from tui_pacs.net.wire.messages import DatasetSink, Message, MessageAssembler
from tui_pacs.net.wire.pdu import (
    ABORT,
    ASSOCIATE_AC,
    ASSOCIATE_RJ,
    P_DATA_TF,
    PDU_SIZE_FLOOR,
    RELEASE_ANSWER,
    RELEASE_REQUEST,
    RELEASE_RP,
    RELEASE_RQ,
    NotDicom,
    abort_pdu,
    fragment_size,
    pdu_size_limit,
    pdv_items,
    read_pdu,
    write_message,
)
from tui_pacs.net.wire.pynetdicom_adapter import (
    decode_associate_accept,
    decode_associate_reject,
    encode_associate_request,
)
from tui_pacs.store.ingest import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

APPLICATION_CONTEXT = UID("1.2.840.10008.3.1.1.1")

class UpperLayerAssociation:
    """An established association whose messages are written and read here.

    One thread reads and writes; another may :meth:`abort` (the socket
    closes and whatever the first was waiting for fails) or send a message
    of its own (writes are serialised).
    """

    # Names the operation in diagnoses ("C-STORE", "C-GET").
    service = "DIMSE"

    def __init__(self, sock: socket.socket, session: Session,
                 accepted: Sequence[PresentationContext], max_pdu: int,
                 connection: Connection) -> None:
        self._socket = sock
        self._session = session
        # Accepted contexts always have an ID; `or 0` only tells mypy so.
        self.accepted_contexts = {int(cx.context_id or 0): cx for cx in accepted}
        self._fragment = fragment_size(max_pdu)
        self._send_lock = threading.Lock()
        self._pdvs: deque[tuple[int, int, memoryview]] = deque()
        self._assembler = MessageAssembler(self._dataset_for)
        # Called with (command, transfer syntax of its context) when a message
        # with a dataset begins: a writable file for it, or None for memory.
        self.open_dataset: Callable[[Command, str], DatasetSink | None] | None = None
        self.connection = connection
        self.is_established = True

    @classmethod
    def _connect(cls, session: Session, contexts: Sequence[PresentationContext],
                 scp_roles: Sequence[str] = ()) -> Self:
        """Connect and negotiate; raises RemoteFailure saying which step failed.

        ``scp_roles``: SOP classes for which we propose to be the SCP
        (SCP/SCU role selection, as a C-GET needs for storage).
        """
        target = session.target
        address, resolve_seconds = resolve(target)
        started = time.perf_counter()
        sock = connect_tcp(target, address, session.connect_timeout)
        connected = time.perf_counter()
        try:
            if target.tls:
                sock = wrap_tls(sock, session)
            accepted, max_pdu, implementation = _negotiate(sock, session, contexts, scp_roles)
        except BaseException:
            sock.close()
            raise
        connection = Connection(address, sock.getsockname()[0], resolve_seconds,
                                connected - started, time.perf_counter() - connected,
                                max_pdu, implementation)
        sock.settimeout(session.dimse_timeout)
        return cls(sock, session, accepted, max_pdu, connection)

    def release(self) -> None:
        """A-RELEASE, then close; an answer that does not come is not waited for long."""
        if not self.is_established:
            return
        self.is_established = False
        try:
            self._socket.settimeout(self._session.connect_timeout)
            with self._send_lock:
                self._socket.sendall(RELEASE_REQUEST)
            while self._read_pdu()[0] != RELEASE_RP:
                pass
        except (OSError, ConnectionError):
            pass  # the remote closed first: released all the same
        finally:
            self._socket.close()

    def abort(self) -> None:
        if self.is_established:
            self.is_established = False
            _close_with_abort(self._socket)
        self._assembler.discard()

    # --- writing ----------------------------------------------------------------------

    def send_message(self, context_id: int, command: bytes,
                     dataset: bytes | memoryview | None = None) -> None:
        """Write a command set and its dataset; raises RemoteFailure when the
        association is lost on the way."""
        try:
            with self._send_lock:
                write_message(self._socket, context_id, command, dataset, self._fragment)
        except (OSError, ConnectionError) as exc:
            self._lost()
            raise RemoteFailure(self._lost_diagnosis(exc)) from None

    # --- reading ----------------------------------------------------------------------

    def _dataset_for(self, context_id: int, command: Command) -> DatasetSink:
        context = self.accepted_contexts.get(context_id)
        opened = None
        if self.open_dataset is not None and context is not None:
            opened = self.open_dataset(command, str(context.transfer_syntax[0]))
        return opened if opened is not None else BytesIO()

    def read_message(self) -> Message:
        """The next whole message from the remote; raises RemoteFailure when the
        association ends (abort, release, timeout) instead."""
        try:
            while True:
                context_id, control, fragment = self._next_pdv()
                message = self._assembler.feed(context_id, control, fragment)
                if message is not None:
                    return message
        except (MalformedMessage, NotDicom):
            self.abort()
            raise RemoteFailure(self._lost_diagnosis(None)) from None
        except (OSError, ConnectionError) as exc:
            self._lost()
            raise RemoteFailure(self._lost_diagnosis(exc)) from None

    def _next_pdv(self) -> tuple[int, int, memoryview]:
        while not self._pdvs:
            self._read_p_data()
        return self._pdvs.popleft()

    def _read_pdu(self) -> tuple[int, bytearray]:
        return read_pdu(self._socket, pdu_size_limit(self._session.limits.max_pdu))

    def _read_p_data(self) -> None:
        kind, pdu = self._read_pdu()
        target, service = self._session.target, self.service
        if kind == ABORT:
            self._lost()
            raise RemoteFailure(diagnosis.association_aborted(target, pdu[8], pdu[9], service))
        if kind == RELEASE_RQ:
            with self._send_lock:
                self._socket.sendall(RELEASE_ANSWER)
            self._lost()
            raise RemoteFailure(diagnosis.aborted_during(target, service,
                                                         self._session.calling_aet))
        if kind != P_DATA_TF:
            self.abort()
            raise RemoteFailure(diagnosis.aborted_during(target, service,
                                                         self._session.calling_aet))
        self._pdvs.extend(pdv_items(pdu))

    def _lost(self) -> None:
        self.is_established = False
        _close(self._socket)
        self._assembler.discard()

    def _lost_diagnosis(self, exc: Exception | None) -> Diagnosis:
        if isinstance(exc, TimeoutError):
            return diagnosis.no_response(self._session.target, self.service,
                                         self._session.dimse_timeout)
        return diagnosis.aborted_during(self._session.target, self.service,
                                        self._session.calling_aet)


class StoreAssociation(UpperLayerAssociation):
    """An association for C-STORE requests, sent one after the other."""

    service = "C-STORE"

    _message_id = 0

    @cached_property
    def _contexts(self) -> dict[tuple[str, str], int]:
        return {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])): context_id
                for context_id, cx in self.accepted_contexts.items()}

    @property
    def accepted(self) -> set[tuple[str, str]]:
        """(SOP class UID, transfer syntax UID) pairs the remote accepted."""
        return set(self._contexts)

    @classmethod
    def open(cls, session: Session, contexts: Sequence[PresentationContext]) -> Self:
        """Connect and negotiate; raises RemoteFailure saying which step failed."""
        return cls._connect(session, contexts)

    def store(self, sop_class: str, sop_instance: str, transfer_syntax: str,
              data: bytes | memoryview, originator: tuple[str, int] | None = None) -> Command:
        """C-STORE an encoded dataset; the response's command set.

        ``originator``: the AE title and Message ID of the C-MOVE this
        sub-operation belongs to. Raises RemoteFailure when the association
        is lost on the way.
        """
        context_id = self._contexts[(sop_class, transfer_syntax)]
        self._message_id = self._message_id % 0xFFFF + 1
        command = store_request(self._message_id, sop_class, sop_instance, originator)
        self.send_message(context_id, command, data)
        answer = self.read_message().command
        if answer.field != C_STORE_RSP:
            self.abort()
            raise RemoteFailure(self._lost_diagnosis(None))
        return answer


def _negotiate(sock: socket.socket, session: Session, contexts: Sequence[PresentationContext],
               scp_roles: Sequence[str]) -> tuple[list[PresentationContext], int, str]:
    """A-ASSOCIATE: the accepted presentation contexts, the remote's largest PDU,
    its implementation name."""
    target = session.target
    roles = set(scp_roles)
    for number, context in enumerate(contexts):
        context.context_id = 2 * number + 1
        if context.abstract_syntax in roles:
            context.scu_role, context.scp_role = False, True
    request = A_ASSOCIATE()
    request.application_context_name = APPLICATION_CONTEXT
    request.calling_ae_title = session.calling_aet
    request.called_ae_title = target.aet
    request.presentation_context_definition_list = list(contexts)
    request.user_information = [*_user_information(session.limits.max_pdu),
                                *map(_scp_role, dict.fromkeys(scp_roles))]
    sock.settimeout(session.connect_timeout)
    try:
        sock.sendall(encode_associate_request(request))
        kind, pdu = read_pdu(sock, PDU_SIZE_FLOOR)
    except TimeoutError:
        raise RemoteFailure(diagnosis.no_association_answer(
            target, session.connect_timeout)) from None
    except (OSError, ConnectionError, NotDicom):
        raise RemoteFailure(diagnosis.connection_closed(target)) from None
    if kind == ASSOCIATE_RJ:
        raise RemoteFailure(diagnosis.association_rejected(
            target, session.calling_aet, *decode_associate_reject(pdu)))
    if kind == ABORT:
        raise RemoteFailure(diagnosis.association_aborted(target, pdu[8], pdu[9]))
    if kind != ASSOCIATE_AC:
        raise RemoteFailure(diagnosis.connection_closed(target))
    accept = decode_associate_accept(pdu)
    answered_roles = {item.sop_class_uid: (item.scu_role, item.scp_role)
                      for item in accept.user_information
                      if isinstance(item, SCP_SCU_RoleSelectionNegotiation)
                      and item.sop_class_uid is not None}
    negotiated = negotiate_as_requestor(
        list(contexts), accept.presentation_context_definition_results_list, answered_roles)
    accepted = [cx for cx in negotiated if cx.result == 0x00]
    if not accepted:
        _close_with_abort(sock)
        refusals = [(UID(cx.abstract_syntax or "").name, int(cx.result or 0))
                    for cx in negotiated]
        raise RemoteFailure(diagnosis.service_not_accepted(target, refusals))
    return accepted, int(accept.maximum_length_received or 0), _implementation(accept)


def _implementation(accept: A_ASSOCIATE) -> str:
    """The remote's implementation version name, else its class UID."""
    names = [item.implementation_version_name for item in accept.user_information
             if isinstance(item, ImplementationVersionNameNotification)]
    return str(names[0] if names and names[0] else accept.implementation_class_uid or "")


def _user_information(max_pdu: int) -> list[
        MaximumLengthNotification | ImplementationClassUIDNotification
        | ImplementationVersionNameNotification]:
    length = MaximumLengthNotification()
    length.maximum_length_received = max_pdu
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = UID(IMPLEMENTATION_CLASS_UID)
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    return [length, implementation, version]


def _scp_role(sop_class: str) -> SCP_SCU_RoleSelectionNegotiation:
    item = SCP_SCU_RoleSelectionNegotiation()
    item.sop_class_uid = UID(sop_class)
    item.scu_role = False
    item.scp_role = True
    return item


def _close_with_abort(sock: socket.socket) -> None:
    try:
        sock.sendall(abort_pdu())
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
