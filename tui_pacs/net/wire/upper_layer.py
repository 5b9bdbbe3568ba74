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
with pynetdicom's own PDU classes; the data phase is a few bytes of header
in front of each fragment, and command sets are short lists of elements
written and read here (Implicit VR Little Endian, PS3.7 6.3).

:class:`StoreAssociation` sends C-STORE requests (``tui-pacs send``, the
sub-operations of a C-MOVE we serve); :class:`~tui_pacs.net.client.get_scu.GetAssociation`
receives the instances of a C-GET.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Self

from pydicom.uid import UID
from pynetdicom.pdu import (
    A_ABORT_RQ,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
)
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
from tui_pacs.net.wire.pdv import COMMAND, LAST, fragment_size, write_message
from tui_pacs.net.wire.pynetdicom_adapter import PDU_SIZE_FLOOR, pdu_size_limit
from tui_pacs.store.ingest import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

APPLICATION_CONTEXT = UID("1.2.840.10008.3.1.1.1")

# PDU types (PS3.8 9.3.1).
_ASSOCIATE_AC, _ASSOCIATE_RJ, _P_DATA = 0x02, 0x03, 0x04
_RELEASE_RQ, _RELEASE_RP, _ABORT = 0x05, 0x06, 0x07
# PDU header (type, reserved, length) and PDV item header (length, context, control).
_PDU_HEADER = struct.Struct(">BBL")
_PDV_HEADER = struct.Struct(">LBB")
_ELEMENT_HEADER = struct.Struct("<HHL")

# Command set elements (group 0000) and values (PS3.7 E.1).
AFFECTED_SOP_CLASS = 0x0002
COMMAND_FIELD = 0x0100
MESSAGE_ID = 0x0110
RESPONDING_TO = 0x0120
PRIORITY = 0x0700
DATASET_TYPE = 0x0800
STATUS = 0x0900
ERROR_COMMENT = 0x0902
AFFECTED_SOP_INSTANCE = 0x1000
REMAINING, COMPLETED, FAILED, WARNING = 0x1020, 0x1021, 0x1022, 0x1023
MOVE_ORIGINATOR_AET, MOVE_ORIGINATOR_ID = 0x1030, 0x1031
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
MEDIUM_PRIORITY = 0x0000
DATASET_PRESENT, NO_DATASET = 0x0000, 0x0101


class MalformedMessage(ValueError):
    """A message that breaks the rules: fragments out of order, a command set
    that is not a list of group 0000 elements."""


