"""C-MOVE and C-GET with DCMTK's movescu, getscu and storescp as the peers."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from tests.server.archive_fixture import instance_uid, seed_archive, series_uid, study_uid
from tests.server.conftest import dcmtk, modalities_config, run
from tests.server.helpers import dataset_bytes, sop_instance_uid, stored_file

pytestmark = pytest.mark.interop


@pytest.fixture
def archive(tmp_path):
    data = tmp_path / "data"
    seed_archive(data, tmp_path / "files")
    return data


def received(directory) -> dict[str, object]:
    return {sop_instance_uid(path): path for path in directory.iterdir() if path.is_file()}


# Study Root, and Patient Root (where a study is asked for under its patient).
MODELS = {"-S": [], "-P": ["-k", "PatientID=P1"]}


@pytest.mark.parametrize("model", MODELS)
def test_getscu_retrieves_a_study_byte_for_byte(start_node, archive, tmp_path, model):
    node = start_node(modalities_config(("GETSCU", 11999)), data=archive)
    out = tmp_path / "got"
    out.mkdir()
    result = run(dcmtk("getscu"), "-v", model, "+B", "-aet", "GETSCU", "-aec", node.aet,
                 "-od", out, "-k", "QueryRetrieveLevel=STUDY", *MODELS[model],
                 "-k", f"StudyInstanceUID={study_uid(1)}", "127.0.0.1", node.port)
    assert result.returncode == 0, result.stderr
    got = received(out)
    assert set(got) == {instance_uid(1, se, n) for se in (1, 2) for n in (1, 2)}
    for uid, path in got.items():
        assert dataset_bytes(path) == dataset_bytes(stored_file(archive, uid))
    log = node.wait_for_log("C-GET")
    assert "C-GET   GETSCU@127.0.0.1 -> TUIPACS  0x0000 success" in log
    assert "completed=4 failed=0 warning=0" in log


@pytest.mark.parametrize("model", MODELS)
def test_movescu_to_a_configured_storescp(start_node, storescp_factory, archive, model):
    destination = storescp_factory(aet="ARCHIVE2", options=("+B",))
    node = start_node(modalities_config(("MOVESCU", 11999), ("ARCHIVE2", destination.port)),
                      data=archive)
    result = run(dcmtk("movescu"), "-v", model, "-aet", "MOVESCU", "-aec", node.aet,
                 "-aem", "ARCHIVE2", "-k", "QueryRetrieveLevel=SERIES", *MODELS[model],
                 "-k", f"StudyInstanceUID={study_uid(2)}",
                 "-k", f"SeriesInstanceUID={series_uid(2, 1)}", "127.0.0.1", node.port)
    assert result.returncode == 0, result.stderr
    assert "Received Final Move Response (Success)" in result.stderr
    got = received(destination.received_dir)
    assert set(got) == {instance_uid(2, 1, n) for n in (1, 2, 3)}
    for uid, path in got.items():
        assert dataset_bytes(path) == dataset_bytes(stored_file(archive, uid))
    log = node.wait_for_log("C-MOVE")
    assert f"to ARCHIVE2 (127.0.0.1:{destination.port})" in log


def test_move_to_an_unknown_destination_says_which_aet(start_node, archive):
    node = start_node(modalities_config(("MOVESCU", 11999)), data=archive)
    result = run(dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", node.aet,
                 "-aem", "NOWHERE", "-k", "QueryRetrieveLevel=STUDY",
                 "-k", f"StudyInstanceUID={study_uid(1)}", "127.0.0.1", node.port)
    assert "Received Final Move Response (Refused: MoveDestinationUnknown)" in result.stderr
    log = node.wait_for_log("0xA801")
    assert "asks to send to 'NOWHERE', which is not a configured modality" in log
    assert "add it under [[modalities]]" in log


def test_move_to_a_destination_that_does_not_answer(start_node, archive):
    silent = free_port()
    node = start_node(modalities_config(("MOVESCU", 11999), ("SILENT", silent)), data=archive)
    result = run(dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", node.aet,
                 "-aem", "SILENT", "-k", "QueryRetrieveLevel=STUDY",
                 "-k", f"StudyInstanceUID={study_uid(3)}", "127.0.0.1", node.port)
    assert "Received Final Move Response (Refused: OutOfResourcesSubOperations)" in result.stderr
    log = node.wait_for_log("0xA702")
    assert f"cannot send to SILENT (127.0.0.1:{silent})" in log


def test_retrieve_needs_the_unique_key_of_its_level(start_node, archive):
    node = start_node(modalities_config(("MOVESCU", 11999), ("MOVESCU2", 11998)), data=archive)
    result = run(dcmtk("movescu"), "-v", "-S", "-aet", "MOVESCU", "-aec", node.aet,
                 "-aem", "MOVESCU2", "-k", "QueryRetrieveLevel=STUDY",
                 "-k", "PatientID=P1", "127.0.0.1", node.port)
    assert "Received Final Move Response" in result.stderr
    assert "StudyInstanceUID is needed to retrieve at STUDY level" in \
        node.wait_for_log("0xA900")


def test_an_aet_that_may_not_retrieve_is_refused(start_node, archive, tmp_path):
    node = start_node(modalities_config(("GETSCU", 11999)), data=archive)
    result = run(dcmtk("getscu"), "-v", "-S", "-aet", "STRANGER", "-aec", node.aet,
                 "-od", tmp_path, "-k", "QueryRetrieveLevel=STUDY",
                 "-k", f"StudyInstanceUID={study_uid(1)}", "127.0.0.1", node.port)
    assert "Received C-GET Response (Unknown Status: 0x124)" in result.stderr
    assert "STRANGER may not C-GET" in node.wait_for_log("0x0124")
