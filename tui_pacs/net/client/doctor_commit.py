"""The doctor's storage commitment step: negotiation, and a commitment when
the user names an instance the remote holds.

Without an instance, the step can only show that the remote accepts the
Storage Commitment Push Model; it says so. With one, it runs a whole
commitment (:func:`~tui_pacs.net.client.commit.commit`), report included,
so the remote's way back to us is tested as well.
"""

from __future__ import annotations

from tui_pacs.core.commitment import CommitReport, Reference
from tui_pacs.core.remote import Check, Diagnosis, Failure, RemoteFailure
from tui_pacs.net.client.association import Cancellation, Session, open_association
from tui_pacs.net.client.commit import commit
from tui_pacs.net.client.retrieve import OwnNode
from tui_pacs.net.client.scu import release
from tui_pacs.net.commitment import request_context

COMMIT = "storage commitment"


def commit_check(session: Session, own: OwnNode, references: tuple[Reference, ...],
                 cancellation: Cancellation) -> Check:
    """Negotiation only when ``references`` is empty, else a commitment of them."""
    if not references:
        try:
            assoc, _ = open_association(session, [request_context()],
                                        cancellation=cancellation)
        except RemoteFailure as exc:
            return Check.failed(COMMIT, exc.diagnosis)
        release(assoc)
        return Check.ok(COMMIT, "the remote accepts the Storage Commitment Push Model; "
                                "name an instance it holds (--commit-instance UID) to run a "
                                "commitment")
    try:
        report = commit(session, references, own, session.dimse_timeout, cancellation)
    except RemoteFailure as exc:
        return Check.failed(COMMIT, exc.diagnosis)
    if report.diagnosis is not None:
        return Check.failed(COMMIT, report.diagnosis)
    if not report.ok:
        return Check.failed(COMMIT, _not_committed(report))
    result = report.result
    assert result is not None  # a report without a diagnosis has its result
    route = ("on the same association" if result.same_association
             else f"on a new association to {report.receiver}")
    return Check.ok(COMMIT, f"{len(report.committed)} instance(s) committed, reported by "
                            f"{result.reporter} {route} ({report.seconds * 1000:.0f} ms)")


def _not_committed(report: CommitReport) -> Diagnosis:
    reasons = [f"{f.reference.sop_instance_uid}: 0x{f.reason:04X} {f.meaning}"
               for f in report.failed]
    reasons += [f"{r.sop_instance_uid}: not in the report" for r in report.unreported]
    return Diagnosis(
        Failure.OPERATION_FAILED,
        "the remote did not commit " + "; ".join(reasons),
        ("on the remote: it does not hold the instance under that SOP class; send it "
         "there first (tui-pacs send), or name one it holds",),
    )
