"""C-MOVE and C-GET SCP: archived instances sent as C-STORE sub-operations.

pynetdicom's own Q/R retrieve SCP wants every instance as a decoded
``Dataset``, which it re-encodes; this one sends the stored files as they are
(``send_c_store`` with a path and ``STORE_SEND_CHUNKED_DATASET``), so a
retrieved instance leaves the archive byte for byte as it came in. It is
plugged into :class:`~tui_pacs.net.reactor.TunedAssociation` in place of the
Q/R service class for C-MOVE and C-GET requests, and follows PS3.4 C.4.2
and C.4.3: pending responses with sub-operation counts, a warning (0xB000)
with the Failed SOP Instance UID List when some sub-operations fail, 0xA702
when all do, 0xFE00 on C-CANCEL (or when the node stops).

C-MOVE sends to a destination resolved only from the configured
``[[modalities]]``, over a new association with TCP_NODELAY. C-GET sends
back over the requesting association, for the SOP classes and transfer
syntaxes the requester accepted in the SCP role. An instance whose transfer
syntax the receiver did not accept is converted when that is lossless and
possible: JPEG, JPEG-LS, JPEG 2000 and RLE are decompressed with pydicom, and
Explicit and Implicit VR Little Endian are re-encoded into each other;
otherwise the sub-operation fails.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dimse_primitives import C_GET, C_MOVE
from pynetdicom.dsutils import decode, encode
from pynetdicom.presentation import build_context

from tui_pacs.config import Modality
from tui_pacs.core import status
from tui_pacs.net.ae import NODELAY_HANDLERS
from tui_pacs.net.context import INDEX_TIMEOUT, Operation, ServerContext
from tui_pacs.net.qr_model import QueryError, model_of, parse_retrieve
from tui_pacs.net.tls import TLSSetupError, client_context
from tui_pacs.store.index import StoredFile

log = logging.getLogger(__name__)

# Counts in C-MOVE/C-GET responses are US: no more sub-operations than this.
MAX_SUBOPERATIONS = 65535
# PS3.8: at most 128 presentation contexts in one association request.
MAX_CONTEXTS = 128
UNCOMPRESSED_LITTLE_ENDIAN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


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
            responder.final(status.MOVE_DESTINATION_UNKNOWN,
                            comment=f"move destination {destination_aet} is not configured")
            operation.finish(status.MOVE_DESTINATION_UNKNOWN,
                             detail=f"destination {destination_aet!r} is not configured")
            return
        where = f"to {modality.aet} ({modality.host}:{modality.port})"
        if not files:
            responder.final(status.SUCCESS, Progress(0))
            operation.finish(status.SUCCESS, Progress(0).counts(), f"{where}: nothing matched")
            return
        store_assoc, problem = self._connect(assoc, modality, files)
        if store_assoc is None:
            log.warning("C-MOVE from %s: cannot send %s: %s",
                        operation.peer.calling_aet, where, problem)
            responder.final(status.OUT_OF_RESOURCES_SUBOPERATIONS,
                            comment=f"cannot reach {modality.aet}: {problem}")
            operation.finish(status.OUT_OF_RESOURCES_SUBOPERATIONS,
                             detail=f"{where}: {problem}")
            return
        try:
            self._send_all(store_assoc, files, req, responder, operation, where,
                           originator=operation.peer.calling_aet)
        finally:
            if store_assoc.is_established:
                store_assoc.release()

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
        self._send_all(assoc, files, req, responder, operation, "over the same association",
                       originator="")

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

    def _connect(self, assoc: Any, modality: Modality,
                 files: list[StoredFile]) -> tuple[Any | None, str]:
        """An association to the move destination, or (None, why not)."""
        kwargs: dict[str, Any] = {
            "ae_title": modality.aet,
            "contexts": _contexts_for(files),
            "evt_handlers": NODELAY_HANDLERS,
        }
        if modality.tls:
            try:
                kwargs["tls_args"] = (client_context(self.context.settings.tls), modality.host)
            except TLSSetupError as exc:
                return None, f"TLS is not usable: {exc}"
        try:
            store_assoc = assoc.ae.associate(modality.host, modality.port, **kwargs)
        except Exception as exc:  # bad host name and the like
            return None, str(exc)
        if store_assoc.is_established:
            return store_assoc, ""
        if store_assoc.is_rejected:
            return None, "it rejected the association"
        if store_assoc.is_aborted:
            return None, "it aborted the association"
        return None, "no answer (connection refused or timed out)"

    def _send_all(self, target: Any, files: list[StoredFile], req: Any,
                  responder: _Responder, operation: Operation, where: str,
                  originator: str) -> None:
        progress = Progress(len(files))
        for number, stored in enumerate(files, start=1):
            cancelled = responder.assoc.dimse.cancel_req.pop(req.MessageID, None) is not None
            if cancelled or self.context.stopping.is_set():
                why = "cancelled" if cancelled else "node stopping"
                responder.final(status.CANCEL, progress)
                operation.finish(status.CANCEL, progress.counts(), f"{where}: {why}")
                return
            if not target.is_established:
                progress.failed += progress.remaining
                progress.failed_uids += [f.sop_instance_uid for f in files[number - 1:]]
                progress.remaining = 0
                break
            outcome = self._send_one(target, stored, number, req.MessageID, originator)
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

    def _send_one(self, target: Any, stored: StoredFile, msg_id: int, originator_id: int,
                  originator_aet: str) -> str:
        """Send one instance: "completed", "converted", "warning" or "failed"."""
        path = self.context.archive.path_of(stored)
        sop_class = UID(stored.sop_class_uid)
        ts = UID(stored.transfer_syntax_uid)
        accepted = [cx for cx in target.accepted_contexts
                    if cx.abstract_syntax == sop_class and cx.as_scu]
        exact = any(cx.transfer_syntax[0] == ts for cx in accepted)
        try:
            if exact:
                dataset: Any = path
                converted = False
            else:
                dataset = _converted(path, ts, [cx.transfer_syntax[0] for cx in accepted])
                if dataset is None:
                    log.info("%s not sent: the receiver accepted no transfer syntax it can "
                             "be sent in (stored as %s)", stored.sop_instance_uid, ts.name)
                    return "failed"
                converted = True
            result = target.send_c_store(
                dataset, msg_id=msg_id % 65536 or 1,
                originator_aet=originator_aet or None,
                originator_id=originator_id if originator_aet else None)
        except Exception as exc:  # unreadable file, encoding error, connection lost
            log.warning("%s not sent: %s", stored.sop_instance_uid, exc)
            return "failed"
        code = result.get("Status") if result is not None else None
        if code is None:
            return "failed"
        kind = status.category(int(code))
        if kind == "success":
            return "converted" if converted else "completed"
        if kind == "warning":
            return "warning"
        log.info("%s refused by the receiver with status 0x%04X", stored.sop_instance_uid,
                 int(code))
        return "failed"


class _Responder:
    """Sends the C-MOVE or C-GET responses of one request."""

    def __init__(self, assoc: Any, req: Any, presentation_context: Any, primitive: type) -> None:
        self.assoc = assoc
        self.req = req
        self.context_id = presentation_context.context_id
        self.transfer_syntax = presentation_context.transfer_syntax[0]
        self.primitive = primitive

    def pending(self, progress: Progress) -> None:
        self._send(status.PENDING, progress, with_failed=False)

    def final(self, code: int, progress: Progress | None = None, comment: str = "") -> None:
        self._send(code, progress, with_failed=code != status.SUCCESS, comment=comment)

    def _send(self, code: int, progress: Progress | None, with_failed: bool,
              comment: str = "") -> None:
        rsp = self.primitive()
        rsp.MessageIDBeingRespondedTo = self.req.MessageID
        rsp.AffectedSOPClassUID = self.req.AffectedSOPClassUID
        rsp.Status = code
        if comment:
            rsp.ErrorComment = comment[:64]
        if progress is not None:
            if code in (status.PENDING, status.CANCEL):
                rsp.NumberOfRemainingSuboperations = progress.remaining
            rsp.NumberOfCompletedSuboperations = progress.completed
            rsp.NumberOfFailedSuboperations = progress.failed
            rsp.NumberOfWarningSuboperations = progress.warning
        if with_failed and progress is not None and progress.failed_uids:
            failed = Dataset()
            failed.FailedSOPInstanceUIDList = progress.failed_uids
            ts = self.transfer_syntax
            rsp.Identifier = BytesIO(encode(failed, ts.is_implicit_VR, ts.is_little_endian,
                                            ts.is_deflated))
        self.assoc.dimse.send_msg(rsp, self.context_id)


def _final_status(progress: Progress) -> int:
    if not progress.failed and not progress.warning:
        return status.SUCCESS
    if progress.failed and not progress.completed and not progress.warning:
        return status.OUT_OF_RESOURCES_SUBOPERATIONS
    return status.WARNING_SUBOPERATIONS


def _contexts_for(files: list[StoredFile]) -> list[Any]:
    """Presentation contexts to propose to a move destination: each stored
    (SOP class, transfer syntax) exactly, then an uncompressed fallback per
    SOP class for instances the destination does not take as stored."""
    by_use = Counter((f.sop_class_uid, f.transfer_syntax_uid) for f in files)
    exact = [build_context(sop, [ts]) for (sop, ts), _ in by_use.most_common()]
    fallback_classes = {sop for sop, ts in by_use if UID(ts) not in UNCOMPRESSED_LITTLE_ENDIAN}
    fallback = [build_context(sop, list(UNCOMPRESSED_LITTLE_ENDIAN))
                for sop in sorted(fallback_classes)]
    return (exact + fallback)[:MAX_CONTEXTS]


def _converted(path: Any, stored_ts: UID, accepted: list[UID]) -> Dataset | None:
    """The instance decoded for a transfer syntax the receiver accepted, or None."""
    usable = [ts for ts in accepted if ts in UNCOMPRESSED_LITTLE_ENDIAN]
    if not usable:
        return None
    if stored_ts in UNCOMPRESSED_LITTLE_ENDIAN:
        return dcmread(path)  # pynetdicom re-encodes Explicit <-> Implicit VR
    if not stored_ts.is_compressed:
        return None  # big endian or deflated: not converted
    ds = dcmread(path)
    # To Explicit VR Little Endian with the pylibjpeg/pyjpegls plugins. A new
    # transfer syntax is the same instance: it keeps its SOP Instance UID.
    ds.decompress(generate_instance_uid=False)
    return ds
