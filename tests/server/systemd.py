"""A stand-in for systemd's notification socket: what a Type=notify service tells it."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path


class NotifySocket:
    """A datagram socket where ``NOTIFY_SOCKET`` (``env``) points: an abstract name
    (``@...``), or ``path`` when given; each message is read back as its fields
    (``{"READY": "1", "STATUS": "..."}``)."""

    def __init__(self, path: Path | None = None) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:
            name = f"tui-pacs-test-{secrets.token_hex(8)}"
            self._sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self._sock.bind(str(path))
            self.address = str(path)
        self.received: list[dict[str, str]] = []

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address}

    def wait_for(self, field: str, timeout: float = 30.0) -> dict[str, str]:
        """The next message holding ``field`` (every message read is kept in
        ``received``); TimeoutError when none comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            self._sock.settimeout(max(0.001, deadline - time.monotonic()))
            message = _fields(self._sock.recv(4096))
            self.received.append(message)
            if field in message:
                return message

    def waiting(self) -> list[dict[str, str]]:
        """The messages already sent and not read yet, without waiting for more."""
        self._sock.setblocking(False)
        messages = []
        try:
            while True:
                messages.append(_fields(self._sock.recv(4096)))
        except BlockingIOError:
            return messages

    def close(self) -> None:
        self._sock.close()


def _fields(data: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in data.decode().splitlines())
