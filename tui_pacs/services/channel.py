"""Messages between the node and its ingest worker processes.

One Unix socket pair per worker, of SOCK_SEQPACKET: each message is one
packet, kept whole by the kernel, so that no framing is needed and threads
may send at the same time. A message is a pickled tuple whose first item
names it; a connection the node accepted travels with its message as a
file descriptor (SCM_RIGHTS). Both ends are this program, started by the
node: nothing here comes from a peer.
"""

from __future__ import annotations

import array
import pickle
import socket
from typing import Any

# The largest message: a few kilobytes in practice (an index record, an
# event, a log line); the limit only guards the receive buffer.
MAX_MESSAGE = 1 << 20
_FD_SIZE = array.array("i").itemsize


class ChannelClosed(ConnectionError):
    """The process at the other end has gone."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray(MAX_MESSAGE)

    @classmethod
    def pair(cls) -> tuple[Channel, socket.socket]:
        """A channel, and the socket of its other end (for the child process)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return cls(ours), theirs

    def send(self, *message: Any, fd: int | None = None) -> None:
        """Send ``message`` (a tuple whose first item names it), with ``fd``;
        raises ChannelClosed."""
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"a {message[0]!r} message of {len(data)} bytes is too long")
        try:
            if fd is None:
                self.sock.send(data)
            else:
                socket.send_fds(self.sock, [data], [fd])
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None

    def receive(self) -> tuple[tuple[Any, ...], int | None]:
        """The next message and the file descriptor it carries, if any (from
        one thread at a time); raises ChannelClosed."""
        try:
            size, ancillary, flags, _ = self.sock.recvmsg_into(
                [self._buffer], socket.CMSG_SPACE(_FD_SIZE))
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None
        if size == 0:
            raise ChannelClosed("the other end closed the channel")
        fd = None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fd = array.array("i", data[:_FD_SIZE])[0]
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ChannelClosed("a message longer than the channel takes")
        with memoryview(self._buffer) as whole, whole[:size] as packet:
            return pickle.loads(packet), fd

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
