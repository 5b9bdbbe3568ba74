"""C-GET into the archive: a study split over parallel associations, and what
the split must not change (counts, failures, cancellation, refusals).

Orthanc is the real peer for the ordinary case. The failure modes are
provoked with a small pynetdicom Q/R SCP in-process ("a PACS"): it limits
associations, refuses lists of UIDs, aborts, or answers slowly enough to be
cancelled, as real ones do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from tests.client.conftest import NODE_AET, our_entry
from tests.dicom_factory import make_dataset, uid, write_study
from tests.peers.orthanc import Orthanc
from tests.peers.ports import free_port
from tui_pacs.core import status
from tui_pacs.core.model import Level
from tui_pacs.core.query import RetrieveRequest
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.net.client import retrieve
from tui_pacs.net.client.association import Cancellation, Session
from tui_pacs.net.client.get_plan import SPLIT_MINIMUM, plan_get

STUDY = uid(5)


def study_request() -> RetrieveRequest:
    return RetrieveRequest(Level.STUDY, "study", {"StudyInstanceUID": STUDY})


# --- against Orthanc ---------------------------------------------------------------


@pytest.mark.interop
async def test_a_study_comes_over_several_associations(client, archive, tmp_path, node_port):
    paths = write_study(tmp_path / "seed", study=5, series=2, instances=12)
    seen = []
    with Orthanc(tmp_path / "orthanc", modalities=our_entry(node_port)) as pacs:
        pacs.upload(*paths)
        target = Target(pacs.aet, "127.0.0.1", pacs.dicom_port)
        report = await client.get(target, {"StudyInstanceUID": STUDY}, on_progress=seen.append)
    assert report.ok, report.diagnosis
    assert (report.completed, report.received, report.new) == (24, 24, 24)
    assert report.receiver == "4 associations (C-GET)"
    # The total is known from the start and stays right as the pieces report.
    assert {p.total for p in seen if p.total is not None} == {24}
    assert seen[-1].received == 24 and seen[-1].remaining == 0
    stored = await archive.index.query(Level.IMAGE)
    assert sorted(r["SOPInstanceUID"] for r in stored) == sorted(
        uid(5, se, n) for se in (1, 2) for n in range(1, 13))


@pytest.mark.interop
def test_the_plan_lists_the_instances_series_by_series(settings, tmp_path, node_port):
    paths = write_study(tmp_path / "seed", study=5, series=2, instances=12)
    with Orthanc(tmp_path / "orthanc", modalities=our_entry(node_port)) as pacs:
        pacs.upload(*paths)
        session = Session(Target(pacs.aet, "127.0.0.1", pacs.dicom_port), NODE_AET,
                          settings.limits)
        plan = plan_get(session, study_request(), Cancellation())
        single = plan_get(session, study_request(), Cancellation(), associations=1)
    assert [piece.instances for piece in plan.pieces] == [6, 6, 6, 6]
    first = plan.pieces[0].request
    assert first.level is Level.IMAGE
    assert first.keys["SeriesInstanceUID"] == uid(5, 1)
    assert first.keys["SOPInstanceUID"].split("\\") == [uid(5, 1, n) for n in range(1, 7)]
    assert single.pieces == [single.pieces[0]] and single.pieces[0].request == study_request()


# --- against a pynetdicom PACS -----------------------------------------------------


@dataclass
class Pacs:
    """A Q/R SCP holding one study of ``count`` instances, with switches for trouble."""

    count: int = SPLIT_MINIMUM + 4
    max_associations: int = 10
    refuse_lists: bool = False
    abort_after: int | None = None
    delay: float = 0.0
    # Instances whose dataset our archive cannot keep (no Series Instance UID inside).
    broken: tuple[int, ...] = ()
    gets: list[str] = field(default_factory=list)
    sent: int = 0

    def __post_init__(self) -> None:
        self.instances = [make_dataset(study=5, series=1, instance=n)
                          for n in range(1, self.count + 1)]
        for ds in self.instances:
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        self._lock = threading.Lock()

    def handle_find(self, event):
        query = event.identifier
        if query.QueryRetrieveLevel == "STUDY":
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.StudyInstanceUID = STUDY
            answer.SOPClassesInStudy = self.instances[0].SOPClassUID
            answer.NumberOfStudyRelatedInstances = self.count
            yield 0xFF00, answer
            return
        for ds in self.instances:
            answer = Dataset()
            answer.QueryRetrieveLevel = "IMAGE"
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                            "SOPClassUID"):
                setattr(answer, keyword, getattr(ds, keyword))
            yield 0xFF00, answer

    def handle_get(self, event):
        query = event.identifier
        self.gets.append(query.QueryRetrieveLevel)
        if query.QueryRetrieveLevel == "IMAGE":
            if self.refuse_lists:
                yield 1
                yield status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, None
                return
            listed = query.SOPInstanceUID
            wanted = {listed} if isinstance(listed, str) else set(listed)
            chosen = [ds for ds in self.instances if ds.SOPInstanceUID in wanted]
        else:
            chosen = list(self.instances)
        yield len(chosen)
        for ds in chosen:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            with self._lock:
                self.sent += 1
                sent = self.sent
            if self.abort_after is not None and sent > self.abort_after:
                event.assoc.abort()
                return
            time.sleep(self.delay)
            if int(ds.InstanceNumber) in self.broken:
                ds = ds.copy()
                del ds.SeriesInstanceUID
            yield 0xFF00, ds

    def serve(self) -> tuple[AE, Target]:
        ae = AE(ae_title="PACS")
        ae.maximum_associations = self.max_associations
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        for context in StoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, scu_role=True, scp_role=True)
        port = free_port()
        server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[
            (evt.EVT_C_FIND, self.handle_find), (evt.EVT_C_GET, self.handle_get)])
        return server, Target("PACS", "127.0.0.1", port)


@pytest.fixture
def pacs_factory():
    servers = []

    def start(**switches) -> tuple[Pacs, Target]:
        pacs = Pacs(**switches)
        server, target = pacs.serve()
        servers.append(server)
        return pacs, target

    yield start
    for server in servers:
        server.shutdown()


def get(settings, archive, target, cancellation=None, on_progress=None):
    session = Session(target, NODE_AET, settings.limits)
    return retrieve.get(session, study_request(), archive, on_progress,
                        cancellation or Cancellation())


async def run_get(settings, archive, target, **options):
    import asyncio

    return await asyncio.to_thread(get, settings, archive, target, **options)


async def test_a_remote_that_takes_one_association_gets_everything_over_it(
        settings, archive, pacs_factory):
    pacs, target = pacs_factory(max_associations=1)
    report = await run_get(settings, archive, target)
    assert report.ok, report.diagnosis
    assert report.completed == report.received == pacs.count
    assert pacs.gets == ["IMAGE"] * 4  # four pieces, one after the other
    assert report.receiver == "this association (C-GET)"


async def test_a_remote_briefly_at_its_limit_is_asked_again(settings, archive, pacs_factory):
    """Another node holds the remote's only association; it lets go a moment
    later, and the retrieve goes ahead instead of failing as rejected."""
    pacs, target = pacs_factory(max_associations=1)
    holder = AE(ae_title="OTHER")
    holder.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    held = holder.associate(target.host, target.port, ae_title=target.aet)
    assert held.is_established
    threading.Timer(0.3, held.release).start()
    report = await run_get(settings, archive, target)
    assert report.ok, report.diagnosis
    assert report.received == pacs.count


async def test_a_remote_that_stays_at_its_limit_is_reported_busy(settings, archive, pacs_factory):
    pacs, target = pacs_factory(max_associations=1)
    holder = AE(ae_title="OTHER")
    holder.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    held = holder.associate(target.host, target.port, ae_title=target.aet)
    try:
        with pytest.raises(RemoteFailure) as caught:
            await run_get(settings, archive, target)
    finally:
        held.release()
    problem = caught.value.diagnosis
    assert problem.failure is Failure.ASSOCIATION_REJECTED and problem.busy
    assert "local limit exceeded" in problem.summary
    assert pacs.gets == []


async def test_a_remote_that_refuses_lists_of_uids_gets_the_study_as_asked(
        settings, archive, pacs_factory):
    pacs, target = pacs_factory(refuse_lists=True)
    report = await run_get(settings, archive, target)
    assert report.ok, report.diagnosis
    assert report.received == pacs.count
    assert pacs.gets == ["IMAGE"] * 4 + ["STUDY"]
    assert report.receiver == "this association (C-GET)"


async def test_failures_are_counted_and_listed_across_pieces(settings, archive, pacs_factory):
    pacs, target = pacs_factory(broken=(2, 19))
    report = await run_get(settings, archive, target)
    assert report.status == status.WARNING_SUBOPERATIONS
    assert (report.completed, report.failed, report.store_failures) == (pacs.count - 2, 2, 2)
    assert sorted(report.failed_instances) == sorted([uid(5, 1, 2), uid(5, 1, 19)])
    assert report.received == pacs.count - 2 and not report.ok


async def test_a_cancelled_get_stops_every_association(settings, archive, pacs_factory):
    pacs, target = pacs_factory(delay=0.05)
    cancellation = Cancellation()

    def cancel_soon(progress):
        if progress.received >= 3:
            cancellation.request()

    report = await run_get(settings, archive, target, cancellation=cancellation,
                           on_progress=cancel_soon)
    assert report.cancelled and report.status == status.CANCEL
    assert 3 <= report.received < pacs.count
    assert report.completed == report.received


async def test_a_lost_association_fails_the_get(settings, archive, pacs_factory):
    pacs, target = pacs_factory(abort_after=5, delay=0.01)
    with pytest.raises(RemoteFailure) as caught:
        await run_get(settings, archive, target)
    assert caught.value.diagnosis.failure is Failure.ASSOCIATION_ABORTED
    # What arrived before is kept.
    assert len(await archive.index.query(Level.IMAGE)) >= 1
