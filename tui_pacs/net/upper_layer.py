"""A C-STORE requestor that speaks the DICOM upper layer protocol itself.

Sending is the one bulk path where pynetdicom's machinery costs more than
the network: each PDU goes through two queues and a state machine in
another thread, and each response waits for a polling loop. Measured with
bench/send.py, 500 CT images went at about a third of DCMTK storescu's rate
through pynetdicom, and at storescu's pace with this module.

It does one thing: open an association (with the same diagnoses as every
other one, see :mod:`tui_pacs.net.association`), send C-STORE requests one
after the other from one thread, writing the PDUs straight to the socket and
reading each response as it comes, then release. PDUs of the association
phase are encoded and decoded with pynetdicom's own PDU classes; the data
phase is a few bytes of header in front of each fragment of the dataset.
"""

from __future__ import annotations

import io
import socket
import struct
import time
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
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
)
from pynetdicom.presentation import PresentationContext, negotiate_as_requestor

from tui_pacs.core import diagnosis
from tui_pacs.core.remote import Connection, Diagnosis, RemoteFailure
from tui_pacs.net.association import Session, connect_tcp, resolve, wrap_tls
from tui_pacs.store.ingest import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

APPLICATION_CONTEXT = UID("1.2.840.10008.3.1.1.1")

# PDU types (PS3.8 9.3.1).
_ASSOCIATE_AC, _ASSOCIATE_RJ, _P_DATA = 0x02, 0x03, 0x04
_RELEASE_RQ, _RELEASE_RP, _ABORT = 0x05, 0x06, 0x07
# PDU header (type, reserved, length) and PDV item header (length, context, control).
_HEADER = struct.Struct(">BBLLBB")
_PDU_HEADER = struct.Struct(">BBL")
_COMMAND, _LAST = 0x01, 0x02
_C_STORE_RQ = 0x0001
_MEDIUM_PRIORITY = 0x0000
_DATASET_PRESENT = 0x0000


