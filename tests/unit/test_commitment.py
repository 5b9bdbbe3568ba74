"""Storage commitment values: the datasets both roles read and write, the outcome
of a request, and the inbox that hands reports to the command waiting for them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, MRImageStorage

from tests.conftest import cli_env
from tui_pacs.core.commitment import (
    ALL_COMMITTED,
    CLASS_INSTANCE_CONFLICT,
    NO_SUCH_OBJECT_INSTANCE,
    SOME_FAILED,
    BadCommitmentDataset,
    CommitmentResult,
    CommitReport,
    FailedReference,
    Reference,
    read_report,
    read_request,
    report_dataset,
    request_dataset,
)
from tui_pacs.core.target import Target
from tui_pacs.store.commitment_inbox import REPORTS_DIR, CommitmentInbox

CT1 = Reference(CTImageStorage, "1.2.3.1")
CT2 = Reference(CTImageStorage, "1.2.3.2")
MR3 = Reference(MRImageStorage, "1.2.3.3")


def test_a_request_names_its_transaction_and_instances():
    ds = request_dataset("1.2.9", [CT1, MR3])
    assert ds.TransactionUID == "1.2.9"
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
            for i in ds.ReferencedSOPSequence] == [(CTImageStorage, "1.2.3.1"),
                                                   (MRImageStorage, "1.2.3.3")]
    assert read_request(ds) == ("1.2.9", (CT1, MR3))


@pytest.mark.parametrize("change, problem", [
    (lambda ds: delattr(ds, "TransactionUID"), "no Transaction UID"),
    (lambda ds: setattr(ds, "ReferencedSOPSequence", []), "names no instance"),
    (lambda ds: delattr(ds.ReferencedSOPSequence[0], "ReferencedSOPInstanceUID"),
     "lacks its Referenced SOP Class or Instance UID"),
])
def test_a_request_that_does_not_say_what_to_commit_is_refused(change, problem):
    ds = request_dataset("1.2.9", [CT1])
    change(ds)
    with pytest.raises(BadCommitmentDataset, match=problem):
        read_request(ds)


def test_a_report_with_failures_is_event_type_2_and_keeps_every_reason():
    result = CommitmentResult("1.2.9", (CT1,), (FailedReference(CT2, NO_SUCH_OBJECT_INSTANCE),
                                                FailedReference(MR3, CLASS_INSTANCE_CONFLICT)))
    assert result.event_type == SOME_FAILED
    ds = report_dataset(result)
    assert [i.FailureReason for i in ds.FailedSOPSequence] == [0x0112, 0x0119]
    again = read_report(SOME_FAILED, ds, "PACS", same_association=True)
    assert again.committed == (CT1,)
    assert [(f.reference, f.reason, f.meaning) for f in again.failed] == [
        (CT2, 0x0112, "no such object instance"),
        (MR3, 0x0119, "SOP class does not match the instance")]
    assert (again.reporter, again.same_association) == ("PACS", True)


def test_a_report_of_success_has_no_failed_sequence():
    ds = report_dataset(CommitmentResult("1.2.9", (CT1, CT2), ()))
    assert "FailedSOPSequence" not in ds
    assert read_report(ALL_COMMITTED, ds, "PACS", False).committed == (CT1, CT2)


def test_a_report_of_failures_without_them_or_their_reason_is_refused():
    ds = Dataset()
    ds.TransactionUID = "1.2.9"
    with pytest.raises(BadCommitmentDataset, match="without a Failed SOP Sequence"):
        read_report(SOME_FAILED, ds, "PACS", False)
    ds = report_dataset(CommitmentResult("1.2.9", (), (FailedReference(CT1, 0x0110),)))
    del ds.FailedSOPSequence[0].FailureReason
    with pytest.raises(BadCommitmentDataset, match="no Failure Reason"):
        read_report(SOME_FAILED, ds, "PACS", False)


def report_of(result: CommitmentResult | None, requested=(CT1, CT2, MR3)) -> CommitReport:
    return CommitReport(Target("PACS", "10.0.0.5", 104), "TUIPACS", "1.2.9", requested,
                        result, "a temporary listener on port 11112", 0.1)


def test_instances_the_report_leaves_out_count_against_it():
    partial = report_of(CommitmentResult("1.2.9", (CT1,), (FailedReference(CT2, 0x0112),)))
    assert partial.unreported == (MR3,)
    assert not partial.ok
    assert report_of(CommitmentResult("1.2.9", (CT1, CT2, MR3), ())).ok
    assert not report_of(None).ok and report_of(None).unreported == ()


# --- the inbox -------------------------------------------------------------------


RESULT = CommitmentResult("1.2.826.0.1.3680043.8.498.1", (CT1,),
                          (FailedReference(CT2, NO_SUCH_OBJECT_INSTANCE),), "PACS", False)


def test_a_delivered_report_is_claimed_once_by_its_transaction(tmp_path):
    inbox = CommitmentInbox(tmp_path)
    inbox.deliver(RESULT)
    names = [p.name for p in (tmp_path / REPORTS_DIR).iterdir()]
    # Named by a hash: a peer's UID never becomes a path.
    assert len(names) == 1 and len(names[0]) == len("0" * 64 + ".json")
    assert inbox.wait(RESULT.transaction_uid, timeout=1) == RESULT
    assert not list((tmp_path / REPORTS_DIR).iterdir())
    assert inbox.wait(RESULT.transaction_uid, timeout=0.05) is None


def test_a_waiter_is_woken_by_a_delivery_in_this_process(tmp_path):
    inbox = CommitmentInbox(tmp_path)
    waiting = threading.Event()
    claimed: list[CommitmentResult | None] = []

    def wait() -> None:
        waiting.set()
        claimed.append(inbox.wait(RESULT.transaction_uid, timeout=30))

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiting.wait()
    started = time.monotonic()
    CommitmentInbox(tmp_path).deliver(RESULT)
    waiter.join(30)
    assert claimed == [RESULT]
    assert time.monotonic() - started < 5


def test_a_report_written_by_another_process_reaches_the_waiter(tmp_path):
    """`tui-pacs serve` receives the report; the command waits in its own process."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tui_pacs.core.commitment import CommitmentResult, Reference\n"
        "from tui_pacs.store.commitment_inbox import CommitmentInbox\n"
        "CommitmentInbox(Path(sys.argv[1])).deliver(CommitmentResult(\n"
        "    '1.2.9.77', (Reference('1.2.840.10008.5.1.4.1.1.2', '1.2.3.1'),), (), 'PACS'))\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], env=cli_env())
    try:
        result = CommitmentInbox(tmp_path).wait("1.2.9.77", timeout=30)
    finally:
        writer.wait(30)
    assert result is not None and result.committed == (CT1,)
    assert result.reporter == "PACS"


def test_waiting_stops_when_asked(tmp_path):
    started = time.monotonic()
    assert CommitmentInbox(tmp_path).wait("1.2.9", timeout=30, stop=lambda: True) is None
    assert time.monotonic() - started < 5
