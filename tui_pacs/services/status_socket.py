"""The node's status socket: how ``tui-pacs status`` asks a running node how it is.

A Unix stream socket, ``status.sock`` in the data directory, so that the
data directory names the node to ask. The protocol is JSON lines: the client
writes ``{"request": "status"}`` and reads one line back,
``{"result": {...}}`` or ``{"error": "one line"}``; it may ask again on the
same connection. Requests are served by name (:class:`StatusSocket` takes a
handler per request), so a service can answer requests of its own.

Only the node's user (and root) may ask: the socket is created with mode
0600 (set on the socket before it is bound, so it never exists with more)
and each client's user is checked (SO_PEERCRED). Nothing here follows a
symbolic link at the socket's place: the node removes a link it finds there
and binds through a descriptor of the data directory; the client opens the
socket itself with O_NOFOLLOW and connects through that descriptor. A socket
left by a node that was killed answers no one: the next node replaces it,
and the client reports that no node runs. A clean stop removes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tui_pacs.core.text import json_text

log = logging.getLogger(__name__)

SOCKET_NAME = "status.sock"
# The longest request line the node reads.
MAX_REQUEST = 64 * 1024
# A client that says nothing for this long is disconnected.
IDLE_TIMEOUT = 30.0
# How long the client waits for the node's answer.
ANSWER_TIMEOUT = 10.0
# How long the node waits for an older socket to answer before calling it stale.
STALE_CHECK_TIMEOUT = 1.0

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class StatusSocketError(Exception):
    """The socket cannot be served or asked; the message is one line for the user."""


class NoNode(StatusSocketError):
    """No node runs on that data directory."""


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


class StatusSocket:
    """The node's side: answers requests with ``handlers[request](message)``."""

    def __init__(self, data_dir: Path, handlers: dict[str, Handler]) -> None:
        self.path = socket_path(data_dir)
        self._data_dir = Path(data_dir)
        self._handlers = handlers
        self._server: asyncio.AbstractServer | None = None
        # The data directory (O_PATH) and the socket's (device, inode) while served.
        self._directory: int | None = None
        self._identity: tuple[int, int] | None = None

    async def start(self) -> bool:
        """Serve; False (and a log line saying why) when the socket cannot be served.
        A node without its status socket still runs."""
        try:
            sock = await asyncio.to_thread(self._bind)
        except (StatusSocketError, OSError) as exc:
            self._close_directory()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            log.warning("no status socket at %s: %s", self.path, reason)
            return False
        self._server = await asyncio.start_unix_server(self._serve, sock=sock,
                                                       limit=MAX_REQUEST)
        return True

    async def close(self) -> None:
        """Stop answering and remove the socket (when it is still ours)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        directory, identity = self._directory, self._identity
        if directory is not None and identity is not None:
            with contextlib.suppress(OSError):
                found = os.stat(SOCKET_NAME, dir_fd=directory, follow_symlinks=False)
                if (found.st_dev, found.st_ino) == identity:
                    os.unlink(SOCKET_NAME, dir_fd=directory)
        self._identity = None
        self._close_directory()

    # --- binding (blocking) ----------------------------------------------------------

    def _bind(self) -> socket.socket:
        self._directory = os.open(self._data_dir, os.O_PATH | os.O_DIRECTORY)
        self._clear_place(self._directory)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Linux creates the socket file with the socket's own mode.
            os.fchmod(sock.fileno(), 0o600)
            sock.bind(_through(self._directory, SOCKET_NAME))
            sock.listen(16)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        made = os.stat(SOCKET_NAME, dir_fd=self._directory, follow_symlinks=False)
        self._identity = (made.st_dev, made.st_ino)
        return sock

    def _clear_place(self, directory: int) -> None:
        """Remove a stale socket or a symbolic link where ours goes; refuse to
        remove anything else, or the socket of a node that still answers."""
        try:
            found = os.stat(SOCKET_NAME, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(found.st_mode):
            os.unlink(SOCKET_NAME, dir_fd=directory)
            log.warning("removed a symbolic link at %s (not followed)", self.path)
            return
        if not stat.S_ISSOCK(found.st_mode):
            raise StatusSocketError(f"{self.path} exists and is not a socket (move it away)")
        try:
            with _connected(_through(directory, SOCKET_NAME), STALE_CHECK_TIMEOUT):
                pass
        except NoNode:
            os.unlink(SOCKET_NAME, dir_fd=directory)
            log.info("replaced the status socket of a node that did not stop cleanly")
            return
        except StatusSocketError:
            pass  # it exists but could not be asked: not ours to remove
        raise StatusSocketError("another node on this data directory answers there")

    def _close_directory(self) -> None:
        if self._directory is not None:
            os.close(self._directory)
            self._directory = None

    # --- answering -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        allowed = _same_user(writer)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
                except ValueError:  # longer than MAX_REQUEST
                    await _send(writer, {"error": "request too long"})
                    return
                if not line:
                    return
                if not allowed:  # answered, not cut off: the client reads why
                    await _send(writer, {"error": "only the node's user may ask it"})
                    return
                await _send(writer, await self._answer(line))
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            message = json.loads(line)
        except ValueError:
            return {"error": "not a JSON line"}
        name = message.get("request") if isinstance(message, dict) else None
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            known = ", ".join(sorted(self._handlers))
            return {"error": f"unknown request (known: {known})"}
        try:
            return {"result": await handler(message)}
        except Exception as exc:
            log.exception("the status socket's %s request failed", name)
            return {"error": f"internal error: {type(exc).__name__}: {exc}"}


def ask(data_dir: Path, request: str, timeout: float = ANSWER_TIMEOUT) -> dict[str, Any]:
    """Ask the node on ``data_dir`` (blocking); its result.

    Raises :class:`NoNode` when none runs there, :class:`StatusSocketError`
    when it cannot be asked or its answer is an error.
    """
    path = socket_path(data_dir)
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise NoNode(f"no node runs on {data_dir} (no {SOCKET_NAME})") from None
    except OSError as exc:
        raise StatusSocketError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise StatusSocketError(f"{path} is not a socket (not asked)")
        with _connected(f"/proc/self/fd/{fd}", timeout) as sock:
            sock.sendall(json_text({"request": request}).encode() + b"\n")
            answer = _read_line(sock)
    except (BrokenPipeError, ConnectionResetError):
        answer = b""
    except NoNode:
        raise NoNode(f"no node runs on {data_dir} (its socket is left from a node that "
                     "did not stop cleanly)") from None
    except TimeoutError:
        raise StatusSocketError(f"the node on {data_dir} did not answer within "
                                f"{timeout:.0f} s") from None
    finally:
        os.close(fd)
    if not answer:
        raise StatusSocketError(f"the node on {data_dir} closed the connection without "
                                "an answer")
    try:
        message = json.loads(answer)
    except ValueError:
        raise StatusSocketError("the node's answer is not JSON") from None
    if not isinstance(message, dict):
        raise StatusSocketError("the node's answer is not a JSON object")
    if "error" in message:
        raise StatusSocketError(f"the node says: {message['error']}")
    result = message.get("result")
    if not isinstance(result, dict):
        raise StatusSocketError("the node's answer holds no result")
    return result


@contextlib.contextmanager
def _connected(address: str, timeout: float):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            raise NoNode("nothing answers on the socket") from None
        except PermissionError:
            raise StatusSocketError("permission denied: ask as the node's user") from None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise NoNode("no socket") from None
            raise StatusSocketError(f"cannot connect: {exc.strerror or exc}") from None
        yield sock
    finally:
        sock.close()


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while not chunks or not chunks[-1].endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > 16 * MAX_REQUEST:
            raise StatusSocketError("the node's answer is too long")
    return b"".join(chunks)


def _through(directory: int, name: str) -> str:
    """The path of ``name`` in the directory open as ``directory``: never longer
    than an AF_UNIX address may be, however deep the data directory is."""
    return f"/proc/self/fd/{directory}/{name}"


def _same_user(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                  struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", credentials)
    return uid in (os.getuid(), 0)


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json_text(message).encode() + b"\n")
    await writer.drain()
