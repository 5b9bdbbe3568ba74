"""PDUs on the socket (PS3.8 9.3): the one reader and the one P-DATA writer.

Every association reads its PDUs with :func:`read_pdu`, the node's and the
client's alike: each PDU goes into one buffer of the length its header
announces (bounded by :func:`pdu_size_limit`, so a lying length cannot make
us allocate gigabytes), and :func:`pdv_items` splits a P-DATA-TF into its
fragments as views of that buffer, without copies.

:func:`write_message` writes a DIMSE message as P-DATA-TF PDUs: its command
set, then its dataset in fragments that fit the peer's maximum PDU size,
each behind six bytes of PDU header and six of PDV item header. A short
dataset travels in the command's PDU (one segment on the wire for a C-FIND
response). The fragments are views of the encoded dataset handed to
``sendmsg`` with their headers, so the dataset is never copied (TLS
sockets, which have no ``sendmsg``, get each fragment joined to its headers).
:func:`write_messages` writes many short messages (C-FIND responses) with
one ``sendmsg``: most of a write's cost is per call, not per byte.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator

# The most parts handed to one sendmsg (Linux takes 1024).
_MOST_PARTS = 512
# PDU types (PS3.8 9.3.1).
ASSOCIATE_RQ, ASSOCIATE_AC, ASSOCIATE_RJ, P_DATA_TF = 0x01, 0x02, 0x03, 0x04
RELEASE_RQ, RELEASE_RP, ABORT = 0x05, 0x06, 0x07
# Message control header bits of a PDV (PS3.8 E.2).
COMMAND, LAST = 0x01, 0x02

PDU_HEADER = struct.Struct(">BBL")
_PDV_HEADER = struct.Struct(">LBB")
_P_DATA_HEADER = struct.Struct(">BBLLBB")  # a PDU header and its one PDV item's
# The largest PDU read when our maximum PDU size is 0 ("no limit"), and for
# association requests, which come before any size is agreed.
PDU_SIZE_FLOOR = 16 * 1024 * 1024


# A-RELEASE-RQ and -RP (PS3.8 9.3.6, 9.3.7): a header and four reserved bytes.
RELEASE_REQUEST = PDU_HEADER.pack(RELEASE_RQ, 0, 4) + bytes(4)
RELEASE_ANSWER = PDU_HEADER.pack(RELEASE_RP, 0, 4) + bytes(4)
# Who aborts (PS3.8 9.3.8): the service user, or the provider (a protocol error).
SERVICE_USER, SERVICE_PROVIDER = 0x00, 0x02


def abort_pdu(source: int = SERVICE_USER, reason: int = 0x00) -> bytes:
    """An A-ABORT PDU (PS3.8 9.3.8)."""
    return PDU_HEADER.pack(ABORT, 0, 4) + bytes([0, 0, source, reason])


class NotDicom(ValueError):
    """The peer sent something that is not a DICOM PDU; says what it looks like."""


class TruncatedPdu(ConnectionError):
    """The connection ended, or stalled past its timeout, in the middle of a PDU."""


def pdu_size_limit(maximum_pdu_size: int) -> int:
    """The largest PDU accepted from a peer: what we advertised, never less
    than PDU_SIZE_FLOOR."""
    return max(maximum_pdu_size or 0, PDU_SIZE_FLOOR)


def read_pdu(sock: socket.socket, limit: int, header: bytearray | None = None,
             have: int = 0) -> tuple[int, bytearray]:
    """One whole PDU: (type, its bytes including the 6-byte header).

    ``header``/``have``: the first bytes of the header, already read (the
    node's reactor reads them without waiting once select() has said so).
    Raises ConnectionError when the peer closes before a PDU starts,
    TruncatedPdu when it does so in the middle of one, NotDicom for a PDU
    type that does not exist or a length over ``limit``; timeouts as OSError.
    """
    header = header if header is not None else bytearray(PDU_HEADER.size)
    if not _fill(sock, memoryview(header)[have:]):
        raise ConnectionError("the peer closed the connection")
    kind, _, length = PDU_HEADER.unpack(header)
    if not ASSOCIATE_RQ <= kind <= ABORT:
        raise NotDicom(_unknown_pdu(kind))
    if length > limit:
        raise NotDicom(f"a PDU of {length} bytes announced, more than the {limit} accepted")
    pdu = bytearray(PDU_HEADER.size + length)
    pdu[:PDU_HEADER.size] = header
    try:
        complete = _fill(sock, memoryview(pdu)[PDU_HEADER.size:])
    except OSError as exc:
        raise TruncatedPdu(f"the connection failed in the middle of a PDU: {exc}") from exc
    if not complete:
        raise TruncatedPdu("the connection ended in the middle of a PDU")
    return kind, pdu


def pdv_items(pdu: bytearray) -> Iterator[tuple[int, int, memoryview]]:
    """The (context ID, control header, fragment) items of a P-DATA-TF."""
    view = memoryview(pdu)
    position, end = PDU_HEADER.size, len(pdu)
    while position + _PDV_HEADER.size <= end:
        length, context_id, control = _PDV_HEADER.unpack_from(pdu, position)
        if length < 2 or position + 4 + length > end:
            raise NotDicom(f"a P-DATA-TF item of {length} bytes in a PDU of {end}")
        yield context_id, control, view[position + _PDV_HEADER.size:position + 4 + length]
        position += 4 + length


def fragment_size(max_pdu: int) -> int:
    """The largest dataset fragment in a PDU the peer takes (0: no limit)."""
    return (max_pdu - 6) if max_pdu else 1 << 24


def write_message(sock: socket.socket, context_id: int, command: bytes,
                  dataset: bytes | bytearray | memoryview | None, fragment: int) -> None:
    """Write one message; raises OSError when the connection fails."""
    whole = _one_pdu(context_id, command, dataset, fragment)
    if whole is not None:
        _send(sock, whole)
        return
    command_pdv = _PDV_HEADER.pack(len(command) + 2, context_id, COMMAND | LAST) + command
    sock.sendall(PDU_HEADER.pack(P_DATA_TF, 0, len(command_pdv)) + command_pdv)
    if dataset is None:
        return
    view = memoryview(dataset)
    for start in range(0, max(len(view), 1), fragment):
        part = view[start:start + fragment]
        control = LAST if start + fragment >= len(view) else 0
        _send(sock, [_P_DATA_HEADER.pack(P_DATA_TF, 0, len(part) + 6, len(part) + 2,
                                         context_id, control), part])


def write_messages(sock: socket.socket, context_id: int,
                   messages: Iterable[tuple[bytes, bytes | bytearray | memoryview | None]],
                   fragment: int) -> None:
    """Write several messages: those that fit in one PDU each (C-FIND
    responses) go out together, a write for many instead of one each."""
    parts: list[bytes | memoryview] = []
    for command, dataset in messages:
        whole = _one_pdu(context_id, command, dataset, fragment)
        if whole is None or len(parts) >= _MOST_PARTS:
            if parts:
                _send(sock, parts)
                parts = []
        if whole is None:
            write_message(sock, context_id, command, dataset, fragment)
        else:
            parts += whole
    if parts:
        _send(sock, parts)


def _one_pdu(context_id: int, command: bytes, dataset: bytes | bytearray | memoryview | None,
             fragment: int) -> list[bytes | memoryview] | None:
    """A message as one P-DATA-TF (its command and its short dataset, or a
    command alone), in parts; None when it needs more PDUs."""
    command_pdv = _PDV_HEADER.pack(len(command) + 2, context_id, COMMAND | LAST) + command
    if dataset is None:
        return [PDU_HEADER.pack(P_DATA_TF, 0, len(command_pdv)) + command_pdv]
    view = memoryview(dataset)
    if len(command) + 6 + len(view) > fragment:
        return None
    data_pdv = _PDV_HEADER.pack(len(view) + 2, context_id, LAST)
    length = len(command_pdv) + len(data_pdv) + len(view)
    return [PDU_HEADER.pack(P_DATA_TF, 0, length) + command_pdv + data_pdv, view]


def _send(sock: socket.socket, parts: list[bytes | memoryview]) -> None:
    if hasattr(sock, "version"):  # an SSL socket: no sendmsg
        sock.sendall(b"".join(parts))
        return
    sent = sock.sendmsg(parts)
    total = sum(len(part) for part in parts)
    if sent < total:
        sock.sendall(b"".join(parts)[sent:])


def _fill(sock: socket.socket, view: memoryview) -> bool:
    """Fill ``view`` from the socket; False when the peer closed it first."""
    filled = 0
    while filled < len(view):
        count = sock.recv_into(view[filled:])
        if not count:
            return False
        filled += count
    return True


def _unknown_pdu(first_byte: int) -> str:
    """What a peer whose first byte is no PDU type probably sent."""
    if first_byte == 0x16:
        return "a TLS handshake, to a port without TLS"
    if chr(first_byte) in "GHPO":
        return "an HTTP request (GET, HEAD, POST, OPTIONS?), not DICOM"
    return f"a PDU of unknown type 0x{first_byte:02X} (not DICOM?)"
