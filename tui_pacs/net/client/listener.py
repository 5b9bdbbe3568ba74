"""A DICOM server on our port for the duration of one operation.

When a remote must call us back (the instances of a C-MOVE to ourselves, a
storage commitment report) and no node listens on our port, the command
listens there itself while it needs to, as DCMTK's movescu does. Subclasses
say which presentation contexts to accept and which handlers to bind.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from typing import Any

from pynetdicom.transport import ThreadedAssociationServer

from tui_pacs.config import LimitsConfig
from tui_pacs.core import diagnosis
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.wire.ae import NODELAY_HANDLERS, make_ae


class TemporaryListener:
    def __init__(self, aet: str, bind: str, port: int, limits: LimitsConfig) -> None:
        self.aet = aet
        self.bind = bind
        self.port = port
        self._limits = limits
        self._server: ThreadedAssociationServer | None = None

    def add_contexts(self, ae: Any) -> None:
        """Add the presentation contexts this listener accepts to ``ae``."""
        raise NotImplementedError

    def handlers(self) -> list[Any]:
        """The pynetdicom event handlers that receive what comes."""
        raise NotImplementedError

    def start(self) -> None:
        """Listen; raises OSError (EADDRINUSE when a node already listens there)."""
        ae = make_ae(self.aet, self._limits)
        self.add_contexts(ae)
        self._server = ae.start_server(
            (self.bind, self.port), block=False,
            evt_handlers=[*NODELAY_HANDLERS, *self.handlers()])

    def start_unless_taken(self, what: str) -> bool:
        """Listen, unless a node already listens on the port: whether we do.
        Raises RemoteFailure (saying we wanted to listen for ``what``) when the
        port cannot be used for another reason."""
        try:
            self.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise RemoteFailure(diagnosis.cannot_listen(
                self.bind, self.port, exc.strerror or str(exc), what)) from None
        return True

    def stop(self) -> None:
        """Stop listening; the port is free again when this returns."""
        if self._server is None:
            return
        stopping = threading.Thread(target=self._server.shutdown, daemon=True,
                                    name=f"stop listener {self.port}")
        stopping.start()
        # The server looks at its stop flag every half second, or when a
        # connection comes: knock until it has seen the flag.
        while stopping.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((self._knock_address(), self.port), timeout=1).close()
            stopping.join(0.02)
        self._server = None

    def _knock_address(self) -> str:
        return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.bind, self.bind)

    def __enter__(self) -> TemporaryListener:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
