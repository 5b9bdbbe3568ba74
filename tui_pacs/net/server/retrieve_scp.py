"""C-MOVE and C-GET SCP: archived instances sent as C-STORE sub-operations.

pynetdicom's own Q/R retrieve SCP wants every instance as a decoded
``Dataset``, which it re-encodes; this one sends the stored files as they are,
so a retrieved instance leaves the archive byte for byte as it came in. It is
plugged into :class:`~tui_pacs.net.wire.pynetdicom_adapter.TunedAssociation` in place of the
Q/R service class for C-MOVE and C-GET requests, and follows PS3.4 C.4.2
and C.4.3: pending responses with sub-operation counts; a warning (0xB000)
when some sub-operations fail, 0xA702 when all do, 0xFE00 on C-CANCEL (or
when the node stops). Every final response other than success carries the
counts and the Failed SOP Instance UID List, a refused move (0xA801, or a
destination that cannot be reached) included: there, every matched
instance failed.

C-MOVE sends to a destination resolved only from the configured
``[[modalities]]``, over an association of our own upper layer
(:class:`~tui_pacs.net.client.upper_layer.StoreAssociation`, the sender of
``tui-pacs send``, TCP_NODELAY on), proposing what
:func:`~tui_pacs.net.wire.syntaxes.storage_contexts` decides: each stored
encoding, and the uncompressed little endian syntaxes every receiver takes.
C-GET sends back over the requesting association, written by its thread
(:meth:`~tui_pacs.net.wire.pynetdicom_adapter.TunedDUL.send_message`), for the SOP classes
and transfer syntaxes the requester accepted in the SCP role. An instance
whose transfer syntax the receiver did not accept is converted by
:func:`~tui_pacs.net.client.send.payload` when that is lossless and possible;
otherwise the sub-operation fails.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_GET, C_MOVE, C_STORE
from pynetdicom.dsutils import decode, encode

from tui_pacs.core import status
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.bridge import INDEX_TIMEOUT
from tui_pacs.net.client.association import when_busy_retry
from tui_pacs.net.client.send import NotSendable, Outgoing, payload
from tui_pacs.net.client.upper_layer import StoreAssociation
from tui_pacs.net.server.context import Operation, ServedArchive, ServerContext
from tui_pacs.net.server.qr_model import QueryError, model_of, parse_retrieve
from tui_pacs.net.wire import commands
from tui_pacs.net.wire.syntaxes import MAX_CONTEXTS, storage_contexts
from tui_pacs.store.index import StoredFile

log = logging.getLogger(__name__)

# Counts in C-MOVE/C-GET responses are US: no more sub-operations than this.
MAX_SUBOPERATIONS = 65535


@dataclass
class Progress:
    """Sub-operation counts, as C-MOVE/C-GET responses report them."""

    remaining: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    converted: int = 0
    failed_uids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {"completed": self.completed, "failed": self.failed,
                  "warning": self.warning, "remaining": self.remaining}
        if self.converted:
            counts["converted"] = self.converted
        return counts


class RetrieveSCP:
    def __init__(self, context: ServerContext) -> None:
        self.context = context

    # --- entry points (called in the association's thread) ----------------------

    def serve_move(self, assoc: Any, req: C_MOVE, presentation_context: Any) -> None:
        operation = self.context.operation(assoc, "C-MOVE")
        responder = _Responder(assoc, req, presentation_context, C_MOVE)
        destination_aet = str(req.MoveDestination or "").strip()
        files = self._plan(assoc, req, presentation_context, operation, responder, "move")
        if files is None:
            return
        modality = self.context.settings.modality_by_aet(destination_aet)
        if modality is None:
            log.warning("C-MOVE from %s (%s) asks to send to %r, which is not a configured "
                        "modality: add it under [[modalities]] in %s",
                        operation.peer.calling_aet, operation.peer.address, destination_aet,
                        self.context.settings.path)
            progress = _none_sent(files)
            responder.final(status.MOVE_DESTINATION_UNKNOWN, progress,
                            comment=f"move destination {destination_aet} is not configured")
            operation.finish(status.MOVE_DESTINATION_UNKNOWN, progress.counts(),
                             detail=f"destination {destination_aet!r} is not configured")
            return
        where = f"to {modality.aet} ({modality.host}:{modality.port})"
        if not files:
            responder.final(status.SUCCESS, Progress(0))
            operation.finish(status.SUCCESS, Progress(0).counts(), f"{where}: nothing matched")
            return
        try:
            link = when_busy_retry(lambda: StoreAssociation.open(
                self.context.session_with(modality), _contexts_for(files)))
        except RemoteFailure as exc:
            problem = exc.diagnosis.summary
            log.warning("C-MOVE from %s: cannot send %s: %s",
                        operation.peer.calling_aet, where, problem)
            progress = _none_sent(files)
            responder.final(status.OUT_OF_RESOURCES_SUBOPERATIONS, progress,
                            comment=f"cannot reach {modality.aet}: {problem}")
            operation.finish(status.OUT_OF_RESOURCES_SUBOPERATIONS, progress.counts(),
                             detail=f"{where}: {problem}")
            return
        originator = (operation.peer.calling_aet, req.MessageID or 0)  # a C-MOVE-RQ has one
        try:
            self._send_all(_MoveSender(link, self.context.archive, originator), files, req,
                           responder, operation, where)
        finally:
            link.release()

    def serve_get(self, assoc: Any, req: C_GET, presentation_context: Any) -> None:
        operation = self.context.operation(assoc, "C-GET")
        responder = _Responder(assoc, req, presentation_context, C_GET)
        files = self._plan(assoc, req, presentation_context, operation, responder, "get")
        if files is None:
            return
        if not files:
            responder.final(status.SUCCESS, Progress(0))
            operation.finish(status.SUCCESS, Progress(0).counts(), "nothing matched")
            return
        self._send_all(_GetSender(assoc, self.context.archive), files, req, responder,
                       operation, "over the same association")

    # --- steps ----------------------------------------------------------------------

    def _plan(self, assoc: Any, req: Any, presentation_context: Any, operation: Operation,
              responder: _Responder, service: str) -> list[StoredFile] | None:
        """The files to send, or None once a refusal has been answered."""
        calling = operation.peer.calling_aet
        if not self.context.policy.allows(service, calling):
            comment = f"{calling} may not C-{service.upper()} from this node"
            responder.final(status.NOT_AUTHORIZED, comment=comment)
            operation.finish(status.NOT_AUTHORIZED, detail=comment)
            return None
        ts = presentation_context.transfer_syntax[0]
        try:
            identifier = decode(req.Identifier, ts.is_implicit_VR, ts.is_little_endian,
                                ts.is_deflated)
            level, matchers = parse_retrieve(identifier, model_of(req.AffectedSOPClassUID))
        except QueryError as exc:
            responder.final(exc.code, comment=str(exc))
            operation.finish(exc.code, detail=str(exc))
            return None
        except Exception as exc:  # the identifier does not decode
            responder.final(status.CANNOT_UNDERSTAND, comment="the identifier cannot be decoded")
            operation.finish(status.CANNOT_UNDERSTAND, detail=f"bad identifier: {exc}")
            return None
        try:
            files = self.context.bridge.run(
                self.context.archive.index.files(level, matchers), INDEX_TIMEOUT)
        except Exception as exc:  # LoopGone, or the index failed
            responder.final(status.UNABLE_TO_PROCESS, comment="the archive index cannot be read")
            operation.finish(status.UNABLE_TO_PROCESS, detail=f"index error: {exc}")
            return None
        if len(files) > MAX_SUBOPERATIONS:
            comment = (f"{len(files)} instances match; at most {MAX_SUBOPERATIONS} "
                       "per request (retrieve series by series)")
            responder.final(status.OUT_OF_RESOURCES_SUBOPERATIONS, comment=comment)
            operation.finish(status.OUT_OF_RESOURCES_SUBOPERATIONS, detail=comment)
            return None
        return files

    def _send_all(self, sender: _MoveSender | _GetSender, files: list[StoredFile], req: Any,
                  responder: _Responder, operation: Operation, where: str) -> None:
        progress = Progress(len(files))
        for number, stored in enumerate(files, start=1):
            cancelled = responder.assoc.dimse.cancel_req.pop(req.MessageID, None) is not None
            if cancelled or self.context.stopping.is_set():
                why = "cancelled" if cancelled else "node stopping"
                responder.final(status.CANCEL, progress)
                operation.finish(status.CANCEL, progress.counts(), f"{where}: {why}")
                return
            if not sender.is_established:
                progress.failed += progress.remaining
                progress.failed_uids += [f.sop_instance_uid for f in files[number - 1:]]
                progress.remaining = 0
                break
            outcome = sender.send(stored, message_id=number % 65536 or 1)
            progress.remaining -= 1
            if outcome == "failed":
                progress.failed += 1
                progress.failed_uids.append(stored.sop_instance_uid)
            elif outcome == "warning":
                progress.warning += 1
            else:
                progress.completed += 1
                if outcome == "converted":
                    progress.converted += 1
            if progress.remaining:
                responder.pending(progress)
        code = _final_status(progress)
        responder.final(code, progress)
        operation.finish(code, progress.counts(), where)


class _MoveSender:
    """C-MOVE sub-operations: each file sent as it is stored, over our own
    association to the destination (:class:`StoreAssociation`: about 4x what
    pynetdicom's send_c_store managed, bench/serve_retrieve.py), converted
    when the destination does not take it as stored."""

    def __init__(self, link: StoreAssociation, archive: ServedArchive,
                 originator: tuple[str, int]) -> None:
        self._link = link
        self._archive = archive
        self._originator = originator

    @property
    def is_established(self) -> bool:
        return self._link.is_established

    def send(self, stored: StoredFile, message_id: int) -> str:
        """Send one instance: "completed", "converted", "warning" or "failed"."""
        item = Outgoing(self._archive.path_of(stored), stored.sop_class_uid,
                        stored.sop_instance_uid, stored.transfer_syntax_uid)
        try:
            syntax, data, _ = payload(item, self._link.accepted)
            answer = self._link.store(item.sop_class, item.sop_instance, syntax, data,
                                      originator=self._originator)
        except NotSendable as exc:
            log.info("%s not sent: %s", stored.sop_instance_uid, exc)
            return "failed"
        except RemoteFailure as exc:
            log.warning("%s not sent: %s", stored.sop_instance_uid, exc.diagnosis.summary)
            return "failed"
        converted = syntax != stored.transfer_syntax_uid
        return _sub_operation(stored, answer.status, converted)


class _GetSender:
    """C-GET sub-operations, over the requesting association, for the SOP
    classes and transfer syntaxes the requester accepted in the SCP role.

    Each file goes out as it is stored (converted when the requester does
    not take it so), written straight to the socket by the association's
    thread (:meth:`~tui_pacs.net.wire.pynetdicom_adapter.TunedDUL.send_message`); the answer
    comes back as pynetdicom's primitive, decoded by the wire layer."""

    def __init__(self, assoc: Any, archive: ServedArchive) -> None:
        self._assoc = assoc
        self._archive = archive
        self._contexts = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])): cx.context_id
                          for cx in assoc.accepted_contexts if cx.as_scu}

    @property
    def is_established(self) -> bool:
        return bool(self._assoc.is_established)

    def send(self, stored: StoredFile, message_id: int) -> str:
        """Send one instance: "completed", "converted", "warning" or "failed"."""
        item = Outgoing(self._archive.path_of(stored), stored.sop_class_uid,
                        stored.sop_instance_uid, stored.transfer_syntax_uid)
        try:
            syntax, data, _ = payload(item, set(self._contexts))
            command = commands.store_request(message_id, item.sop_class, item.sop_instance)
            self._assoc.dul.send_message(self._contexts[(item.sop_class, syntax)], command,
                                         data)
        except NotSendable as exc:
            log.info("%s not sent: %s", stored.sop_instance_uid, exc)
            return "failed"
        except (ConnectionError, OSError) as exc:
            log.warning("%s not sent: %s", stored.sop_instance_uid, exc)
            return "failed"
        _, answer = self._assoc.dimse.get_msg(block=True)
        if not isinstance(answer, C_STORE) or answer.MessageIDBeingRespondedTo != message_id:
            log.warning("%s: no C-STORE response from the requester", stored.sop_instance_uid)
            return "failed"
        converted = syntax != stored.transfer_syntax_uid
        return _sub_operation(stored, answer.Status, converted)