class StoreAssociation:
    """An association for C-STORE requests, from one thread at a time.

    ``abort()`` may come from another thread (cancellation): the socket
    closes and whatever the sending thread was waiting for fails.
    """

    def __init__(self, sock: socket.socket, session: Session,
                 contexts: dict[tuple[str, str], int], max_pdu: int,
                 connection: Connection) -> None:
        self._socket = sock
        self._session = session
        self._contexts = contexts
        # The largest PDU the remote takes (0: no limit), minus the PDV headers.
        self._fragment = (max_pdu - 6) if max_pdu else 1 << 24
        self._can_gather = not hasattr(sock, "version")  # SSL sockets have no sendmsg
        self._message_id = 0
        self.connection = connection
        self.is_established = True

    @property
    def accepted(self) -> set[tuple[str, str]]:
        """(SOP class UID, transfer syntax UID) pairs the remote accepted."""
        return set(self._contexts)

    @classmethod
    def open(cls, session: Session, contexts: Sequence[PresentationContext]
             ) -> StoreAssociation:
        """Connect and negotiate; raises RemoteFailure saying which step failed."""
        target = session.target
        address, resolve_seconds = resolve(target)
        started = time.perf_counter()
        sock = connect_tcp(target, address, session.connect_timeout)
        connected = time.perf_counter()
        try:
            if target.tls:
                sock = wrap_tls(sock, session)
            accepted, max_pdu, implementation = _negotiate(sock, session, contexts)
        except BaseException:
            sock.close()
            raise
        connection = Connection(address, sock.getsockname()[0], resolve_seconds,
                                connected - started, time.perf_counter() - connected,
                                max_pdu, implementation)
        sock.settimeout(session.dimse_timeout)
        return cls(sock, session, accepted, max_pdu, connection)

    def store(self, sop_class: str, sop_instance: str, transfer_syntax: str,
              data: bytes | memoryview) -> Dataset:
        """C-STORE an encoded dataset; the response's status dataset.

        Raises RemoteFailure when the association is lost on the way.
        """
        context = self._contexts[(sop_class, transfer_syntax)]
        self._message_id = self._message_id % 0xFFFF + 1
        command = _store_command(self._message_id, sop_class, sop_instance)
        try:
            self._socket.sendall(_HEADER.pack(_P_DATA, 0, len(command) + 6, len(command) + 2,
                                              context, _COMMAND | _LAST) + command)
            view = memoryview(data)
            for start in range(0, max(len(view), 1), self._fragment):
                part = view[start:start + self._fragment]
                last = _LAST if start + self._fragment >= len(view) else 0
                self._send_pdv(context, last, part)
            return self._response()
        except (OSError, ConnectionError) as exc:
            self._lost()
            raise RemoteFailure(self._lost_diagnosis(exc)) from None

    def release(self) -> None:
        """A-RELEASE, then close; an answer that does not come is not waited for long."""
        if not self.is_established:
            return
        self.is_established = False
        try:
            self._socket.settimeout(self._session.connect_timeout)
            self._socket.sendall(A_RELEASE_RQ().encode())
            while _read_pdu(self._socket)[0] != _RELEASE_RP:
                pass
        except (OSError, ConnectionError):
            pass  # the remote closed first: released all the same
        finally:
            self._socket.close()

    def abort(self) -> None:
        if self.is_established:
            self.is_established = False
            _close_with_abort(self._socket)

    def _send_pdv(self, context: int, control: int, part: memoryview) -> None:
        header = _HEADER.pack(_P_DATA, 0, len(part) + 6, len(part) + 2, context, control)
        if self._can_gather:
            sent = self._socket.sendmsg([header, part])
            if sent < len(header) + len(part):
                self._socket.sendall((header + part.tobytes())[sent:])
        else:
            self._socket.sendall(header + part.tobytes())

    def _response(self) -> Dataset:
        command = bytearray()
        while True:
            kind, pdu = _read_pdu(self._socket)
            if kind == _ABORT:
                self._lost()
                raise RemoteFailure(diagnosis.association_aborted(
                    self._session.target, pdu[8], pdu[9], "C-STORE"))
            if kind == _RELEASE_RQ:
                self._socket.sendall(A_RELEASE_RP().encode())
                self._lost()
                raise RemoteFailure(diagnosis.aborted_during(
                    self._session.target, "C-STORE", self._session.calling_aet))
            if kind != _P_DATA:
                self.abort()
                raise RemoteFailure(diagnosis.aborted_during(
                    self._session.target, "C-STORE", self._session.calling_aet))
            position = 6
            while position < len(pdu):
                length = struct.unpack_from(">L", pdu, position)[0]
                control = pdu[position + 5]
                command += pdu[position + 6:position + 4 + length]
                position += 4 + length
                if control & _LAST:
                    return read_dataset(io.BytesIO(bytes(command)), True, True)

    def _lost(self) -> None:
        self.is_established = False
        _close(self._socket)

    def _lost_diagnosis(self, exc: Exception) -> Diagnosis:
        if isinstance(exc, TimeoutError):
            return diagnosis.no_response(self._session.target, "C-STORE",
                                         self._session.dimse_timeout)
        return diagnosis.aborted_during(self._session.target, "C-STORE",
                                        self._session.calling_aet)


