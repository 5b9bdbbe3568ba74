"""Storage commitment SCP: the node vouches for what it holds, and takes reports.

An N-ACTION names instances under a Transaction UID. It is served here in
place of pynetdicom's service class, so that its response goes out before
the report. An instance is committed only when the archive holds it durably
(its index row is written after its file was fsynced and renamed into
place, and the file is still there at its recorded size) under the SOP
Class the request names; the others fail with 0x0112 (no such object
instance), 0x0119 (the SOP class does not match) or 0x0110 (indexed, but its
file is gone or altered: ``tui-pacs check`` will say more).

The report (N-EVENT-REPORT, Event Type 1 or 2) goes on the same association
while the requester keeps it open; else, or when the requester does not
answer it there, on a new association to the requester's ``[[modalities]]``
entry (found by its AE title), asking for the SCP role. A requester that is
not a configured modality cannot be reached: the node says so in its log
and gives up.

Reports sent to the node (a ``tui-pacs commit`` of this process or another
waits for them) go into the data directory's inbox
(:func:`~tui_pacs.net.commitment.receive_report`). Both services obey
``[access] commit``.
"""

from __future__ import annotations

import logging
import os
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import N_ACTION, N_EVENT_REPORT
from pynetdicom.dsutils import decode, encode

from tui_pacs.core import status
from tui_pacs.core.commitment import (
    CLASS_INSTANCE_CONFLICT,
    NO_SUCH_OBJECT_INSTANCE,
    PROCESSING_FAILURE,
    REQUEST_COMMITMENT,
    STORAGE_COMMITMENT_PUSH_MODEL,
    WELL_KNOWN_INSTANCE,
    BadCommitmentDataset,
    CommitmentResult,
    FailedReference,
    Reference,
    read_request,
    report_dataset,
)
from tui_pacs.core.matching import ValueList
from tui_pacs.core.model import Level
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.bridge import INDEX_TIMEOUT
from tui_pacs.net.client.association import open_association, when_busy_retry
from tui_pacs.net.client.scu import release
from tui_pacs.net.commitment import INVALID_ARGUMENT_VALUE, receive_report, report_negotiation
from tui_pacs.net.server.context import Peer, ServerContext
from tui_pacs.store.commitment_inbox import CommitmentInbox
from tui_pacs.store.index import StoredFile

log = logging.getLogger(__name__)

# N-ACTION statuses (PS3.7 10.1.4.1.10).
NO_SUCH_SOP_INSTANCE = 0x0112
NO_SUCH_ACTION = 0x0123
RESOURCE_LIMITATION = 0x0213
# Instances one request may name: each is looked up in the index.
MAX_REFERENCES = 100_000
# SOP Instance UIDs per index query.
LOOKUP_BATCH = 500
# Our one request on an association: its report.
REPORT_MESSAGE_ID = 1


class _Refused(Exception):
    def __init__(self, code: int, comment: str) -> None:
        super().__init__(comment)
        self.code = code
        self.comment = comment


