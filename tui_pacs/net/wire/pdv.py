"""DIMSE messages written straight to a socket as P-DATA-TF PDUs (PS3.8 9.3.5).

A message is its command set in one PDU, then its dataset in fragments that
fit the peer's maximum PDU size, each behind six bytes of PDU header and six
of PDV item header. The fragments are views of the encoded dataset, handed
to ``sendmsg`` with their headers: the dataset is never copied (TLS sockets,
which have no ``sendmsg``, get each fragment joined to its headers).
"""

from __future__ import annotations

import socket
import struct

# PDU header (type, reserved, length) and PDV item header (length, context, control).
HEADER = struct.Struct(">BBLLBB")
P_DATA_TF = 0x04
COMMAND, LAST = 0x01, 0x02


def fragment_size(max_pdu: int) -> int:
    """The largest dataset fragment in a PDU the peer takes (0: no limit)."""
    return (max_pdu - 6) if max_pdu else 1 << 24


def write_message(sock: socket.socket, context_id: int, command: bytes,
                  dataset: bytes | bytearray | memoryview | None, fragment: int) -> None:
    """Write one message; raises OSError when the connection fails."""
    sock.sendall(HEADER.pack(P_DATA_TF, 0, len(command) + 6, len(command) + 2, context_id,
                             COMMAND | LAST) + command)
    if dataset is None:
        return
    gather = not hasattr(sock, "version")  # SSL sockets have no sendmsg
    view = memoryview(dataset)
    for start in range(0, max(len(view), 1), fragment):
        part = view[start:start + fragment]
        control = LAST if start + fragment >= len(view) else 0
        header = HEADER.pack(P_DATA_TF, 0, len(part) + 6, len(part) + 2, context_id, control)
        if gather:
            sent = sock.sendmsg([header, part])
            if sent < len(header) + len(part):
                sock.sendall((header + part.tobytes())[sent:])
        else:
            sock.sendall(header + part.tobytes())
