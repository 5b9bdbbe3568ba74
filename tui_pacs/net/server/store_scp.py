"""C-STORE SCP: every instance stored as received, acknowledged once it is safe.

The instance is stored in the association's thread, which waits there until
the archive's group commit has made the file durable and indexed
(:func:`tui_pacs.net.storage.store_event`); only then does the peer get
success. An instance we already hold gets success too (the peer's copy is
safe with us) and a log line; the archive keeps its copy unless
``storage.overwrite_duplicates`` is on.

Plugged into :class:`~tui_pacs.net.wire.pynetdicom_adapter.TunedAssociation` in place of
pynetdicom's storage service class, for every C-STORE request (storage SOP
classes pynetdicom does not know included, when they are accepted): a
success is answered with a command set encoded by
:mod:`tui_pacs.net.wire.encoding`; failures, which carry an error comment, go
through pynetdicom.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_STORE

from tui_pacs.core import status
from tui_pacs.net.server.context import ServerContext
from tui_pacs.net.storage import failure, store_event
from tui_pacs.net.wire.encoding import C_STORE_RSP, LAST_COMMAND_FRAGMENT, p_data, response_command
from tui_pacs.store.archive import Outcome


class StoreSCP:
    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def serve(self, assoc: Any, req: C_STORE, presentation_context: Any) -> None:
        """Store one instance and answer (in the association's thread)."""
        code = self._store(assoc, req, presentation_context)
        if isinstance(code, Dataset):
            rsp = C_STORE()
            rsp.MessageIDBeingRespondedTo = req.MessageID
            rsp.AffectedSOPClassUID = req.AffectedSOPClassUID
            rsp.AffectedSOPInstanceUID = req.AffectedSOPInstanceUID
            rsp.Status = code.Status
            rsp.ErrorComment = code.get("ErrorComment")
            assoc.dimse.send_msg(rsp, presentation_context.context_id)
            return
        command = response_command(C_STORE_RSP, req.AffectedSOPClassUID, req.MessageID, code,
                                   sop_instance_uid=req.AffectedSOPInstanceUID)
        assoc.dul.send_pdu(p_data([(presentation_context.context_id, LAST_COMMAND_FRAGMENT,
                                    command)]))

    def _store(self, assoc: Any, req: C_STORE, presentation_context: Any) -> int | Dataset:
        operation = self.context.operation(assoc, "C-STORE")
        calling = operation.peer.calling_aet
        sop_uid = str(req.AffectedSOPInstanceUID or "")
        if not self.context.policy.allows("store", calling):
            operation.finish(status.NOT_AUTHORIZED, detail=f"{calling} may not store")
            return failure(status.NOT_AUTHORIZED, f"{calling} may not store on this node")
        size = _dataset_size(req)
        received = SimpleNamespace(assoc=assoc, request=req,
                                   context=presentation_context.as_tuple)
        code, result = store_event(received, self.context.archive)
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


def _dataset_size(req: C_STORE) -> int:
    if req.DataSet is None:
        return 0
    try:
        return req.DataSet.getbuffer().nbytes
    except (AttributeError, ValueError):
        return 0


def _code(code: int | Dataset) -> int:
    return int(code.Status) if isinstance(code, Dataset) else int(code)
