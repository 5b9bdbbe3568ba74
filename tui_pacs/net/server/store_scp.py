"""C-STORE SCP: every instance stored as received, acknowledged once it is safe.

The instance is stored in the association's thread, which waits there until
the archive's group commit has made the file durable and indexed
(:func:`tui_pacs.net.storage.store_dataset`); only then does the peer get
success. An instance we already hold gets success too (the peer's copy is
safe with us) and a log line; the archive keeps its copy unless
``storage.overwrite_duplicates`` is on.

The dataset reaches the archive's staging directory as its fragments arrive
(:meth:`StoreSCP.open_dataset`), so memory stays bounded whatever its size.
Plugged into :class:`~tui_pacs.net.wire.pynetdicom_adapter.TunedAssociation` in place of
pynetdicom's storage service class, for every C-STORE request (storage SOP
classes pynetdicom does not know included, when they are accepted); the
response's command set comes from :mod:`tui_pacs.net.wire.commands`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_STORE

from tui_pacs.core import status
from tui_pacs.net.server.context import ServerContext
from tui_pacs.net.storage import (
    answer,
    dataset_of,
    dataset_size,
    drop,
    failure,
    open_dataset,
    store_dataset,
)
from tui_pacs.net.wire.commands import Command
from tui_pacs.net.wire.messages import DatasetSink
from tui_pacs.store.archive import Outcome


class StoreSCP:
    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def open_dataset(self, assoc: Any, command: Command,
                     transfer_syntax: str | None) -> DatasetSink | None:
        """Where a request's dataset goes as it arrives (in the reactor's thread):
        a C-STORE's into the archive's staging directory, unless its sender may
        not store here (then nowhere)."""
        calling = assoc.requestor.ae_title.strip()
        return open_dataset(self.context.archive, command, transfer_syntax, calling,
                            self.context.policy.allows("store", calling))

    def serve(self, assoc: Any, req: C_STORE, presentation_context: Any) -> None:
        """Store one instance and answer (in the association's thread)."""
        outcome = self._store(assoc, req, presentation_context)
        answer(partial(assoc.dul.send_message, presentation_context.context_id), req, outcome)

    def _store(self, assoc: Any, req: C_STORE, presentation_context: Any) -> int | Dataset:
        operation = self.context.operation(assoc, "C-STORE")
        calling = operation.peer.calling_aet
        sop_uid = str(req.AffectedSOPInstanceUID or "")
        dataset = dataset_of(req)
        size = dataset_size(dataset)
        if not self.context.policy.allows("store", calling):
            drop(dataset)
            operation.finish(status.NOT_AUTHORIZED, detail=f"{calling} may not store")
            return failure(status.NOT_AUTHORIZED, f"{calling} may not store on this node")
        # What the node receives is forwarded as [[forward]] says.
        code, result = store_dataset(self.context.archive, dataset,
                                     presentation_context.transfer_syntax[0], calling,
                                     route=self.context.settings.forward_to)
        counts = {"bytes": size}
        if result is None:
            comment = code.ErrorComment if isinstance(code, Dataset) else "failed"
            operation.finish(_code(code), counts, f"{sop_uid}: {comment}")
            return code
        stats = self.context.stats(assoc)
        stats.stored += 1
        stats.bytes_received += size
        detail = sop_uid
        if result.outcome is Outcome.DUPLICATE:
            detail += ": already archived, the stored copy was kept"
        elif result.outcome is Outcome.REPLACED:
            detail += ": already archived, replaced"
        operation.finish(status.SUCCESS, {**counts, "instances": 1}, detail)
        return code


def _code(code: int | Dataset) -> int:
    return int(code.Status) if isinstance(code, Dataset) else int(code)
