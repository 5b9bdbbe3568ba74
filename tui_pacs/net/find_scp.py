"""C-FIND SCP: Patient Root and Study Root queries answered from the index."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset

from tui_pacs.core import status
from tui_pacs.net.context import INDEX_TIMEOUT, ServerContext
from tui_pacs.net.qr_model import QueryError, model_of, parse_find, response_identifier
from tui_pacs.net.storage import failure

log = logging.getLogger(__name__)

# Rows fetched from the index at a time: memory stays bounded on big
# archives, and a C-CANCEL is noticed between pages as well as between rows.
PAGE_SIZE = 500


def handle_find(event: Any, context: ServerContext) -> Iterator[tuple[int | Dataset, Any]]:
    """EVT_C_FIND handler (a generator of (status, identifier) pairs)."""
    operation = context.operation(event.assoc, "C-FIND")
    calling = operation.peer.calling_aet
    if not context.policy.allows("find", calling):
        operation.finish(status.NOT_AUTHORIZED, detail=f"{calling} may not query")
        yield failure(status.NOT_AUTHORIZED, f"{calling} may not query this node"), None
        return
    try:
        query = parse_find(event.identifier, model_of(event.request.AffectedSOPClassUID))
    except QueryError as exc:
        operation.finish(exc.code, detail=str(exc))
        yield failure(exc.code, str(exc)), None
        return
    except Exception as exc:  # pydicom could not decode the identifier
        operation.finish(status.CANNOT_UNDERSTAND, detail=f"bad identifier: {exc}")
        yield failure(status.CANNOT_UNDERSTAND, "the identifier cannot be decoded"), None
        return

    our_aet = context.settings.node.aet
    matches = 0
    offset = 0
    while True:
        try:
            rows = context.bridge.run(
                context.archive.index.query(query.level, query.matchers,
                                            limit=PAGE_SIZE, offset=offset),
                INDEX_TIMEOUT)
        except Exception as exc:  # LoopGone, or the index itself failed
            log.error("C-FIND from %s failed: the index could not be read: %s", calling, exc)
            operation.finish(status.UNABLE_TO_PROCESS, {"matches": matches},
                             detail=f"{query.describe()}: index error: {exc}")
            yield failure(status.UNABLE_TO_PROCESS, "the archive index cannot be read"), None
            return
        for row in rows:
            if event.is_cancelled or context.stopping.is_set():
                why = "cancelled" if not context.stopping.is_set() else "node stopping"
                operation.finish(status.CANCEL, {"matches": matches},
                                 detail=f"{query.describe()}: {why}")
                yield status.CANCEL, None
                return
            yield status.PENDING, response_identifier(query, row, our_aet)
            matches += 1
        if len(rows) < PAGE_SIZE:
            break
        offset += PAGE_SIZE
    operation.finish(status.SUCCESS, {"matches": matches}, detail=query.describe())
