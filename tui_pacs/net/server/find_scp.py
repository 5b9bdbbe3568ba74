"""C-FIND SCP: Patient Root and Study Root queries answered from the index.

Plugged into :class:`~tui_pacs.net.wire.pynetdicom_adapter.TunedAssociation` in place of
pynetdicom's Q/R service class for C-FIND requests: each response's command
set comes from :mod:`tui_pacs.net.wire.commands` and its identifier from
:class:`~tui_pacs.net.server.qr_model.FindResponses`, about ten times cheaper
than pynetdicom's per-response encoding.

The matches stream: the association's thread reads them from the index one
at a time over a connection of its own (:meth:`~tui_pacs.store.index.Index.stream`;
the event loop is not on this path), and writes the responses a few dozen at
a time (one write instead of one per response), so memory stays flat however
many studies match and the first responses leave before the last are read.
A C-CANCEL is looked for before every response; what was not yet written
when it comes is never sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import closing
from io import BytesIO
from typing import Any, cast

from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import decode

from tui_pacs.core import status
from tui_pacs.net.server.context import ServerContext
from tui_pacs.net.server.qr_model import FindResponses, QueryError, model_of, parse_find
from tui_pacs.net.wire import commands
from tui_pacs.store.index import IndexReadError

log = logging.getLogger(__name__)

# Pending responses written at once: most of a write's cost is per call, not per byte.
RESPONSES_PER_WRITE = 64
# ... or fewer, so none waits longer than this (matches may come slowly).
LONGEST_WAIT = 0.05


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

        responses = FindResponses(query, ts, self.context.settings.node.aet)
        rows = self.context.archive.index.stream(query.level, query.matchers,
                                                 responses.keywords)
        try:
            with closing(rows):
                for row in rows:
                    if responder.gone:
                        operation.finish(status.CANCEL, {"matches": responder.sent},
                                         f"{query.describe()}: the association ended")
                        return
                    cancelled = assoc.dimse.cancel_req.pop(req.MessageID, None) is not None
                    if cancelled or self.context.stopping.is_set():
                        responder.final(status.CANCEL, drop_pending=True)
                        operation.finish(status.CANCEL, {"matches": responder.sent},
                                         f"{query.describe()}: "
                                         f"{'cancelled' if cancelled else 'node stopping'}")
                        return
                    responder.pending(responses.identifier(row))
        except IndexReadError as exc:
            log.error("C-FIND from %s: the index could not be read: %s", calling, exc)
            responder.final(status.UNABLE_TO_PROCESS, "the archive index cannot be read",
                            drop_pending=True)
            operation.finish(status.UNABLE_TO_PROCESS, {"matches": responder.sent},
                             f"{query.describe()}: index error: {exc}")
            return
        responder.final(status.SUCCESS)
        operation.finish(status.SUCCESS, {"matches": responder.sent}, query.describe())


class _FindResponder:
    """Sends the responses to one C-FIND request, the pending ones in batches."""

    def __init__(self, assoc: Any, req: C_FIND, presentation_context: Any) -> None:
        self.assoc = assoc
        self.req = req
        self.context_id = presentation_context.context_id
        self.transfer_syntax = presentation_context.transfer_syntax[0]
        self._pending_command = commands.response(
            commands.C_FIND_RSP, req.AffectedSOPClassUID, req.MessageID, status.PENDING,
            has_dataset=True)
        # Pending responses not yet written, and when the first of them came.
        self._queued: list[tuple[bytes, bytes]] = []
        self._since = 0.0
        # Pending responses written.
        self.sent = 0
        # The association ended under a response: nothing more can be sent.
        self.gone = False

    def pending(self, identifier: bytes) -> None:
        """A pending response carrying ``identifier`` (already encoded)."""
        now = time.monotonic()
        if not self._queued:
            self._since = now
        self._queued.append((self._pending_command, identifier))
        if len(self._queued) >= RESPONSES_PER_WRITE or now - self._since >= LONGEST_WAIT:
            self._flush()

    def final(self, code: int, comment: str = "", *, drop_pending: bool = False) -> None:
        """The final response; the pending ones not yet written go first, or
        never (``drop_pending``: cancelled, failed)."""
        if drop_pending:
            self._queued = []
        else:
            self._flush()
        self._send([(commands.response(commands.C_FIND_RSP, self.req.AffectedSOPClassUID,
                                       self.req.MessageID, code, comment=comment), None)])

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        if queued and self._send(queued):
            self.sent += len(queued)

    def _send(self, messages: Sequence[tuple[bytes, bytes | None]]) -> bool:
        if self.gone:
            return False
        try:
            self.assoc.dul.send_messages(self.context_id, messages)
        except (ConnectionError, OSError):
            self.gone = True
        return not self.gone
