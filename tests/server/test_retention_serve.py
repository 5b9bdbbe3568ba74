"""Retention in a running `tui-pacs serve`, fed by DCMTK's storescu: the first
arrivals go, protected studies and studies still being received stay, each
deletion is logged, and the index and the files agree afterwards."""

from __future__ import annotations

import json

import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE

from tests.conftest import run_cli
from tests.dicom_factory import file_meta_for, make_dataset, uid, write_study
from tests.server.conftest import dcmtk, run

pytestmark = pytest.mark.interop


def send_study(node, folder, number: int) -> None:
    """One study, two instances, over one storescu association (released at the end)."""
    files = write_study(folder / f"study{number}", study=number, instances=2)
    result = run(dcmtk("storescu"), "-aec", node.aet, "127.0.0.1", node.port, *files)
    assert result.returncode == 0, result.stderr


def archived_studies(data) -> set[str]:
    listed = run_cli("ls", "--json", "--data", data)
    assert listed.returncode == 0, listed.stderr
    return {row["StudyInstanceUID"] for row in json.loads(listed.stdout)}


def assert_index_and_files_agree(data) -> None:
    checked = run_cli("check", "--data", data)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "the index and the files agree" in checked.stdout


def test_max_studies_deletes_the_first_arrivals_but_never_a_protected_study(start_node,
                                                                            tmp_path):
    node = start_node("[retention]\nmax_studies = 3\n")
    for number in range(1, 6):
        send_study(node, tmp_path, number)
    log = node.wait_for_log(f"retention: deleted study {uid(2)}", timeout=60)
    assert f"retention: deleted study {uid(1)} of DOE^JANE (PAT1)" in log
    assert log.count("retention: deleted study") == 2
    assert "2 instances; more than max_studies (3)" in log
    assert archived_studies(node.data) == {uid(3), uid(4), uid(5)}

    protected = run_cli("protect", "--study", uid(3), "--data", node.data)
    assert protected.returncode == 0, protected.stderr
    assert protected.stdout.strip() == f"study {uid(3)} protected"
    send_study(node, tmp_path, 6)
    node.wait_for_log(f"retention: deleted study {uid(4)}", timeout=60)
    assert archived_studies(node.data) == {uid(3), uid(5), uid(6)}
    assert node.stop() == 0
    assert_index_and_files_agree(node.data)


def test_a_tiny_size_cap_spares_protected_studies_and_those_being_received(start_node,
                                                                         tmp_path):
    data = tmp_path / "data"
    imported = run_cli("import", *write_study(tmp_path / "kept", study=1), "--data", data)
    assert imported.returncode == 0, imported.stderr
    assert run_cli("protect", "--study", uid(1), "--data", data).returncode == 0
    node = start_node("[retention]\nmax_size_gb = 0.000001\n", data=data)

    # A modality in the middle of study 2: one instance stored, the association still open.
    modality = AE("MODALITY")
    modality.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = modality.associate("127.0.0.1", node.port, ae_title=node.aet)
    assert assoc.is_established
    try:
        ds = make_dataset(study=2)
        ds.file_meta = file_meta_for(ds)
        assert assoc.send_c_store(ds).Status == 0x0000
        send_study(node, tmp_path, 3)
        log = node.wait_for_log(f"retention: deleted study {uid(3)}", timeout=60)
        assert "more than max_size_gb (1e-06)" in log
        assert "the others are held (protected, queued for forwarding, being received)" in log
        assert archived_studies(data) == {uid(1), uid(2)}
    finally:
        assoc.release()
    # Once its association has ended, study 2 is no longer held.
    node.wait_for_log(f"retention: deleted study {uid(2)}", timeout=60)
    assert archived_studies(data) == {uid(1)}
    assert node.stop() == 0
    assert_index_and_files_agree(data)
