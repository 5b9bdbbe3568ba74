"""C-STORE SCP: every instance stored as received, acknowledged once it is safe.

The handler runs in the association's thread and blocks there until the
archive's group commit has made the file durable and indexed
(:func:`tui_pacs.net.storage.store_event`); only then does the peer get
success. An instance we already hold gets success too (the peer's copy is
safe with us) and a log line; the archive keeps its copy unless
``storage.overwrite_duplicates`` is on.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from tui_pacs.core import status
from tui_pacs.net.context import ServerContext
from tui_pacs.net.storage import failure, store_event
from tui_pacs.store.archive import Outcome


def handle_store(event: Any, context: ServerContext) -> int | Dataset:
    """EVT_C_STORE handler."""
    operation = context.operation(event.assoc, "C-STORE")
    calling = operation.peer.calling_aet
    sop_uid = str(event.request.AffectedSOPInstanceUID or "")
    if not context.policy.allows("store", calling):
        operation.finish(status.NOT_AUTHORIZED, detail=f"{calling} may not store")
        return failure(status.NOT_AUTHORIZED, f"{calling} may not store on this node")
    size = _dataset_size(event)
    code, result = store_event(event, context.archive)
    counts = {"bytes": size}
    if result is None:
        detail = f"{sop_uid}: " + (code.ErrorComment if isinstance(code, Dataset) else "failed")
        operation.finish(_code(code), counts, detail)
        return code
    stats = context.stats(event.assoc)
    stats.stored += 1
    stats.bytes_received += size
    detail = sop_uid
    if result.outcome is Outcome.DUPLICATE:
        detail += ": already archived, the stored copy was kept"
    elif result.outcome is Outcome.REPLACED:
        detail += ": already archived, replaced"
    operation.finish(status.SUCCESS, {**counts, "instances": 1}, detail)
    return code


def _dataset_size(event: Any) -> int:
    try:
        return event.request.DataSet.getbuffer().nbytes
    except (AttributeError, ValueError):
        return 0


def _code(code: int | Dataset) -> int:
    return int(code.Status) if isinstance(code, Dataset) else int(code)
