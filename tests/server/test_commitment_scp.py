"""The node as storage commitment SCP, with pynetdicom peers: what it commits and why
not, on which association it reports, who may ask, and the reports it keeps for a
waiting command. (Orthanc, as SCU through its REST API, is in
tests/client/test_commit_orthanc.py.)"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, MRImageStorage
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from tests.conftest import free_port
from tests.dicom_factory import uid, write_study
from tests.server.node_fixtures import OPEN_ACCESS, client_ae, settings_for, started
from tui_pacs.config import Modality
from tui_pacs.core.commitment import WELL_KNOWN_INSTANCE
from tui_pacs.core.events import OperationEvent
from tui_pacs.store.commitment_inbox import CommitmentInbox
from tui_pacs.store.importer import import_files

HELD_1, HELD_2, MISSING = uid(1, 1, 1), uid(1, 1, 2), "1.2.3.404"
COMMIT_ANYONE = dataclasses.replace(OPEN_ACCESS, commit=("*",))


def action_information(transaction_uid: str, *references: tuple[str, str]) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    items = []
    for sop_class, sop_instance in references:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_instance
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


ASKED = [(CTImageStorage, HELD_1), (MRImageStorage, HELD_2), (CTImageStorage, MISSING)]


class Reports:
    """N-EVENT-REPORTs a peer received, and a way to wait for the next one; and
    the command sets of the responses it read."""

    def __init__(self) -> None:
        self.received: list[tuple[int, Dataset, Any]] = []
        self.responses: list[Dataset] = []
        self._arrived = threading.Event()
        self._serving: threading.Thread | None = None

    def on_message(self, event: Any) -> None:
        command = event.message.command_set
        if command.CommandField == 0x8130:  # N-ACTION-RSP
            self.responses.append(command)

    def handle(self, event: Any) -> tuple[int, None]:
        self._serving = threading.current_thread()
        self.received.append((event.event_type, event.event_information, event.assoc))
        self._arrived.set()
        return 0x0000, None

    def wait(self) -> tuple[int, Dataset, Any]:
        """The last report, once answered: pynetdicom answers in the thread that
        called the handler, after it returned."""
        assert self._arrived.wait(20), "no N-EVENT-REPORT"
        self._serving.join(20)
        return self.received[-1]


async def holding_two(tmp_path, **changes):
    """A node holding HELD_1 and HELD_2 (CT images), and the events it sends."""
    node = await started(settings_for(tmp_path / "data", **{"access": COMMIT_ANYONE,
                                                            **changes}))
    report = await import_files(node.archive,
                                write_study(tmp_path / "in", study=1, series=1, instances=2))
    assert not report.failures
    events: list[OperationEvent] = []
    node.subscribe(lambda e: events.append(e) if isinstance(e, OperationEvent) else None)
    return node, events


def ask(node, information: Dataset, *, aet: str = "CLIENT", action_type: int = 1,
        instance: str = WELL_KNOWN_INSTANCE, keep_open: bool = True,
        reports: Reports | None = None) -> Dataset:
    """N-ACTION to the node: its response; the association stays open for the
    report until one came (``keep_open``), or is released at once."""
    ae = client_ae(aet)
    ae.add_requested_context(StorageCommitmentPushModel)
    handlers = ([(evt.EVT_N_EVENT_REPORT, reports.handle),
                 (evt.EVT_DIMSE_RECV, reports.on_message)] if reports else [])
    assoc = ae.associate("127.0.0.1", node.settings.node.port, ae_title="TUIPACS",
                         evt_handlers=handlers)
    assert assoc.is_established
    try:
        answer, _ = assoc.send_n_action(information, action_type, StorageCommitmentPushModel,
                                        instance)
        if keep_open and reports is not None:
            reports.wait()
        return answer
    finally:
        assoc.release()


def committed_and_failed(information: Dataset) -> tuple[list[str], list[tuple[str, int]]]:
    committed = [i.ReferencedSOPInstanceUID for i in information.get("ReferencedSOPSequence", [])]
    failed = [(i.ReferencedSOPInstanceUID, i.FailureReason)
              for i in information.get("FailedSOPSequence", [])]
    return committed, failed


async def test_commits_what_it_holds_and_reports_on_the_same_association(tmp_path):
    node, events = await holding_two(tmp_path)
    reports = Reports()
    try:
        answer = await asyncio.to_thread(ask, node, action_information("1.2.9.1", *ASKED),
                                         reports=reports)
    finally:
        await node.stop()
    assert answer.Status == 0x0000
    # What Orthanc insists on in a response: the Push Model's class and instance.
    (response,) = reports.responses
    assert response.AffectedSOPClassUID == StorageCommitmentPushModel
    assert response.AffectedSOPInstanceUID == WELL_KNOWN_INSTANCE
    event_type, information, assoc = reports.wait()
    assert event_type == 2
    assert information.TransactionUID == "1.2.9.1"
    # HELD_2 is a CT image, asked for as MR: a class/instance conflict.
    assert committed_and_failed(information) == ([HELD_1], [(HELD_2, 0x0119), (MISSING, 0x0112)])
    assert assoc.is_requestor  # on the association of the request
    action = next(e for e in events if e.service == "N-ACTION")
    assert (action.calling_aet, action.status) == ("CLIENT", 0x0000)
    assert action.counts == {"committed": 1, "failed": 2}
    assert action.detail == "transaction 1.2.9.1: reported on the same association"


async def test_everything_held_is_event_type_1(tmp_path):
    node, _ = await holding_two(tmp_path)
    reports = Reports()
    try:
        await asyncio.to_thread(ask, node, action_information(
            "1.2.9.2", (CTImageStorage, HELD_1), (CTImageStorage, HELD_2)), reports=reports)
    finally:
        await node.stop()
    event_type, information, _ = reports.wait()
    assert event_type == 1
    assert committed_and_failed(information) == ([HELD_1, HELD_2], [])


async def test_an_archived_file_that_is_gone_is_not_committed(tmp_path):
    node, _ = await holding_two(tmp_path)
    stored = await node.archive.index.file_of(HELD_1)
    node.archive.path_of(stored).unlink()
    reports = Reports()
    try:
        await asyncio.to_thread(ask, node, action_information(
            "1.2.9.3", (CTImageStorage, HELD_1), (CTImageStorage, HELD_2)), reports=reports)
    finally:
        await node.stop()
    assert committed_and_failed(reports.wait()[1]) == ([HELD_2], [(HELD_1, 0x0110)])


class ReportDestination:
    """A modality that receives reports on associations the node opens to it."""

    def __init__(self, aet: str) -> None:
        self.aet = aet
        self.port = free_port()
        self.reports = Reports()
        ae = AE(aet)
        ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
        self._server = ae.start_server(("127.0.0.1", self.port), block=False,
                                       evt_handlers=[(evt.EVT_N_EVENT_REPORT,
                                                      self.reports.handle)])

    @property
    def modality(self) -> Modality:
        return Modality(self.aet.lower(), self.aet, "127.0.0.1", self.port)

    def close(self) -> None:
        self._server.shutdown()


# The node may send its report on the association before the release request
# reaches it; pynetdicom's requester, awaiting the release response, then
# cannot answer the report (InvalidEventError, Evt9 in Sta7, in its reactor
# thread). The node takes the release, and reports again on a new association:
# what this test asserts.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_a_requester_that_releases_at_once_gets_the_report_on_a_new_association(
        tmp_path):
    destination = ReportDestination("MODALITY")
    node, events = await holding_two(tmp_path, modalities=(destination.modality,))
    try:
        answer = await asyncio.to_thread(ask, node, action_information("1.2.9.4", *ASKED),
                                         aet="MODALITY", keep_open=False)
        event_type, information, assoc = await asyncio.to_thread(destination.reports.wait)
    finally:
        await node.stop()
        destination.close()
    assert answer.Status == 0x0000
    assert event_type == 2
    assert committed_and_failed(information) == ([HELD_1], [(HELD_2, 0x0119), (MISSING, 0x0112)])
    # The node called as itself, in the SCP role it asked for.
    assert assoc.requestor.ae_title == "TUIPACS"
    context = assoc.accepted_contexts[0]
    assert (context.abstract_syntax, context.as_scp, context.as_scu) == (
        StorageCommitmentPushModel, False, True)
    action = next(e for e in events if e.service == "N-ACTION")
    assert action.detail.endswith(f"reported to MODALITY (127.0.0.1:{destination.port}) on a "
                                  "new association")


async def test_a_requester_gone_and_not_configured_is_logged_and_given_up(tmp_path, caplog):
    node, events = await holding_two(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="tui_pacs"):
            answer = await asyncio.to_thread(ask, node, action_information("1.2.9.5", *ASKED),
                                             aet="STRANGER", keep_open=False)
            await wait_for(lambda: any(e.service == "N-ACTION" for e in events))
    finally:
        await node.stop()
    assert answer.Status == 0x0000
    action = next(e for e in events if e.service == "N-ACTION")
    assert action.detail == ("transaction 1.2.9.5: not reported: STRANGER is not a "
                             "configured modality")
    assert any("cannot report to STRANGER" in r.getMessage() and "[[modalities]]" in
               r.getMessage() for r in caplog.records)


async def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("change, code", [
    (dict(action_type=2), 0x0123),
    (dict(instance="1.2.3"), 0x0112),
])
async def test_requests_that_are_not_commitment_requests_get_a_status(tmp_path, change, code):
    node, _ = await holding_two(tmp_path)
    try:
        answer = await asyncio.to_thread(ask, node, action_information("1.2.9.6", *ASKED),
                                         **change)
    finally:
        await node.stop()
    assert answer.Status == code


async def test_a_request_without_a_transaction_uid_is_refused(tmp_path):
    node, _ = await holding_two(tmp_path)
    information = action_information("1.2.9.7", *ASKED)
    del information.TransactionUID
    try:
        answer = await asyncio.to_thread(ask, node, information)
    finally:
        await node.stop()
    assert answer.Status == 0x0115
    assert answer.ErrorComment == "no Transaction UID"


async def test_only_those_allowed_may_ask_or_report(tmp_path):
    """By default only configured modalities may use storage commitment."""
    node, events = await holding_two(tmp_path, access=OPEN_ACCESS)
    try:
        answer = await asyncio.to_thread(ask, node, action_information("1.2.9.8", *ASKED))
        report_status = await asyncio.to_thread(report_to, node, "STRANGER", "1.2.9.9")
        await wait_for(lambda: len(events) == 2)
    finally:
        await node.stop()
    assert answer.Status == 0x0124
    assert report_status == 0x0124
    assert [(e.service, e.status) for e in events] == [("N-ACTION", 0x0124),
                                                      ("N-EVENT-REPORT", 0x0124)]
    assert not CommitmentInbox(tmp_path / "data").wait("1.2.9.9", timeout=0)


def report_to(node, aet: str, transaction_uid: str) -> int:
    """An N-EVENT-REPORT to the node, as a remote SCP reporting on its own
    association: the status the node answered."""
    ae = client_ae(aet)
    assoc = ae.associate("127.0.0.1", node.settings.node.port, ae_title="TUIPACS",
                         contexts=[build_context(StorageCommitmentPushModel)],
                         ext_neg=[build_role(StorageCommitmentPushModel, scp_role=True,
                                             scu_role=False)])
    assert assoc.is_established
    information = action_information(transaction_uid, (CTImageStorage, HELD_1))
    failed = Dataset()
    failed.ReferencedSOPClassUID = MRImageStorage
    failed.ReferencedSOPInstanceUID = MISSING
    failed.FailureReason = 0x0112
    information.FailedSOPSequence = [failed]
    try:
        answer, _ = assoc.send_n_event_report(information, 2, StorageCommitmentPushModel,
                                              WELL_KNOWN_INSTANCE)
        return int(answer.Status)
    finally:
        assoc.release()


async def test_a_report_sent_to_the_node_waits_in_the_inbox_for_its_command(tmp_path):
    node, events = await holding_two(
        tmp_path, modalities=(Modality("pacs", "PACS", "127.0.0.1", free_port()),))
    try:
        assert await asyncio.to_thread(report_to, node, "PACS", "1.2.9.10") == 0x0000
        await wait_for(lambda: bool(events))
    finally:
        await node.stop()
    result = CommitmentInbox(tmp_path / "data").wait("1.2.9.10", timeout=0)
    assert result is not None
    assert [r.sop_instance_uid for r in result.committed] == [HELD_1]
    assert [(f.reference.sop_instance_uid, f.reason) for f in result.failed] == [
        (MISSING, 0x0112)]
    assert (result.reporter, result.same_association) == ("PACS", False)
    assert [(e.service, e.counts, e.detail) for e in events] == [
        ("N-EVENT-REPORT", {"committed": 1, "failed": 1}, "transaction 1.2.9.10")]
