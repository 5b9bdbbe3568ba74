"""Storage commitment against a real Orthanc, both ways.

Orthanc as SCP: ``tui-pacs commit`` (a subprocess) asks it about instances it
holds, holds under another SOP class, or lacks; Orthanc always reports on an
association of its own, to its "DicomModalities" entry for us: a temporary
listener of the command, the node of another process (``tui-pacs serve``) or
the node of the same process (the app's). Orthanc as SCU, through its REST
API: it asks the node about the instances it sent there and one it did not.

DCMTK has no storage commitment tool (3.6.7), nor do pynetdicom's apps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, MRImageStorage

from tests.conftest import free_port, run_cli
from tests.dicom_factory import uid, write_study
from tests.peers.orthanc import Orthanc
from tests.server.node_fixtures import OPEN_ACCESS, settings_for, started
from tui_pacs.config import Modality
from tui_pacs.core.events import OperationEvent
from tui_pacs.core.target import Target
from tui_pacs.services.client import RemoteClient

pytestmark = pytest.mark.interop

STUDY = uid(1)
HELD_1, HELD_2, LACKING = uid(1, 1, 1), uid(1, 1, 2), uid(1, 1, 3)


def config_text(tmp_path, port: int, *extra: str) -> str:
    """This node on ``port``, its data in tmp_path."""
    return "\n".join([
        "[node]", 'aet = "TUIPACS"', f"port = {port}", 'bind = "127.0.0.1"',
        f'data = "{tmp_path / "data"}"', "", "[limits]", "acse_timeout = 10",
        "dimse_timeout = 20", "", *extra]) + "\n"


def config_for(tmp_path, port: int) -> str:
    """A config file for the command line (see config_text)."""
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, port), encoding="utf-8")
    return str(path)


@pytest.fixture
def study(tmp_path):
    """Three CT images; Orthanc will hold the first two."""
    return write_study(tmp_path / "study", study=1, series=1, instances=3)


@pytest.fixture
def orthanc_knowing(orthanc_factory, study):
    """An Orthanc holding HELD_1 and HELD_2, whose entry for TUIPACS says ``port``."""
    def start(port: int, **options) -> Orthanc:
        server = orthanc_factory(modalities={"tuipacs": ("TUIPACS", "127.0.0.1", port)},
                                 **options)
        server.upload(*study[:2])
        return server
    return start


def as_mr(path, tmp_path):
    """The same instance (same SOP Instance UID) claiming to be an MR image."""
    ds = dcmread(path)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    out = tmp_path / "as-mr.dcm"
    ds.save_as(out)
    return out


def test_commit_files_says_what_orthanc_committed_and_why_not_the_rest(
        tmp_path, study, orthanc_knowing):
    port = free_port()
    orthanc = orthanc_knowing(port)
    config = config_for(tmp_path, port)
    result = run_cli("--config", config, "commit", orthanc.target, study[0],
                     as_mr(study[1], tmp_path), study[2])
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"commit TUIPACS -> {orthanc.target}: 3 instance(s), "
                               "transaction ")
    assert lines[1:4] == [
        f"  committed   {HELD_1}",
        f"  FAILED      {HELD_2}  0x0119 SOP class does not match the instance",
        f"  FAILED      {LACKING}  0x0112 no such object instance",
    ]
    assert lines[4].startswith(f"1 of 3 committed, 2 failed; reported by ORTHANC on a new "
                               f"association to a temporary listener on port {port} in ")
    assert result.stderr == ""


def test_commit_json_of_an_archived_study_that_orthanc_holds_whole(
        tmp_path, study, orthanc_knowing):
    port = free_port()
    orthanc = orthanc_knowing(port)
    orthanc.upload(study[2])
    config = config_for(tmp_path, port)
    assert run_cli("--config", config, "import", tmp_path / "study").returncode == 0
    result = run_cli("--config", config, "commit", orthanc.target, "--study", STUDY, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["problem"] is None
    assert report["requested"] == 3
    assert report["committed"] == [{"SOPClassUID": CTImageStorage, "SOPInstanceUID": u}
                                   for u in (HELD_1, HELD_2, LACKING)]
    assert report["failed"] == [] and report["unreported"] == []
    assert (report["reporter"], report["same_association"]) == ("ORTHANC", False)


def test_a_report_that_never_comes_is_diagnosed_with_the_entry_orthanc_needs(
        tmp_path, study, orthanc_knowing):
    port = free_port()
    orthanc = orthanc_knowing(free_port())  # Orthanc's entry for us names a wrong port
    result = run_cli("--config", config_for(tmp_path, port), "commit", orthanc.target,
                     study[0], "--wait", "2")
    assert result.returncode == 10, result.stderr
    assert (f"tui-pacs: commit on {orthanc.target}: the remote accepted the storage "
            "commitment request but no report arrived within 2 s") in result.stderr
    assert f'"TUIPACS" : [ "TUIPACS", "127.0.0.1", {port} ]' in result.stderr
    assert result.stdout.splitlines()[1:] == []  # nothing claimed committed


def test_the_node_of_another_process_hands_the_report_to_the_command(
        tmp_path, study, orthanc_knowing, start_node):
    """`tui-pacs serve` holds our port: Orthanc's report reaches it, and the
    command (another process, same data directory) gets it from there."""
    port = free_port()
    orthanc = orthanc_knowing(port)
    node = start_node(config_text(tmp_path, port, "[access]", 'commit = ["*"]'),
                      data=tmp_path / "data", port=port)
    result = run_cli("--config", config_for(tmp_path, port), "commit", orthanc.target,
                     study[0], study[2])
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[1:3] == [
        f"  committed   {HELD_1}", f"  FAILED      {LACKING}  0x0112 no such object instance"]
    assert (f"reported by ORTHANC on a new association to the node already listening on "
            f"port {port}") in result.stdout
    log = node.wait_for_log("N-EVENT-REPORT")
    assert "committed=1 failed=1" in log


async def test_the_node_of_this_process_hands_the_report_to_the_command(
        tmp_path, study, orthanc_knowing):
    """The app: its node and its client in one process, one data directory."""
    settings = settings_for(tmp_path / "data", access=dataclasses.replace(
        OPEN_ACCESS, commit=("*",)))
    orthanc = orthanc_knowing(settings.node.port)
    node = await started(settings)
    try:
        client = RemoteClient(settings, node.archive)
        report = await client.commit_files(
            Target(orthanc.aet, "127.0.0.1", orthanc.dicom_port), study, wait=20)
    finally:
        await node.stop()
    assert report.diagnosis is None
    assert [r.sop_instance_uid for r in report.committed] == [HELD_1, HELD_2]
    assert [(f.reference.sop_instance_uid, f.reason) for f in report.failed] == [
        (LACKING, 0x0112)]
    assert report.receiver == f"the node already listening on port {settings.node.port}"


async def test_orthanc_asks_the_node_about_what_it_sent_there(tmp_path, study, orthanc_factory):
    """Orthanc sends two instances to the node (C-STORE), then asks for their
    commitment, with one it did not send and one under the wrong SOP class."""
    settings = settings_for(tmp_path / "data")
    orthanc = orthanc_factory(modalities={"tuipacs": ("TUIPACS", "127.0.0.1",
                                                      settings.node.port)})
    settings = dataclasses.replace(settings, modalities=(
        Modality("orthanc", "ORTHANC", "127.0.0.1", orthanc.dicom_port),))
    orthanc.upload(*study)
    ids = {i["MainDicomTags"]["SOPInstanceUID"]: i["ID"]
           for i in orthanc.get("/instances?expand")}
    node = await started(settings)
    actions: asyncio.Queue[OperationEvent] = asyncio.Queue()
    node.subscribe(lambda e: actions.put_nowait(e)
                   if isinstance(e, OperationEvent) and e.service == "N-ACTION" else None)
    try:
        sent = await asyncio.to_thread(orthanc.request, "POST", "/modalities/tuipacs/store",
                                       json.dumps([ids[HELD_1], ids[HELD_2]]).encode())
        assert sent["FailedInstancesCount"] == 0
        asked = [{"SOPClassUID": CTImageStorage, "SOPInstanceUID": u}
                 for u in (HELD_1, HELD_2, LACKING)]
        asked.append({"SOPClassUID": MRImageStorage, "SOPInstanceUID": HELD_1})
        answer = await asyncio.to_thread(
            orthanc.request, "POST", "/modalities/tuipacs/storage-commitment",
            json.dumps({"DicomInstances": asked}).encode())
        # The node's event comes once Orthanc has answered (and kept) the report.
        action = await asyncio.wait_for(actions.get(), 30)
        report = await asyncio.to_thread(orthanc.get, answer["Path"])
    finally:
        await node.stop()
    assert action.calling_aet == "ORTHANC"
    assert action.counts == {"committed": 2, "failed": 2}
    assert action.detail.endswith(f"reported to ORTHANC (127.0.0.1:{orthanc.dicom_port}) "
                                  "on a new association")
    assert report["Status"] == "Failure" and report["RemoteAET"] == "TUIPACS"
    assert sorted(s["SOPInstanceUID"] for s in report["Success"]) == [HELD_1, HELD_2]
    assert sorted((f["SOPClassUID"], f["SOPInstanceUID"], f["FailureReason"])
                  for f in report["Failures"]) == sorted([
        (CTImageStorage, LACKING, 0x0112), (MRImageStorage, HELD_1, 0x0119)])


def test_doctor_commit_runs_a_commitment_of_an_instance_orthanc_holds(
        tmp_path, study, orthanc_knowing):
    port = free_port()
    orthanc = orthanc_knowing(port)
    config = config_for(tmp_path, port)
    assert run_cli("--config", config, "import", tmp_path / "study").returncode == 0
    held = run_cli("--config", config, "doctor", orthanc.target, "--commit-instance", HELD_1)
    assert held.returncode == 0, held.stdout + held.stderr
    line = held.stdout.splitlines()[-1]
    assert line.startswith("  OK       storage commitment     1 instance(s) committed, "
                           "reported by ORTHANC on a new association")
    lacking = run_cli("--config", config, "doctor", orthanc.target, "--commit-instance", LACKING)
    assert lacking.returncode == 1
    assert (f"  FAIL     storage commitment     the remote did not commit {LACKING}: "
            "0x0112 no such object instance") in lacking.stdout
    negotiation = run_cli("--config", config, "doctor", orthanc.target, "--commit")
    assert negotiation.returncode == 0
    assert ("  OK       storage commitment     the remote accepts the Storage Commitment "
            "Push Model; name an instance it holds (--commit-instance UID) to run a commitment"
            ) in negotiation.stdout
    unknown = run_cli("--config", config, "doctor", orthanc.target, "--commit-instance", "1.2.3")
    assert unknown.returncode == 2
    assert ("--commit-instance: no instance with SOPInstanceUID '1.2.3' in the archive"
            in unknown.stderr)
