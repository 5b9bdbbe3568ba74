"""Query/retrieve against a real Orthanc (started by the tests, loopback only)."""

from __future__ import annotations

import json

import pytest
from pydicom.uid import CTImageStorage, SecondaryCaptureImageStorage
from pynetdicom import evt

from tests.client.conftest import NODE_AET, our_entry
from tests.conftest import run_cli
from tests.dicom_factory import uid, write_study
from tests.peers.orthanc import Orthanc
from tests.peers.ports import free_port
from tui_pacs.config import Modality
from tui_pacs.core.model import Level
from tui_pacs.core.query import RetrieveRequest
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.net.client.association import Cancellation, Session
from tui_pacs.net.client.get_plan import expected_sop_classes
from tui_pacs.net.client.receive import Receiver, StorageListener
from tui_pacs.net.wire.ae import add_storage_scp_contexts, make_ae

pytestmark = pytest.mark.interop

JANE_STUDY = uid(1)
RICHARD_STUDY = uid(2)


@pytest.fixture(scope="module")
def shared_port() -> int:
    return free_port()


@pytest.fixture
def node_port(shared_port) -> int:
    """This node's port, which the module's Orthanc knows."""
    return shared_port


@pytest.fixture(scope="module")
def pacs(tmp_path_factory, shared_port):
    """An Orthanc that knows this node, holding two studies (6 + 2 instances)."""
    files = tmp_path_factory.mktemp("seed")
    paths = write_study(files, study=1, series=2, instances=3, patient_id="PAT1",
                        patient_name="DOE^JANE", study_date="20240115")
    paths += write_study(files, study=2, series=1, instances=2, patient_id="PAT2",
                         patient_name="ROE^RICHARD", study_date="20230601", modality="OT")
    with Orthanc(tmp_path_factory.mktemp("orthanc"), modalities=our_entry(shared_port)) as server:
        server.upload(*paths)
        yield server


def target_of(server: Orthanc) -> Target:
    return Target(server.aet, "127.0.0.1", server.dicom_port)


# --- find ------------------------------------------------------------------------------


async def rows_of(client, server, level, keys, **options):
    return [row async for row in client.find(target_of(server), level, keys, **options)]


async def test_find_patients_with_the_patient_root(client, pacs):
    rows = await rows_of(client, pacs, Level.PATIENT, {})
    assert sorted(r["PatientID"] for r in rows) == ["PAT1", "PAT2"]
    jane = next(r for r in rows if r["PatientID"] == "PAT1")
    assert jane["NumberOfPatientRelatedStudies"] == 1


async def test_find_studies_by_name_wildcard_and_date_range(client, pacs):
    rows = await rows_of(client, pacs, Level.STUDY, {"PatientName": "DOE*"})
    assert [r["StudyInstanceUID"] for r in rows] == [JANE_STUDY]
    assert rows[0]["NumberOfStudyRelatedInstances"] == 6
    assert rows[0]["ModalitiesInStudy"] == "CT"
    rows = await rows_of(client, pacs, Level.STUDY, {"StudyDate": "20230101-20231231"})
    assert [r["StudyInstanceUID"] for r in rows] == [RICHARD_STUDY]


async def test_find_series_and_instances_of_a_study(client, pacs):
    series = await rows_of(client, pacs, Level.SERIES, {"StudyInstanceUID": JANE_STUDY})
    assert sorted(r["SeriesInstanceUID"] for r in series) == [uid(1, 1), uid(1, 2)]
    instances = await rows_of(client, pacs, Level.IMAGE, {"StudyInstanceUID": JANE_STUDY,
                                                          "SeriesInstanceUID": uid(1, 2)})
    assert sorted(r["SOPInstanceUID"] for r in instances) == [uid(1, 2, n) for n in (1, 2, 3)]
    assert {r["Rows"] for r in instances} == {64}


def test_find_on_the_command_line_as_json(pacs, write_config):
    config = write_config(Modality("pacs", pacs.aet, "127.0.0.1", pacs.dicom_port))
    result = run_cli("find", "pacs", "--config", config, "-k", "PatientName=roe*", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["PatientName"] for r in rows] == ["ROE^RICHARD"]
    assert "1 study on ORTHANC" in result.stderr


# --- move ------------------------------------------------------------------------------


