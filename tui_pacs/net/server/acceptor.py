"""The node's listeners when ingest worker processes serve its associations.

The node's own process binds every listener, as :class:`DicomServer` would
(a port in use or an address the machine lacks is reported the same way),
and accepts each connection in one thread, then hands it over
(``hand_off``): the worker serves it as if it had accepted it
(:meth:`DicomServer.adopt`). One process owning the port means no other
program can bind it beside the node, and the node chooses which worker
serves what, evenly, where the kernel's choice between several accepting
processes would be left to chance.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from tui_pacs.config import Settings
from tui_pacs.net.server.scp import Listener, ListenError, listen_problem, planned_listeners

log = logging.getLogger(__name__)

# As TunedServer's: room for a burst of peers connecting at once.
BACKLOG = 128
# How long accepting pauses when the process is out of file descriptors.
OUT_OF_FILES_PAUSE = 0.5

# (listener index, accepted socket, peer address)
HandOff = Callable[[int, socket.socket, Any], None]


class Acceptor:
    def __init__(self, settings: Settings, hand_off: HandOff) -> None:
        self._settings = settings
        self._hand_off = hand_off
        self._sockets: list[socket.socket] = []
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> list[Listener]:
        """Bind every listener and start accepting; raise ListenError (or
        TLSSetupError), and then it may be tried again."""
        listeners = []
        self._wake = socket.socketpair()
        try:
            for listener, _ in planned_listeners(self._settings):
                self._sockets.append(_bind(listener))
                listeners.append(listener)
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._accept, name="dicom-acceptor",
                                        daemon=True)
        self._thread.start()
        return listeners

    def stop(self) -> None:
        """Close the listeners; connections already handed over go on."""
        wake, self._wake = self._wake, None
        if wake is not None:
            wake[1].send(b"\0")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        for sock in wake or ():
            sock.close()

    def _accept(self) -> None:
        assert self._wake is not None  # set by start()
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake[0], selectors.EVENT_READ, None)
            for index, sock in enumerate(self._sockets):
                selector.register(sock, selectors.EVENT_READ, index)
            while True:
                for key, _ in selector.select():
                    if key.data is None:
                        return
                    self._accept_one(key.data, self._sockets[key.data])

    def _accept_one(self, index: int, sock: socket.socket) -> None:
        try:
            client, address = sock.accept()
        except BlockingIOError:
            return  # the peer gave up meanwhile
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                log.error("cannot accept connections: out of file descriptors")
                time.sleep(OUT_OF_FILES_PAUSE)
            return
        try:
            self._hand_off(index, client, address)
        except Exception:
            log.exception("error handing over a connection from %s", address)
        finally:
            client.close()  # the worker has its own copy now


def _bind(listener: Listener) -> socket.socket:
    family = socket.AF_INET6 if ":" in listener.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As pynetdicom's server: a port in TIME_WAIT can be bound again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listener.address, listener.port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ListenError(listen_problem(listener, exc)) from None
    return sock
