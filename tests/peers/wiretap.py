"""A TCP relay between tui-pacs and a peer that notes what the wire carries:
the DIMSE commands each side sends and the A-ABORTs, per association.

Peers log too little to tell which Message IDs they were sent or who
aborted; the relay reads the PDUs (PS3.8 9.3) as they pass and decodes
the command sets (Implicit VR Little Endian, group 0000).
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
from dataclasses import dataclass

C_CANCEL = 0x0FFF
_P_DATA, _ABORT = 0x04, 0x07


@dataclass(frozen=True)
class Seen:
    association: int
    # "request" (from the caller) or "response" (from the peer).
    direction: str
    kind: str
    command_field: int | None = None
    message_id: int | None = None


class WireTap:
    """Listens on a port of its own and relays each connection to ``port``."""

    def __init__(self, port: int) -> None:
        self._peer_port = port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._numbers = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._spawn(self._accept)

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def commands(self, direction: str = "request") -> list[Seen]:
        return [s for s in self.seen if s.kind == "command" and s.direction == direction]

    def aborts(self) -> list[Seen]:
        return [s for s in self.seen if s.kind == "abort"]

    def close(self) -> None:
        self._server.close()
        for sock in self._sockets:
            _shut(sock)
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                caller, _ = self._server.accept()
            except OSError:
                return
            peer = socket.create_connection(("127.0.0.1", self._peer_port))
            self._sockets += [caller, peer]
            number = next(self._numbers)
            self._spawn(self._relay, caller, peer, number, "request")
            self._spawn(self._relay, peer, caller, number, "response")

    def _relay(self, source: socket.socket, sink: socket.socket, number: int,
               direction: str) -> None:
        command = bytearray()
        try:
            while True:
                header = _read(source, 6)
                body = _read(source, struct.unpack(">L", header[2:])[0])
                sink.sendall(header + body)
                if header[0] == _ABORT:
                    self._note(Seen(number, direction, "abort"))
                elif header[0] == _P_DATA:
                    for control, fragment in _pdvs(body):
                        if control & 0x01:
                            command += fragment
                            if control & 0x02:
                                field, message_id = _command(bytes(command))
                                self._note(Seen(number, direction, "command", field,
                                                message_id))
                                command.clear()
        except OSError:
            pass
        finally:
            _shut(source)
            _shut(sink)
            source.close()

    def _note(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _read(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return bytes(data)


def _pdvs(body: bytes):
    position = 0
    while position + 6 <= len(body):
        length = struct.unpack(">L", body[position:position + 4])[0]
        yield body[position + 5], body[position + 6:position + 4 + length]
        position += 4 + length


def _command(data: bytes) -> tuple[int | None, int | None]:
    """The Command Field and the Message ID (a request's, or the one responded to)."""
    values: dict[int, int] = {}
    position = 0
    while position + 8 <= len(data):
        _, element, length = struct.unpack("<HHL", data[position:position + 8])
        if length == 2:
            values[element] = struct.unpack("<H", data[position + 8:position + 10])[0]
        position += 8 + length
    return values.get(0x0100), values.get(0x0110, values.get(0x0120))