async def test_move_into_the_archive_through_a_temporary_listener(client, archive, pacs):
    seen = []
    report = await client.move(target_of(pacs), {"StudyInstanceUID": JANE_STUDY},
                               on_progress=seen.append)
    assert report.ok, report.diagnosis
    assert (report.completed, report.failed, report.received, report.new) == (6, 0, 6, 6)
    assert "temporary listener" in report.receiver
    assert seen and seen[-1].received == 6
    assert await archive.index.count(Level.IMAGE) == 6
    again = await client.move(target_of(pacs), {"StudyInstanceUID": JANE_STUDY})
    assert (again.received, again.new, again.duplicates) == (6, 0, 6)


async def test_move_to_this_archives_node_already_listening_is_checked_in_the_archive(
        client, archive, settings, pacs):
    """The app (or `tui-pacs serve`) holds the port and stores into this archive:
    the move cannot watch what arrives, so the archive is asked afterwards."""
    node = StorageListener(NODE_AET, "127.0.0.1", settings.node.port, settings.limits,
                           Receiver(archive))
    node.start()
    try:
        report = await client.move(target_of(pacs), {"StudyInstanceUID": RICHARD_STUDY})
    finally:
        node.stop()
    assert report.ok, report.diagnosis
    assert report.received is None and report.completed == 2
    assert "already listening" in report.receiver


async def test_move_to_another_program_on_our_port_finds_nothing_in_the_archive(
        client, archive, pacs, node_port):
    stored = []
    other = make_ae(NODE_AET)
    add_storage_scp_contexts(other)
    server = other.start_server(("127.0.0.1", node_port), block=False,
                                evt_handlers=[(evt.EVT_C_STORE, lambda e: stored.append(1) or 0)])
    try:
        report = await client.move(target_of(pacs), {"StudyInstanceUID": RICHARD_STUDY})
    finally:
        server.shutdown()
    assert len(stored) == 2 and report.completed == 2
    assert not report.ok and report.diagnosis.failure is Failure.NOTHING_ARRIVED
    assert "none is in this node's archive" in report.diagnosis.summary
    assert f"what listens on port {node_port} is not the node of this archive" in (
        report.diagnosis.advice[0])
    assert await archive.index.count(Level.IMAGE) == 0


def test_move_on_the_command_line(pacs, write_config):
    config = write_config(Modality("pacs", pacs.aet, "127.0.0.1", pacs.dicom_port))
    result = run_cli("move", "pacs", "--config", config, "-k", f"StudyInstanceUID={RICHARD_STUDY}")
    assert result.returncode == 0, result.stderr
    assert "2 completed, 0 failed" in result.stdout and "2 stored here (2 new" in result.stdout
    listing = run_cli("ls", "--config", config, "--json")
    assert [r["StudyInstanceUID"] for r in json.loads(listing.stdout)] == [RICHARD_STUDY]


async def test_move_to_a_remote_that_does_not_know_us(client, orthanc_factory, tmp_path):
    stranger = orthanc_factory(DicomAlwaysAllowMove=True)
    stranger.upload(*write_study(tmp_path / "seed", study=3, instances=1))
    report = await client.move(target_of(stranger), {"StudyInstanceUID": uid(3)})
    assert not report.ok and report.received == 0
    problem = report.diagnosis
    assert problem.failure.exit_code == 10
    assert "probably does not know TUIPACS" in problem.summary
    port = client.settings.node.port
    assert any(f'"TUIPACS" : [ "TUIPACS", "127.0.0.1", {port} ]' in line
               for line in problem.advice)


async def test_move_sent_somewhere_else(client, orthanc_factory, storescp_factory, tmp_path):
    """The remote's entry for us points at another node: success, yet nothing here."""
    elsewhere = storescp_factory(aet=NODE_AET)
    misled = orthanc_factory(modalities={"tuipacs": (NODE_AET, "127.0.0.1", elsewhere.port)})
    misled.upload(*write_study(tmp_path / "seed", study=4, instances=2))
    report = await client.move(target_of(misled), {"StudyInstanceUID": uid(4)})
    assert report.completed == 2 and report.received == 0
    assert report.diagnosis.failure is Failure.NOTHING_ARRIVED
    assert "nothing arrived here" in report.diagnosis.summary
    assert len(elsewhere.received()) == 2


