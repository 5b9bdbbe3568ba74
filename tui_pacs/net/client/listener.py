"""A DICOM server on our port for the duration of one operation.

When a remote must call us back (the instances of a C-MOVE to ourselves, a
storage commitment report) and no node listens on our port, the command
listens there itself while it needs to, as DCMTK's movescu does. Subclasses
say which presentation contexts to accept and how to serve what comes.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any, cast

from tui_pacs.config import LimitsConfig
from tui_pacs.core import diagnosis
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.wire.ae import make_ae
from tui_pacs.net.wire.pynetdicom_adapter import TunedServer

# How often the listener's accept loop looks for a stop request (seconds).
ACCEPT_POLL = 0.05


class TemporaryListener:
    def __init__(self, aet: str, bind: str, port: int, limits: LimitsConfig) -> None:
        self.aet = aet
        self.bind = bind
        self.port = port
        self._limits = limits
        self._server: TunedServer | None = None
        self._thread: threading.Thread | None = None

    def add_contexts(self, ae: Any) -> None:
        """Add the presentation contexts this listener accepts to ``ae``."""
        raise NotImplementedError

    def server_options(self) -> dict[str, Any]:
        """How its associations serve what comes: the keyword arguments of
        :class:`TunedServer` (evt_handlers, service_overrides, open_dataset)."""
        raise NotImplementedError

    def start(self) -> None:
        """Listen; raises OSError (EADDRINUSE when a node already listens there)."""
        ae = make_ae(self.aet, self._limits)
        self.add_contexts(ae)
        server = cast(TunedServer, ae.make_server(
            (self.bind, self.port), server_class=TunedServer, **self.server_options()))
        self._thread = threading.Thread(target=server.serve_forever, args=(ACCEPT_POLL,),
                                        name=f"listener {self.port}", daemon=True)
        self._thread.start()
        self._server = server

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

    def stop(self, linger: float = 0.0) -> None:
        """Stop listening; the port is free again when this returns. Associations
        in progress get up to ``linger`` seconds more to end (a remote that is
        still to read our answer and release)."""
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + linger
        for assoc in list(self._server.ae.active_associations):
            assoc.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> TemporaryListener:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
