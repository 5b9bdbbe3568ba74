"""C-FIND SCP: Patient Root and Study Root queries answered from the index.

Plugged into :class:`~tui_pacs.net.wire.pynetdicom_adapter.TunedAssociation` in place of
pynetdicom's Q/R service class for C-FIND requests: the pending responses
are encoded by :mod:`tui_pacs.net.wire.encoding` and handed to the upper layer
directly, about ten times cheaper than pynetdicom's per-response encoding.
The final response (success, cancel, failure) goes through pynetdicom.
Rows are read from the index a page at a time, so memory stays bounded on
big archives, and a C-CANCEL is checked before every response.
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any, cast

from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import decode

from tui_pacs.core import status
from tui_pacs.net.bridge import INDEX_TIMEOUT
from tui_pacs.net.server.context import ServerContext
from tui_pacs.net.server.qr_model import QueryError, model_of, parse_find, response_elements
from tui_pacs.net.wire.encoding import (
    C_FIND_RSP,
    DATASET_FRAGMENT,
    LAST_COMMAND_FRAGMENT,
    LAST_DATASET_FRAGMENT,
    encode_dataset,
    p_data,
    response_command,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 500
# Bytes of a PDV item besides its fragment: the 4-byte item length, the
# context ID and the message control header.
_ITEM_HEADER = 6


class FindSCP:
    def __init__(self, context: ServerContext) -> None:
        self.context = context

    def serve(self, assoc: Any, req: C_FIND, presentation_context: Any) -> None:
        """Answer one C-FIND request (in the association's thread)."""
        operation = self.context.operation(assoc, "C-FIND")
        responder = _FindResponder(assoc, req, presentation_context)
        calling = operation.peer.calling_aet
        if not self.context.policy.allows("find", calling):
            responder.final(status.NOT_AUTHORIZED, f"{calling} may not query this node")
            operation.finish(status.NOT_AUTHORIZED, detail=f"{calling} may not query")
            return
        ts = responder.transfer_syntax
        try:
            # A request without an identifier (None) fails in decode, as it always has.
            identifier = decode(cast(BytesIO, req.Identifier), ts.is_implicit_VR,
                                ts.is_little_endian, ts.is_deflated)
            query = parse_find(identifier, model_of(req.AffectedSOPClassUID))
        except QueryError as exc:
            responder.final(exc.code, str(exc))
            operation.finish(exc.code, detail=str(exc))
            return
        except Exception as exc:  # the identifier does not decode
            responder.final(status.CANNOT_UNDERSTAND, "the identifier cannot be decoded")
            operation.finish(status.CANNOT_UNDERSTAND, detail=f"bad identifier: {exc}")
            return

        our_aet = self.context.settings.node.aet
        matches = 0
        offset = 0
        while True:
            try:
                rows = self.context.bridge.run(
                    self.context.archive.index.query(query.level, query.matchers,
                                                     limit=PAGE_SIZE, offset=offset),
                    INDEX_TIMEOUT)
            except Exception as exc:  # LoopGone, or the index itself failed
                log.error("C-FIND from %s: the index could not be read: %s", calling, exc)
                responder.final(status.UNABLE_TO_PROCESS, "the archive index cannot be read")
                operation.finish(status.UNABLE_TO_PROCESS, {"matches": matches},
                                 f"{query.describe()}: index error: {exc}")
                return
            for row in rows:
                cancelled = assoc.dimse.cancel_req.pop(req.MessageID, None) is not None
                if cancelled or self.context.stopping.is_set():
                    responder.final(status.CANCEL)
                    operation.finish(status.CANCEL, {"matches": matches},
                                     f"{query.describe()}: "
                                     f"{'cancelled' if cancelled else 'node stopping'}")
                    return
                elements, encoding = response_elements(query, row, our_aet)
                responder.pending(encode_dataset(elements, ts, encoding))
                matches += 1
            if len(rows) < PAGE_SIZE:
                break
            offset += PAGE_SIZE
        responder.final(status.SUCCESS)
        operation.finish(status.SUCCESS, {"matches": matches}, query.describe())


class _FindResponder:
    """Sends the responses to one C-FIND request."""

    def __init__(self, assoc: Any, req: C_FIND, presentation_context: Any) -> None:
        self.assoc = assoc
        self.req = req
        self.context_id = presentation_context.context_id
        self.transfer_syntax = presentation_context.transfer_syntax[0]
        self._pending_command = response_command(
            C_FIND_RSP, req.AffectedSOPClassUID, req.MessageID, status.PENDING,
            has_dataset=True)
        # The largest P-DATA-TF the peer takes (its variable field; 0: no limit).
        self._max_length = assoc.requestor.maximum_length or 0

    def pending(self, identifier: bytes) -> None:
        """A pending response carrying ``identifier`` (already encoded)."""
        items = [(self.context_id, LAST_COMMAND_FRAGMENT, self._pending_command)]
        items += [(self.context_id, header, fragment)
                  for header, fragment in self._fragments(identifier)]
        send = self.assoc.dul.send_pdu
        if not self._max_length or \
                sum(_ITEM_HEADER + len(item[2]) for item in items) <= self._max_length:
            send(p_data(items))  # command and identifier in one P-DATA-TF
        else:
            for item in items:
                send(p_data([item]))

    def final(self, code: int, comment: str = "") -> None:
        rsp = C_FIND()
        rsp.MessageIDBeingRespondedTo = self.req.MessageID
        rsp.AffectedSOPClassUID = self.req.AffectedSOPClassUID
        rsp.Status = code
        if comment:
            # pynetdicom's __init__ sets it to None unannotated, so mypy takes it for None.
            rsp.ErrorComment = comment[:64]  # type: ignore[assignment]
        self.assoc.dimse.send_msg(rsp, self.context_id)

    def _fragments(self, data: bytes) -> list[tuple[int, bytes]]:
        """(control header, fragment) pieces that each fit in one P-DATA-TF."""
        size = self._max_length - _ITEM_HEADER if self._max_length else len(data) or 1
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        return [(LAST_DATASET_FRAGMENT if n == len(chunks) - 1 else DATASET_FRAGMENT, chunk)
                for n, chunk in enumerate(chunks)]
