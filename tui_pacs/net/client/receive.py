"""Receiving the instances a retrieve brings: counted as they are archived.

:class:`Receiver` stores the sub-operations of a C-GET (they arrive on our
own association, :class:`~tui_pacs.net.client.get_scu.GetAssociation`) and is the
EVT_C_STORE handler of :class:`StorageListener`, the temporary storage SCP
that receives a C-MOVE to ourselves when no node is listening, as DCMTK's
movescu does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.transport import ThreadedAssociationServer

from tui_pacs.config import LimitsConfig
from tui_pacs.net.client.get_scu import Incoming, StoreOutcome
from tui_pacs.net.storage import store_dataset, store_event
from tui_pacs.net.wire.ae import NODELAY_HANDLERS, add_storage_scp_contexts, make_ae
from tui_pacs.store.archive import Archive, Outcome, StoreResult


class Receiver:
    """Stores each C-STORE into the archive and counts the outcomes."""

    def __init__(self, archive: Archive,
                 on_received: Callable[[int], None] | None = None) -> None:
        self._archive = archive
        # Called with the instances received so far.
        self._on_received = on_received
        self._lock = threading.Lock()
        self.new = 0
        self.duplicates = 0
        self.failures = 0

    @property
    def received(self) -> int:
        """Instances that arrived and are safe here (new or already held)."""
        return self.new + self.duplicates

    def handle_store(self, event: evt.Event) -> int | Dataset:
        """EVT_C_STORE handler: runs in the association's thread."""
        code, result = store_event(event, self._archive)
        self._count(result)
        return code

    def store(self, incoming: Incoming, source_aet: str) -> StoreOutcome:
        """Store a C-GET sub-operation (:class:`~tui_pacs.net.client.get_scu.GetAssociation`
        callback, in the association's thread); the status and why it failed."""
        code, result = store_dataset(self._archive, memoryview(incoming.dataset),
                                     incoming.transfer_syntax, source_aet)
        self._count(result)
        if isinstance(code, Dataset):
            return int(code.Status), str(code.get("ErrorComment", ""))
        return code, ""

    def _count(self, result: StoreResult | None) -> None:
        with self._lock:
            if result is None:
                self.failures += 1
            elif result.outcome is Outcome.DUPLICATE:
                self.duplicates += 1
            else:
                self.new += 1
            received = self.received
        if self._on_received is not None:
            self._on_received(received)

    @property
    def handlers(self) -> list[Any]:
        return [(evt.EVT_C_STORE, self.handle_store)]


class StorageListener:
    """A storage SCP that runs only while a C-MOVE to ourselves is in progress."""

    def __init__(self, aet: str, bind: str, port: int, limits: LimitsConfig,
                 receiver: Receiver) -> None:
        self.aet = aet
        self.bind = bind
        self.port = port
        self._limits = limits
        self._receiver = receiver
        self._server: ThreadedAssociationServer | None = None

    def start(self) -> None:
        """Listen; raises OSError (EADDRINUSE when a node already listens there)."""
        ae = make_ae(self.aet, self._limits)
        add_storage_scp_contexts(ae)
        self._server = ae.start_server(
            (self.bind, self.port), block=False,
            evt_handlers=[*NODELAY_HANDLERS, *self._receiver.handlers])

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

    def __enter__(self) -> StorageListener:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