class CommitmentSCP:
    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.inbox = CommitmentInbox(context.archive.data_dir)

    # --- N-ACTION: a request for commitment (in the association's thread) ----------

    def serve_action(self, assoc: Any, req: N_ACTION, presentation_context: Any) -> None:
        operation = self.context.operation(assoc, "N-ACTION")
        try:
            transaction_uid, references = self._read(req, presentation_context,
                                                     operation.peer.calling_aet)
        except _Refused as refusal:
            _respond(assoc, req, presentation_context, refusal.code, refusal.comment)
            operation.finish(refusal.code, detail=refusal.comment)
            return
        _respond(assoc, req, presentation_context, status.SUCCESS)
        result = self._judge(transaction_uid, references)
        how = self._report(assoc, presentation_context, result, operation.peer)
        operation.finish(status.SUCCESS,
                         {"committed": len(result.committed), "failed": len(result.failed)},
                         f"transaction {transaction_uid}: {how}")

    def _read(self, req: N_ACTION, presentation_context: Any,
              calling: str) -> tuple[str, tuple[Reference, ...]]:
        """The transaction and instances of a request; raises _Refused."""
        if not self.context.policy.allows("commit", calling):
            raise _Refused(status.NOT_AUTHORIZED,
                           f"{calling} may not ask this node for storage commitment")
        if str(req.RequestedSOPInstanceUID or "") != WELL_KNOWN_INSTANCE:
            raise _Refused(NO_SUCH_SOP_INSTANCE, "storage commitment is requested of the "
                                                 f"instance {WELL_KNOWN_INSTANCE}")
        if req.ActionTypeID != REQUEST_COMMITMENT:
            raise _Refused(NO_SUCH_ACTION, f"action type {req.ActionTypeID} is not a "
                                           "storage commitment request")
        if req.ActionInformation is None:
            raise _Refused(INVALID_ARGUMENT_VALUE, "no action information")
        ts = presentation_context.transfer_syntax[0]
        try:
            ds = decode(req.ActionInformation, ts.is_implicit_VR, ts.is_little_endian,
                        ts.is_deflated)
            transaction_uid, references = read_request(ds)
        except BadCommitmentDataset as exc:
            raise _Refused(INVALID_ARGUMENT_VALUE, str(exc)) from None
        except Exception:  # the action information does not decode
            raise _Refused(INVALID_ARGUMENT_VALUE,
                           "the action information cannot be decoded") from None
        if len(references) > MAX_REFERENCES:
            raise _Refused(RESOURCE_LIMITATION, f"{len(references)} instances named; at most "
                                                f"{MAX_REFERENCES} per request")
        return transaction_uid, references

    def _judge(self, transaction_uid: str,
               references: tuple[Reference, ...]) -> CommitmentResult:
        """Which instances the node commits to, and why not the others."""
        try:
            held = self._held([r.sop_instance_uid for r in references])
        except Exception as exc:  # LoopGone, or the index failed
            log.warning("storage commitment of transaction %s: the index cannot be read "
                        "(%s); every instance fails", transaction_uid, exc)
            held = None
        committed, failed = [], []
        for reference in references:
            reason = PROCESSING_FAILURE if held is None else self._failure_reason(
                reference, held.get(reference.sop_instance_uid))
            if reason is None:
                committed.append(reference)
            else:
                failed.append(FailedReference(reference, reason))
        return CommitmentResult(transaction_uid, tuple(committed), tuple(failed))

    def _held(self, sop_instance_uids: list[str]) -> dict[str, StoredFile]:
        archive, bridge = self.context.archive, self.context.bridge
        held: dict[str, StoredFile] = {}
        for start in range(0, len(sop_instance_uids), LOOKUP_BATCH):
            batch = tuple(sop_instance_uids[start:start + LOOKUP_BATCH])
            query = archive.index.files(Level.IMAGE, {"SOPInstanceUID": ValueList(batch)})
            held.update((f.sop_instance_uid, f) for f in bridge.run(query, INDEX_TIMEOUT))
        return held

    def _failure_reason(self, reference: Reference, stored: StoredFile | None) -> int | None:
        if stored is None:
            return NO_SUCH_OBJECT_INSTANCE
        if stored.sop_class_uid != reference.sop_class_uid:
            return CLASS_INSTANCE_CONFLICT
        if not _intact(self.context.archive.path_of(stored), stored.file_size):
            return PROCESSING_FAILURE
        return None

    # --- the report ---------------------------------------------------------------

    def _report(self, assoc: Any, presentation_context: Any, result: CommitmentResult,
                peer: Peer) -> str:
        """Send the report; say how it went (for the operation's event)."""
        event_information = report_dataset(result)
        if assoc.is_established and not assoc.release_requested():
            answer = _report_here(assoc, presentation_context, event_information,
                                  result.event_type, self.context.settings.limits.dimse_timeout)
            if answer is not None:
                return _answered("on the same association", answer, result)
        return self._report_anew(event_information, result, peer)

    def _report_anew(self, event_information: Dataset, result: CommitmentResult,
                     peer: Peer) -> str:
        modality = self.context.settings.modality_by_aet(peer.calling_aet)
        if modality is None:
            log.warning("storage commitment of transaction %s: cannot report to %s (%s), "
                        "which closed the association and is not a configured modality; "
                        "add it under [[modalities]] in %s", result.transaction_uid,
                        peer.calling_aet, peer.address, self.context.settings.path)
            return f"not reported: {peer.calling_aet} is not a configured modality"
        where = f"to {modality.aet} ({modality.host}:{modality.port})"
        context, role = report_negotiation()
        try:
            report_assoc, _ = when_busy_retry(lambda: open_association(
                self.context.session_with(modality), [context], ext_neg=[role]))
        except RemoteFailure as exc:
            problem = exc.diagnosis.summary
            log.warning("storage commitment of transaction %s: cannot report %s: %s",
                        result.transaction_uid, where, problem)
            return f"not reported {where}: {problem}"
        try:
            answer = _send_report(report_assoc, event_information, result.event_type)
        finally:
            release(report_assoc)
        if answer is None:
            log.warning("storage commitment of transaction %s: no answer to the report %s",
                        result.transaction_uid, where)
            return f"report {where} not answered"
        return _answered(f"{where} on a new association", answer, result)

    # --- N-EVENT-REPORT: a report for a commit command (in the association's thread) --

    def handle_report(self, event: Any) -> tuple[int, None]:
        """EVT_N_EVENT_REPORT handler."""
        operation = self.context.operation(event.assoc, "N-EVENT-REPORT")
        calling = operation.peer.calling_aet
        if not self.context.policy.allows("commit", calling):
            detail = f"{calling} may not report storage commitments here"
            operation.finish(status.NOT_AUTHORIZED, detail=detail)
            return status.NOT_AUTHORIZED, None
        code, result, problem = receive_report(event, self.inbox)
        if result is None:
            operation.finish(code, detail=problem)
            return code, None
        operation.finish(code, {"committed": len(result.committed), "failed": len(result.failed)},
                         problem or f"transaction {result.transaction_uid}")
        return code, None