def _negotiate(sock: socket.socket, session: Session, contexts: Sequence[PresentationContext]
               ) -> tuple[dict[tuple[str, str], int], int, str]:
    """A-ASSOCIATE: the accepted (SOP class, transfer syntax) -> context ID, the
    remote's largest PDU, its implementation name."""
    target = session.target
    for number, context in enumerate(contexts):
        context.context_id = 2 * number + 1
    request = A_ASSOCIATE()
    request.application_context_name = APPLICATION_CONTEXT
    request.calling_ae_title = session.calling_aet
    request.called_ae_title = target.aet
    request.presentation_context_definition_list = list(contexts)
    request.user_information = _user_information(session.limits.max_pdu)
    sock.settimeout(session.connect_timeout)
    try:
        sock.sendall(A_ASSOCIATE_RQ(request).encode())
        kind, pdu = _read_pdu(sock)
    except TimeoutError:
        raise RemoteFailure(diagnosis.no_association_answer(
            target, session.connect_timeout)) from None
    except (OSError, ConnectionError):
        raise RemoteFailure(diagnosis.connection_closed(target)) from None
    if kind == _ASSOCIATE_RJ:
        reject = A_ASSOCIATE_RJ()
        reject.decode(pdu)
        raise RemoteFailure(diagnosis.association_rejected(
            target, session.calling_aet, int(reject.result or 0), int(reject.source or 0),
            int(reject.reason_diagnostic or 0)))
    if kind == _ABORT:
        raise RemoteFailure(diagnosis.association_aborted(target, pdu[8], pdu[9]))
    if kind != _ASSOCIATE_AC:
        raise RemoteFailure(diagnosis.connection_closed(target))
    answer = A_ASSOCIATE_AC()
    answer.decode(pdu)
    accept = answer.to_primitive()
    negotiated = negotiate_as_requestor(
        list(contexts), accept.presentation_context_definition_results_list, {})
    accepted = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])): int(cx.context_id)
                for cx in negotiated if cx.result == 0x00}
    if not accepted:
        _close_with_abort(sock)
        refusals = [(UID(cx.abstract_syntax).name, int(cx.result)) for cx in negotiated]
        raise RemoteFailure(diagnosis.service_not_accepted(target, refusals))
    return accepted, int(accept.maximum_length_received or 0), _implementation(accept)


def _implementation(accept: A_ASSOCIATE) -> str:
    """The remote's implementation version name, else its class UID."""
    names = [item.implementation_version_name for item in accept.user_information
             if isinstance(item, ImplementationVersionNameNotification)]
    return str(names[0] if names and names[0] else accept.implementation_class_uid or "")


def _user_information(max_pdu: int) -> list[object]:
    length = MaximumLengthNotification()
    length.maximum_length_received = max_pdu
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = UID(IMPLEMENTATION_CLASS_UID)
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = IMPLEMENTATION_VERSION_NAME
    return [length, implementation, version]


def _store_command(message_id: int, sop_class: str, sop_instance: str) -> bytes:
    """A C-STORE-RQ command set, Implicit VR Little Endian (PS3.7 9.3.1.1).

    Encoded by hand: six elements, and pydicom would spend more time on them
    than the network takes to carry an image's header.
    """
    body = b"".join((
        _element(0x0002, _uid(sop_class)),                       # Affected SOP Class UID
        _element(0x0100, struct.pack("<H", _C_STORE_RQ)),        # Command Field
        _element(0x0110, struct.pack("<H", message_id)),         # Message ID
        _element(0x0700, struct.pack("<H", _MEDIUM_PRIORITY)),   # Priority
        _element(0x0800, struct.pack("<H", _DATASET_PRESENT)),   # Command Data Set Type
        _element(0x1000, _uid(sop_instance)),                    # Affected SOP Instance UID
    ))
    return _element(0x0000, struct.pack("<L", len(body))) + body  # Command Group Length


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


def _uid(value: str) -> bytes:
    data = value.encode("ascii")
    return data + b"\0" if len(data) % 2 else data


def _read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    """One whole PDU: (type, bytes including the 6-byte header)."""
    header = _receive(sock, _PDU_HEADER.size)
    kind, _, length = _PDU_HEADER.unpack(header)
    return kind, header + _receive(sock, length)


def _receive(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:], size - received)
        if not count:
            raise ConnectionError("the remote closed the connection")
        received += count
    return bytes(buffer)


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
