"""A hostile peer: a raw socket speaking broken DICOM on purpose.

PDUs are put together by hand (PS3.8 9.3) so that each length, item and
fragment can be wrong in exactly the way a test wants; DIMSE command sets
are encoded by pynetdicom, since they are meant to be right.
"""

from __future__ import annotations

import io
import socket
import struct
import time

from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pynetdicom.dimse_messages import C_ECHO_RQ, C_FIND_RQ, C_STORE_RQ
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_STORE
from pynetdicom.pdu import P_DATA_TF

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1234.99"

ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, P_DATA, RELEASE_RQ, RELEASE_RP, ABORT = range(1, 8)


def item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def pdu(kind: int, body: bytes, length: int | None = None) -> bytes:
    """A PDU; ``length`` overrides the true length of ``body`` (a lie)."""
    return struct.pack(">BBL", kind, 0, len(body) if length is None else length) + body


def associate_rq(contexts: list[tuple[int, str, list[str]]] | None = None,
                 calling: str = "HOSTILE", called: str = "TUIPACS",
                 max_pdu: int = 16384) -> bytes:
    """An A-ASSOCIATE-RQ proposing (context id, abstract syntax, transfer syntaxes)."""
    contexts = contexts or [(1, VERIFICATION, [IMPLICIT_LITTLE])]
    presentation = b"".join(
        item(0x20, bytes([number, 0, 0, 0]) + item(0x30, abstract.encode())
             + b"".join(item(0x40, ts.encode()) for ts in syntaxes))
        for number, abstract, syntaxes in contexts)
    user = item(0x50, item(0x51, struct.pack(">L", max_pdu))
                + item(0x52, IMPLEMENTATION_UID.encode()))
    body = (struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode()
            + bytes(32) + item(0x10, APPLICATION_CONTEXT.encode()) + presentation + user)
    return pdu(ASSOCIATE_RQ, body)


def p_data(context_id: int, control: int, data: bytes) -> bytes:
    """A P-DATA-TF with one PDV (control: bit 0 command, bit 1 last fragment)."""
    return pdu(P_DATA, struct.pack(">LBB", len(data) + 2, context_id, control) + data)


def dimse_request(primitive: C_ECHO | C_STORE | C_FIND, context_id: int = 1,
                  max_pdu: int = 16384) -> list[bytes]:
    """The P-DATA-TF PDUs of a request (command first), as pynetdicom encodes it."""
    message = {C_ECHO: C_ECHO_RQ, C_STORE: C_STORE_RQ, C_FIND: C_FIND_RQ}[type(primitive)]()
    message.primitive_to_message(primitive)
    pdus = []
    for primitive_pdata in message.encode_msg(context_id, max_pdu):
        tf = P_DATA_TF()
        tf.from_primitive(primitive_pdata)
        pdus.append(tf.encode())
    return pdus


def store_request(dataset: bytes, sop_instance_uid: str = "1.2.3.4", message_id: int = 1,
                  context_id: int = 1) -> list[bytes]:
    """The PDUs of a C-STORE-RQ carrying ``dataset`` as it is, malformed or not."""
    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = CT_IMAGE_STORAGE
    primitive.AffectedSOPInstanceUID = sop_instance_uid
    primitive.Priority = 0
    primitive.DataSet = io.BytesIO(dataset)
    pdus = dimse_request(primitive, context_id)
    if not dataset:  # pynetdicom sends no fragment at all; an empty one is sent here
        pdus.append(p_data(context_id, 0x02, b""))
    return pdus


def find_request(identifier: bytes, message_id: int = 1, context_id: int = 1) -> list[bytes]:
    primitive = C_FIND()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = STUDY_ROOT_FIND
    primitive.Priority = 0
    primitive.Identifier = io.BytesIO(identifier)
    return dimse_request(primitive, context_id)


def encode(ds, implicit: bool = False) -> bytes:
    """A dataset's bytes, little endian, as pydicom writes them."""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


class Peer:
    """One connection to the node."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes | list[bytes]) -> bool:
        """Send (PDUs one after the other); False when the node has closed the connection."""
        try:
            self.sock.sendall(data if isinstance(data, bytes) else b"".join(data))
            return True
        except OSError:
            return False

    def receive(self) -> tuple[int, bytes] | None:
        """The next PDU (type, body), or None once the node closed the connection."""
        header = self._exactly(6)
        if header is None:
            return None
        kind, _, length = struct.unpack(">BBL", header)
        body = self._exactly(length)
        return None if body is None else (kind, body)

    def associate(self, request: bytes | None = None) -> int | None:
        """Send an A-ASSOCIATE-RQ; the answer's PDU type (2 accepted, 3 rejected)."""
        self.send(request or associate_rq())
        answer = self.receive()
        return None if answer is None else answer[0]

    def status(self) -> int | None:
        """The Status of the next DIMSE response (its command set), or None."""
        command = b""
        while True:
            received = self.receive()
            if received is None or received[0] != P_DATA:
                return None
            body = received[1]
            pos = 0
            while pos < len(body):
                length, _, control = struct.unpack_from(">LBB", body, pos)
                fragment = body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if control & 0x01:
                    command += fragment
                    if control & 0x02:
                        ds = read_dataset(io.BytesIO(command), is_implicit_VR=True,
                                          is_little_endian=True)
                        return int(ds.Status)

    def closed_within(self, seconds: float) -> bool:
        """Whether the node closes the connection (reading whatever it sends first)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except OSError:
                return True  # reset
        return False

    def close(self) -> None:
        self.sock.close()

    def _exactly(self, count: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < count:
            try:
                chunk = self.sock.recv(count - len(chunks))
            except OSError:
                return None
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
