"""Storage commitment (PS3.4 Annex J) as plain values, and the datasets that carry it.

A storage commitment SCU names instances (SOP Class and Instance UIDs) under
a Transaction UID in an N-ACTION (Action Type 1) on the well-known instance
of the Storage Commitment Push Model SOP Class. The SCP answers the N-ACTION
at once and reports later with an N-EVENT-REPORT: Event Type 1 when it
committed every instance, 2 when some failed, each failed one with a Failure
Reason. Both roles read and write those datasets here, so the node and the
``commit`` command agree on them by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from tui_pacs.core.remote import Diagnosis, SendFailure
from tui_pacs.core.target import Target

STORAGE_COMMITMENT_PUSH_MODEL = "1.2.840.10008.1.20.1"
# The one SOP Instance of the Push Model that every request and report names.
WELL_KNOWN_INSTANCE = "1.2.840.10008.1.20.1.1"
# Action Type ID of an N-ACTION: "Request Storage Commitment".
REQUEST_COMMITMENT = 1
# Event Type IDs of the N-EVENT-REPORT.
ALL_COMMITTED = 1
SOME_FAILED = 2

# Failure Reason (0008,1197), PS3.3 C.14.1.1.
PROCESSING_FAILURE = 0x0110
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119
REFERENCED_CLASS_NOT_SUPPORTED = 0x0122
DUPLICATE_TRANSACTION_UID = 0x0131
RESOURCE_LIMITATION = 0x0213

FAILURE_REASONS = {
    PROCESSING_FAILURE: "processing failure",
    NO_SUCH_OBJECT_INSTANCE: "no such object instance",
    CLASS_INSTANCE_CONFLICT: "SOP class does not match the instance",
    REFERENCED_CLASS_NOT_SUPPORTED: "SOP class not supported",
    DUPLICATE_TRANSACTION_UID: "duplicate transaction UID",
    RESOURCE_LIMITATION: "resource limitation",
}


class BadCommitmentDataset(ValueError):
    """A request or report that does not say what PS3.4 Annex J requires."""


@dataclass(frozen=True)
class Reference:
    """One instance named in a request or a report."""

    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True)
class FailedReference:
    reference: Reference
    reason: int

    @property
    def meaning(self) -> str:
        return FAILURE_REASONS.get(self.reason, "reason unknown")


@dataclass(frozen=True)
class CommitmentResult:
    """What a remote reported for one transaction."""

    transaction_uid: str
    committed: tuple[Reference, ...]
    failed: tuple[FailedReference, ...]
    # Who sent the report (its AE title), and whether on the association of the
    # request (else on one of its own): what a receiver notes.
    reporter: str = ""
    same_association: bool = False

    @property
    def event_type(self) -> int:
        return SOME_FAILED if self.failed else ALL_COMMITTED


@dataclass(frozen=True)
class CommitReport:
    """The outcome of asking a remote for storage commitment."""

    target: Target
    calling_aet: str
    transaction_uid: str
    requested: tuple[Reference, ...]
    # The report, None when none came (see diagnosis) or the wait was cancelled.
    result: CommitmentResult | None
    # Who listened for a report on a new association: a temporary listener, a node.
    receiver: str
    seconds: float
    # Files that could not be read, so were not asked about.
    unreadable: tuple[SendFailure, ...] = ()
    cancelled: bool = False
    diagnosis: Diagnosis | None = None

    @property
    def committed(self) -> tuple[Reference, ...]:
        return self.result.committed if self.result else ()

    @property
    def failed(self) -> tuple[FailedReference, ...]:
        return self.result.failed if self.result else ()

    @property
    def unreported(self) -> tuple[Reference, ...]:
        """Instances asked about that the report names neither committed nor failed."""
        if self.result is None:
            return ()
        reported = {r.sop_instance_uid for r in self.committed}
        reported.update(f.reference.sop_instance_uid for f in self.failed)
        return tuple(r for r in self.requested if r.sop_instance_uid not in reported)

    @property
    def ok(self) -> bool:
        return (self.diagnosis is None and self.result is not None and not self.cancelled
                and not self.failed and not self.unreported and not self.unreadable)


# --- datasets -------------------------------------------------------------------------


def request_dataset(transaction_uid: str, references: Iterable[Reference]) -> Dataset:
    """The Action Information of an N-ACTION asking for commitment (PS3.4 J.3.2)."""
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    ds.ReferencedSOPSequence = [_item(r) for r in references]
    return ds


def read_request(ds: Dataset) -> tuple[str, tuple[Reference, ...]]:
    """The Transaction UID and instances of a request's Action Information."""
    transaction_uid = _transaction_uid(ds)
    references = _references(ds, "ReferencedSOPSequence")
    if not references:
        raise BadCommitmentDataset("the Referenced SOP Sequence names no instance")
    return transaction_uid, references


def report_dataset(result: CommitmentResult) -> Dataset:
    """The Event Information of an N-EVENT-REPORT (PS3.4 J.3.3); its Event Type
    is ``result.event_type``."""
    ds = Dataset()
    ds.TransactionUID = result.transaction_uid
    if result.committed:
        ds.ReferencedSOPSequence = [_item(r) for r in result.committed]
    if result.failed:
        items = []
        for failure in result.failed:
            item = _item(failure.reference)
            item.FailureReason = failure.reason
            items.append(item)
        ds.FailedSOPSequence = items
    return ds


def read_report(event_type: int, ds: Dataset, reporter: str,
                same_association: bool) -> CommitmentResult:
    """A report from the Event Information of an N-EVENT-REPORT of Event Type
    ``event_type`` (ALL_COMMITTED or SOME_FAILED)."""
    transaction_uid = _transaction_uid(ds)
    committed = _references(ds, "ReferencedSOPSequence")
    failed = []
    for item in ds.get("FailedSOPSequence") or []:
        reason = item.get("FailureReason")
        if reason is None:
            raise BadCommitmentDataset("a Failed SOP Sequence item has no Failure Reason")
        failed.append(FailedReference(_reference(item), int(reason)))
    if event_type == SOME_FAILED and not failed:
        raise BadCommitmentDataset("event type 2 (failures exist) without a Failed SOP "
                                   "Sequence")
    return CommitmentResult(transaction_uid, committed, tuple(failed), reporter,
                            same_association)


def _item(reference: Reference) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = reference.sop_class_uid
    item.ReferencedSOPInstanceUID = reference.sop_instance_uid
    return item


def _transaction_uid(ds: Dataset) -> str:
    value = str(ds.get("TransactionUID") or "").strip()
    if not value:
        raise BadCommitmentDataset("no Transaction UID")
    return value


def _references(ds: Dataset, keyword: str) -> tuple[Reference, ...]:
    return tuple(_reference(item) for item in ds.get(keyword) or [])


def _reference(item: Dataset) -> Reference:
    sop_class = str(item.get("ReferencedSOPClassUID") or "").strip()
    sop_instance = str(item.get("ReferencedSOPInstanceUID") or "").strip()
    if not sop_class or not sop_instance:
        raise BadCommitmentDataset("an item lacks its Referenced SOP Class or Instance UID")
    return Reference(sop_class, sop_instance)