class Command:
    """A received command set: its raw values by element number (group 0000)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self._values: dict[int, bytes] = {}
        position, end = 0, len(data)
        while position < end:
            if position + 8 > end:
                raise MalformedMessage("truncated element header")
            group, element, length = _ELEMENT_HEADER.unpack_from(data, position)
            position += 8
            if group != 0x0000 or position + length > end:
                raise MalformedMessage(f"unexpected element ({group:04X},{element:04X})")
            self._values[element] = bytes(data[position:position + length])
            position += length

    def number(self, element: int) -> int | None:
        """A US or UL value; None when absent."""
        value = self._values.get(element)
        if value is None or len(value) not in (2, 4):
            return None
        return struct.unpack("<H" if len(value) == 2 else "<L", value)[0]

    def text(self, element: int) -> str:
        """A UI, AE or LO value without its padding; "" when absent."""
        return self._values.get(element, b"").decode("ascii", "replace").strip("\0 ")

    @property
    def field(self) -> int | None:
        return self.number(COMMAND_FIELD)

    @property
    def has_dataset(self) -> bool:
        return self.number(DATASET_TYPE) not in (None, NO_DATASET)

    @property
    def status(self) -> int | None:
        return self.number(STATUS)


@dataclass
class Message:
    """A DIMSE message as received: its command set, and its dataset if it has one."""

    context_id: int
    command: Command
    dataset: bytearray | None = None


def command_set(elements: Iterable[tuple[int, bytes]]) -> bytes:
    """A command set of (element number, encoded value), with its group length.

    Written by hand: a few short elements, and pydicom would spend more time
    on them than the network takes to carry an image's header.
    """
    body = b"".join(_element(element, value) for element, value in elements)
    return _element(0x0000, struct.pack("<L", len(body))) + body


def store_request(message_id: int, sop_class: str, sop_instance: str,
                  originator: tuple[str, int] | None = None) -> bytes:
    """A C-STORE-RQ command set (PS3.7 9.3.1.1); ``originator``: the AE title and
    Message ID of the C-MOVE it is a sub-operation of."""
    elements = [(AFFECTED_SOP_CLASS, ui(sop_class)), (COMMAND_FIELD, us(C_STORE_RQ)),
                (MESSAGE_ID, us(message_id)), (PRIORITY, us(MEDIUM_PRIORITY)),
                (DATASET_TYPE, us(DATASET_PRESENT)), (AFFECTED_SOP_INSTANCE, ui(sop_instance))]
    if originator is not None:
        elements += [(MOVE_ORIGINATOR_AET, ae(originator[0])),
                     (MOVE_ORIGINATOR_ID, us(originator[1]))]
    return command_set(elements)


def us(value: int) -> bytes:
    return struct.pack("<H", value)


def ui(value: str) -> bytes:
    """A UI value, padded to an even length with NUL."""
    data = value.encode("ascii")
    return data + b"\0" if len(data) % 2 else data


def ae(value: str) -> bytes:
    """An AE value, padded to an even length with a space."""
    data = value.encode("ascii")
    return data + b" " if len(data) % 2 else data


def _element(element: int, value: bytes) -> bytes:
    return _ELEMENT_HEADER.pack(0x0000, element, len(value)) + value


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
                self._socket.sendall(A_RELEASE_RQ().encode())
            while self._read_pdu()[0] != _RELEASE_RP:
                pass
        except (OSError, ConnectionError):
            pass  # the remote closed first: released all the same
        finally:
            self._socket.close()

    def abort(self) -> None:
        if self.is_established:
            self.is_established = False
            _close_with_abort(self._socket)

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

    def read_message(self) -> Message:
        """The next whole message from the remote; raises RemoteFailure when the
        association ends (abort, release, timeout) instead."""
        try:
            context_id, control, fragment = self._next_pdv()
            command = bytearray()
            while True:
                if not control & COMMAND:
                    raise MalformedMessage("a dataset fragment where a command was due")
                command += fragment
                if control & LAST:
                    break
                context_id, control, fragment = self._next_pdv()
            message = Message(context_id, Command(command))
            if not message.command.has_dataset:
                return message
            dataset = bytearray()
            while True:
                fragment_context, control, fragment = self._next_pdv()
                if control & COMMAND or fragment_context != context_id:
                    raise MalformedMessage("a dataset interrupted by another message")
                dataset += fragment
                if control & LAST:
                    message.dataset = dataset
                    return message
        except MalformedMessage:
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
        return _read_pdu(self._socket, pdu_size_limit(self._session.limits.max_pdu))

    def _read_p_data(self) -> None:
        kind, pdu = self._read_pdu()
        target, service = self._session.target, self.service
        if kind == _ABORT:
            self._lost()
            raise RemoteFailure(diagnosis.association_aborted(target, pdu[8], pdu[9], service))
        if kind == _RELEASE_RQ:
            with self._send_lock:
                self._socket.sendall(A_RELEASE_RP().encode())
            self._lost()
            raise RemoteFailure(diagnosis.aborted_during(target, service,
                                                         self._session.calling_aet))
        if kind != _P_DATA:
            self.abort()
            raise RemoteFailure(diagnosis.aborted_during(target, service,
                                                         self._session.calling_aet))
        view = memoryview(pdu)
        position = 6
        while position + 6 <= len(pdu):
            length, context_id, control = _PDV_HEADER.unpack_from(pdu, position)
            self._pdvs.append((context_id, control, view[position + 6:position + 4 + length]))
            position += 4 + length

    def _lost(self) -> None:
        self.is_established = False
        _close(self._socket)

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
        sock.sendall(A_ASSOCIATE_RQ(request).encode())
        kind, pdu = _read_pdu(sock, PDU_SIZE_FLOOR)
    except TimeoutError:
        raise RemoteFailure(diagnosis.no_association_answer(
            target, session.connect_timeout)) from None
    except (OSError, ConnectionError):
        raise RemoteFailure(diagnosis.connection_closed(target)) from None
    if kind == _ASSOCIATE_RJ:
        reject = A_ASSOCIATE_RJ()
        reject.decode(bytes(pdu))
        raise RemoteFailure(diagnosis.association_rejected(
            target, session.calling_aet, int(reject.result or 0), int(reject.source or 0),
            int(reject.reason_diagnostic or 0)))
    if kind == _ABORT:
        raise RemoteFailure(diagnosis.association_aborted(target, pdu[8], pdu[9]))
    if kind != _ASSOCIATE_AC:
        raise RemoteFailure(diagnosis.connection_closed(target))
    answer = A_ASSOCIATE_AC()
    answer.decode(bytes(pdu))
    accept = answer.to_primitive()
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


def _read_pdu(sock: socket.socket, limit: int) -> tuple[int, bytearray]:
    """One whole PDU: (type, bytes including the 6-byte header), read into one
    buffer. A PDU said to be longer than ``limit`` ends the connection."""
    header = bytearray(_PDU_HEADER.size)
    _receive_into(sock, memoryview(header))
    kind, _, length = _PDU_HEADER.unpack(header)
    if length > limit:
        raise ConnectionError(f"a PDU of {length} bytes (the limit is {limit})")
    pdu = bytearray(_PDU_HEADER.size + length)
    pdu[:_PDU_HEADER.size] = header
    _receive_into(sock, memoryview(pdu)[_PDU_HEADER.size:])
    return kind, pdu


def _receive_into(sock: socket.socket, view: memoryview) -> None:
    received = 0
    while received < len(view):
        count = sock.recv_into(view[received:])
        if not count:
            raise ConnectionError("the remote closed the connection")
        received += count


def _close_with_abort(sock: socket.socket) -> None:
    abort = A_ABORT_RQ()
    abort.source = 0x00
    abort.reason_diagnostic = 0x00
    try:
        sock.sendall(abort.encode())
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