def _sub_operation(stored: StoredFile, code: int | None, converted: bool) -> str:
    """What the receiver's answer makes of a sub-operation."""
    if code is None:
        return "failed"
    kind = status.category(code)
    if kind == "success":
        return "converted" if converted else "completed"
    if kind == "warning":
        return "warning"
    log.info("%s refused by the receiver with status 0x%04X", stored.sop_instance_uid, code)
    return "failed"


class _Responder:
    """Sends the C-MOVE or C-GET responses of one request."""

    def __init__(self, assoc: Any, req: Any, presentation_context: Any, primitive: type) -> None:
        self.assoc = assoc
        self.req = req
        self.context_id = presentation_context.context_id
        self.transfer_syntax = presentation_context.transfer_syntax[0]
        self.command_field = commands.C_MOVE_RSP if primitive is C_MOVE else commands.C_GET_RSP

    def pending(self, progress: Progress) -> None:
        self._send(status.PENDING, progress, with_failed=False)

    def final(self, code: int, progress: Progress | None = None, comment: str = "") -> None:
        self._send(code, progress, with_failed=code != status.SUCCESS, comment=comment)

    def _send(self, code: int, progress: Progress | None, with_failed: bool,
              comment: str = "") -> None:
        counts: list[tuple[int, int]] = []
        identifier = None
        if progress is not None:
            if code in (status.PENDING, status.CANCEL):
                counts.append((commands.REMAINING, progress.remaining))
            counts += [(commands.COMPLETED, progress.completed),
                       (commands.FAILED, progress.failed), (commands.WARNING, progress.warning)]
            if with_failed and progress.failed_uids:
                identifier = self._failed_list(progress.failed_uids)
        command = commands.response(self.command_field, self.req.AffectedSOPClassUID,
                                    self.req.MessageID, code, identifier is not None,
                                    suboperations=counts, comment=comment)
        try:
            # Straight to the socket, in order with C-GET sub-operations.
            self.assoc.dul.send_message(self.context_id, command, identifier)
        except (ConnectionError, OSError):
            pass  # the requester went away: nobody is waiting for this response

    def _failed_list(self, uids: list[str]) -> bytes:
        """The identifier of a final response: the Failed SOP Instance UID List."""
        failed = Dataset()
        failed.FailedSOPInstanceUIDList = uids
        ts = self.transfer_syntax
        return encode(failed, ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated) or b""


def _final_status(progress: Progress) -> int:
    if not progress.failed and not progress.warning:
        return status.SUCCESS
    if progress.failed and not progress.completed and not progress.warning:
        return status.OUT_OF_RESOURCES_SUBOPERATIONS
    return status.WARNING_SUBOPERATIONS


def _none_sent(files: list[StoredFile]) -> Progress:
    """The counts of a move that sent nothing: every matched instance failed."""
    return Progress(0, failed=len(files), failed_uids=[f.sop_instance_uid for f in files])


def _contexts_for(files: list[StoredFile]) -> list[Any]:
    """Presentation contexts to propose to a move destination (see
    :func:`~tui_pacs.net.wire.syntaxes.storage_contexts`), the most used encodings
    first should there be more than fit."""
    by_use = Counter((f.sop_class_uid, f.transfer_syntax_uid) for f in files)
    return storage_contexts(pair for pair, _ in by_use.most_common())[:MAX_CONTEXTS]