def _respond(assoc: Any, req: N_ACTION, presentation_context: Any, code: int,
             comment: str = "") -> None:
    rsp: Any = N_ACTION()  # pynetdicom types ErrorComment as always None
    rsp.MessageIDBeingRespondedTo = req.MessageID
    rsp.AffectedSOPClassUID = STORAGE_COMMITMENT_PUSH_MODEL
    rsp.AffectedSOPInstanceUID = WELL_KNOWN_INSTANCE
    rsp.ActionTypeID = req.ActionTypeID
    rsp.Status = code
    if comment:
        rsp.ErrorComment = comment[:64]
    assoc.dimse.send_msg(rsp, presentation_context.context_id)


def _report_here(assoc: Any, presentation_context: Any, event_information: Dataset,
                 event_type: int, timeout: float) -> int | None:
    """Send the report on the requesting association: the status the requester
    answered; None when it releases or aborts instead, or stays silent.

    Not pynetdicom's send_n_event_report(), which waits for the answer alone:
    a requester that asked to release just as the report went out (its
    A-RELEASE-RQ crossed it) often answers nothing, and would hold us for
    the whole DIMSE timeout before the report could go on a new association.
    """
    transfer_syntax = presentation_context.transfer_syntax[0]
    request = N_EVENT_REPORT()
    request.MessageID = REPORT_MESSAGE_ID
    request.AffectedSOPClassUID = STORAGE_COMMITMENT_PUSH_MODEL
    request.AffectedSOPInstanceUID = WELL_KNOWN_INSTANCE
    request.EventTypeID = event_type
    request.EventInformation = BytesIO(encode(
        event_information, transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian,
        transfer_syntax.is_deflated) or b"")
    assoc.dimse.send_msg(request, presentation_context.context_id)
    message = assoc.answer_or_release(timeout)
    if (isinstance(message, N_EVENT_REPORT)
            and message.MessageIDBeingRespondedTo == REPORT_MESSAGE_ID):
        return message.Status
    if message is not None:
        log.warning("%s in answer to a storage commitment report: ignored",
                    type(message).__name__)
    return None


def _send_report(assoc: Any, event_information: Dataset, event_type: int) -> int | None:
    """Send a report on an association of our own: the status the requester
    answered, None if it did not."""
    answer, _ = assoc.send_n_event_report(event_information, event_type,
                                          STORAGE_COMMITMENT_PUSH_MODEL, WELL_KNOWN_INSTANCE,
                                          msg_id=REPORT_MESSAGE_ID)
    code = answer.get("Status")
    return int(code) if code is not None else None


def _answered(how: str, code: int, result: CommitmentResult) -> str:
    if status.category(code) == "failure":
        log.warning("storage commitment of transaction %s: the report %s was answered "
                    "with 0x%04X", result.transaction_uid, how, code)
        return f"reported {how}, answered 0x{code:04X}"
    return f"reported {how}"


def _intact(path: Path, size: int) -> bool:
    """Whether the archived file is there at the size its index row records."""
    try:
        return os.stat(path).st_size == size
    except OSError:
        return False
