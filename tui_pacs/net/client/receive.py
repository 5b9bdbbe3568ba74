"""Receiving the instances a retrieve brings: counted as they are archived.

:class:`Receiver` stores the sub-operations of a C-GET (they arrive on our
own association, :class:`~tui_pacs.net.client.get_scu.GetAssociation`) and
serves the C-STOREs of :class:`StorageListener`, the temporary storage SCP
that receives a C-MOVE to ourselves when no node is listening, as DCMTK's
movescu does. Either way each dataset is written to a staging file of the
archive as it arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_STORE

from tui_pacs.config import LimitsConfig
from tui_pacs.net.client.get_scu import Incoming, StoreOutcome
from tui_pacs.net.client.listener import TemporaryListener
from tui_pacs.net.storage import (
    answer,
    dataset_of,
    open_dataset,
    store_dataset,
)
from tui_pacs.net.wire.ae import NODELAY_HANDLERS, add_storage_scp_contexts
from tui_pacs.net.wire.commands import Command
from tui_pacs.net.wire.messages import DatasetSink
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

    def open_dataset(self, command: Command, transfer_syntax: str | None,
                     source_aet: str) -> DatasetSink | None:
        """Where an arriving C-STORE's dataset goes: the archive's staging directory."""
        return open_dataset(self._archive, command, transfer_syntax, source_aet, allowed=True)

    def store(self, incoming: Incoming, source_aet: str) -> StoreOutcome:
        """Store a C-GET sub-operation (:class:`~tui_pacs.net.client.get_scu.GetAssociation`
        callback, in the association's thread); the status and why it failed."""
        code, result = store_dataset(self._archive, incoming.dataset, incoming.transfer_syntax,
                                     source_aet)
        self._count(result)
        if isinstance(code, Dataset):
            return int(code.Status), str(code.get("ErrorComment", ""))
        return code, ""

    def serve(self, assoc: Any, req: Any, presentation_context: Any) -> None:
        """Store a C-STORE sent to :class:`StorageListener` (a service override of
        its associations, in their thread) and answer it."""
        dataset = dataset_of(req)
        code, result = store_dataset(self._archive, dataset,
                                     presentation_context.transfer_syntax[0],
                                     assoc.requestor.ae_title.strip())
        self._count(result)
        answer(partial(assoc.dul.send_message, presentation_context.context_id), req, code)

    def open_for_association(self, assoc: Any, command: Command,
                             transfer_syntax: str | None) -> DatasetSink | None:
        """:meth:`open_dataset` for the associations of :class:`StorageListener`."""
        return self.open_dataset(command, transfer_syntax, assoc.requestor.ae_title.strip())

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


class StorageListener(TemporaryListener):
    """A storage SCP that runs only while a C-MOVE to ourselves is in progress."""

    def __init__(self, aet: str, bind: str, port: int, limits: LimitsConfig,
                 receiver: Receiver) -> None:
        super().__init__(aet, bind, port, limits)
        self._receiver = receiver

    def add_contexts(self, ae: Any) -> None:
        add_storage_scp_contexts(ae)

    def server_options(self) -> dict[str, Any]:
        return {"evt_handlers": NODELAY_HANDLERS,
                "service_overrides": {C_STORE: self._receiver.serve},
                "open_dataset": self._receiver.open_for_association}
