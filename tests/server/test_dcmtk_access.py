"""The access policy as DCMTK peers see it: rejected associations and refused services."""

from __future__ import annotations

import pytest

from tests.dicom_factory import make_dataset, write_instance
from tests.server.conftest import dcmtk, modalities_config, run
from tests.server.helpers import indexed

pytestmark = pytest.mark.interop

LOCKED_DOWN = modalities_config(("CT1", 11999), echo=["@modalities"], store=["@modalities"])


def test_a_calling_aet_allowed_nothing_is_rejected_at_association(start_node):
    node = start_node(LOCKED_DOWN)
    result = run(dcmtk("echoscu"), "-v", "-aet", "STRANGER", "-aec", node.aet,
                 "127.0.0.1", node.port)
    assert result.returncode != 0
    assert "Association Rejected" in result.stderr
    assert "Calling AE Title Not Recognized" in result.stderr
    log = node.wait_for_log("association rejected")
    assert "STRANGER@127.0.0.1 -> TUIPACS" in log
    assert "'STRANGER' may use no service here" in log
    # The configured modality still gets in.
    assert run(dcmtk("echoscu"), "-aet", "CT1", "-aec", node.aet, "127.0.0.1",
               node.port).returncode == 0


def test_store_refused_per_service_for_an_aet_allowed_something_else(start_node, tmp_path):
    node = start_node(modalities_config(echo=["*"], store=["CT1"]))
    path = write_instance(tmp_path / "i.dcm", make_dataset())
    result = run(dcmtk("storescu"), "-v", "-aet", "STRANGER", "-aec", node.aet,
                 "127.0.0.1", node.port, path)
    assert result.returncode != 0
    assert "Received Store Response (Unknown Status: 0x124)" in result.stderr
    assert "STRANGER may not store" in node.wait_for_log("0x0124 failure")
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(0,)]
    ok = run(dcmtk("storescu"), "-aet", "CT1", "-aec", node.aet, "127.0.0.1", node.port, path)
    assert ok.returncode == 0, ok.stderr


def test_called_aet_is_checked_when_configured(start_node):
    node = start_node("[access]\ncheck_called_aet = true\n")
    result = run(dcmtk("echoscu"), "-v", "-aec", "SOMEONE", "127.0.0.1", node.port)
    assert "Called AE Title Not Recognized" in result.stderr
    assert "called 'SOMEONE', this node is 'TUIPACS'" in node.wait_for_log("rejected")
    assert run(dcmtk("echoscu"), "-aec", node.aet, "127.0.0.1", node.port).returncode == 0


def test_called_aet_is_not_checked_by_default(start_node):
    node = start_node()
    assert run(dcmtk("echoscu"), "-aec", "ANYNAME", "127.0.0.1", node.port).returncode == 0


def test_associations_beyond_the_limit_are_rejected(start_node, tmp_path):
    import subprocess

    node = start_node("[limits]\nmax_associations = 1\n")
    # A storescu that keeps its association busy sending the same files again.
    paths = [write_instance(tmp_path / f"{n}.dcm", make_dataset(instance=n)) for n in (1, 2)]
    holder = subprocess.Popen(
        [dcmtk("storescu"), "--repeat", "500", "-aec", node.aet,
         "127.0.0.1", str(node.port), *map(str, paths)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        node.wait_for_log("association accepted")
        result = run(dcmtk("echoscu"), "-v", "-aec", node.aet, "127.0.0.1", node.port)
        assert "Association Rejected" in result.stderr
        assert "Local Limit Exceeded" in result.stderr
        node.wait_for_log("already 1 associations (limits.max_associations)")
    finally:
        holder.terminate()
        holder.wait(30)