def test_move_failure_on_the_command_line_shows_the_entry(orthanc_factory, write_config,
                                                          tmp_path, node_port):
    stranger = orthanc_factory(DicomAlwaysAllowMove=True)
    stranger.upload(*write_study(tmp_path / "seed", study=5, instances=1))
    config = write_config()
    result = run_cli("move", stranger.target, "--config", config, "-k",
                     f"StudyInstanceUID={uid(5)}")
    assert result.returncode == 10, result.stderr
    assert f'"TUIPACS" : [ "TUIPACS", "127.0.0.1", {node_port} ]' in result.stderr
    assert "Traceback" not in result.stderr


# --- get -------------------------------------------------------------------------------


async def test_get_into_the_archive(client, archive, pacs):
    seen = []
    report = await client.get(target_of(pacs), {"StudyInstanceUID": JANE_STUDY,
                                                "SeriesInstanceUID": uid(1, 1)},
                              on_progress=seen.append)
    assert report.ok, report.diagnosis
    assert (report.completed, report.received, report.new) == (3, 3, 3)
    assert seen[-1].received == 3
    rows = await archive.index.query(Level.IMAGE)
    assert sorted(r["SOPInstanceUID"] for r in rows) == [uid(1, 1, n) for n in (1, 2, 3)]


def test_a_get_asks_which_sop_classes_to_expect(pacs, settings):
    session = Session(target_of(pacs), NODE_AET, settings.limits)

    def expected(level, **keys):
        return expected_sop_classes(session, RetrieveRequest(level, "study", keys),
                                    Cancellation())

    assert expected(Level.STUDY, StudyInstanceUID=RICHARD_STUDY) == [
        SecondaryCaptureImageStorage]
    assert expected(Level.SERIES, StudyInstanceUID=JANE_STUDY,
                    SeriesInstanceUID=uid(1, 1)) == [CTImageStorage]
    assert expected(Level.STUDY, StudyInstanceUID="1.2.3.4.404") == []


def test_get_on_the_command_line(pacs, write_config):
    config = write_config()
    result = run_cli("get", pacs.target, "--config", config, "-k",
                     f"StudyInstanceUID={JANE_STUDY}")
    assert result.returncode == 0, result.stderr
    assert "C-GET from ORTHANC" in result.stdout and "6 stored here (6 new" in result.stdout


async def test_retrieve_needs_keys(client, pacs):
    from tui_pacs.core.keys import BadKey

    with pytest.raises(BadKey, match="say what to retrieve"):
        await client.get(target_of(pacs), {})


# --- failures to connect ---------------------------------------------------------------


def test_echo_on_the_command_line(pacs, write_config):
    config = write_config(Modality("pacs", pacs.aet, "127.0.0.1", pacs.dicom_port))
    result = run_cli("echo", "pacs", "--config", config, "--count", "2")
    assert result.returncode == 0, result.stderr
    assert "echo 2: success" in result.stdout and "2 of 2 succeeded" in result.stdout


def test_echo_to_a_closed_port_exits_4(write_config):
    result = run_cli("echo", f"ORTHANC@127.0.0.1:{free_port()}", "--config", write_config())
    assert result.returncode == 4
    assert "connection refused" in result.stderr
    assert "Traceback" not in result.stderr and "ERROR" not in result.stderr


def test_echo_rejected_for_our_calling_ae_title(orthanc_factory, write_config):
    strict = orthanc_factory(DicomAlwaysAllowEcho=False, DicomAlwaysAllowStore=False)
    result = run_cli("echo", strict.target, "--config", write_config())
    assert result.returncode == 6
    assert "calling AE title not recognised" in result.stderr
    assert "add our AE title TUIPACS" in result.stderr


async def test_echo_rejected_for_a_wrong_called_ae_title(client, orthanc_factory):
    strict = orthanc_factory(DicomCheckCalledAet=True)
    report = await client.echo(Target("NOTORTHANC", "127.0.0.1", strict.dicom_port))
    assert report.diagnosis.failure is Failure.ASSOCIATION_REJECTED
    assert "called AE title not recognised" in report.diagnosis.summary
    assert (await client.echo(target_of(strict))).ok


async def test_find_refused_to_an_unknown_calling_ae_title(client, orthanc):
    with pytest.raises(RemoteFailure) as caught:
        async for _ in client.find(target_of(orthanc), Level.STUDY, {}):
            pass
    problem = caught.value.diagnosis
    assert problem.failure is Failure.ASSOCIATION_ABORTED
    assert "instead of answering the C-FIND" in problem.summary
