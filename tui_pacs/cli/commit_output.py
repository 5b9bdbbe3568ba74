"""What ``tui-pacs commit`` prints: a line per instance and a summary, or JSON.

Lines go through :func:`~tui_pacs.cli.context.say` (the UIDs and AE titles
are the remote's words); JSON keeps values exact, keyed by DICOM keyword.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tui_pacs.core.commitment import CommitReport, Reference


def commit_lines(report: CommitReport) -> Iterator[str]:
    yield (f"commit {report.calling_aet} -> {report.target}: "
           f"{len(report.requested)} instance(s), transaction {report.transaction_uid}")
    for reference in report.committed:
        yield f"  committed   {reference.sop_instance_uid}"
    for failure in report.failed:
        yield (f"  FAILED      {failure.reference.sop_instance_uid}  "
               f"0x{failure.reason:04X} {failure.meaning}")
    for reference in report.unreported:
        yield f"  UNREPORTED  {reference.sop_instance_uid}  not in the report"
    if report.result is not None:
        route = ("on the same association" if report.result.same_association
                 else f"on a new association to {report.receiver}")
        yield (f"{len(report.committed)} of {len(report.requested)} committed, "
               f"{len(report.failed)} failed; reported by {report.result.reporter} {route} "
               f"in {report.seconds:.2f} s")


def commit_json(report: CommitReport) -> dict[str, Any]:
    result = report.result
    return {
        "target": report.target.address,
        "calling_aet": report.calling_aet,
        "transaction_uid": report.transaction_uid,
        "requested": len(report.requested),
        "committed": [_reference(r) for r in report.committed],
        "failed": [{**_reference(f.reference), "FailureReason": f.reason,
                    "reason": f.meaning} for f in report.failed],
        "unreported": [_reference(r) for r in report.unreported],
        "unreadable": [{"path": u.source, "reason": u.reason} for u in report.unreadable],
        "reporter": result.reporter if result else None,
        "same_association": result.same_association if result else None,
        "receiver": report.receiver,
        "seconds": round(report.seconds, 3),
        "cancelled": report.cancelled,
        "ok": report.ok,
        "problem": report.diagnosis.summary if report.diagnosis else None,
    }


def _reference(reference: Reference) -> dict[str, str]:
    return {"SOPClassUID": reference.sop_class_uid,
            "SOPInstanceUID": reference.sop_instance_uid}
