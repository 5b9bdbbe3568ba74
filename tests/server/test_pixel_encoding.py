"""Instances whose pixel encoding contradicts their transfer syntax: refused
over C-STORE (sent by pynetdicom, which encodes what it is given without
looking), and reported by ``tui-pacs check`` when already archived."""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless
from pynetdicom import AE

from tests.conftest import pydicom_file, run_cli
from tests.dicom_factory import file_meta_for, make_dataset
from tests.server.helpers import indexed, stored_file

pytestmark = pytest.mark.interop

JPEG_FILE = "SC_rgb_jpeg_dcmtk.dcm"  # JPEG baseline, encapsulated
JPEG_BASELINE = b"1.2.840.10008.1.2.4.50"


def store(node, ds, syntax: str):
    """C-STORE ``ds`` in a ``syntax`` context as pynetdicom sends it: the response."""
    ae = AE(ae_title="STORESCU")
    ae.add_requested_context(ds.SOPClassUID, [syntax])
    assoc = ae.associate("127.0.0.1", node.port, ae_title=node.aet)
    assert assoc.is_established
    try:
        return assoc.send_c_store(ds)
    finally:
        assoc.release()


def test_native_pixels_on_a_jpeg_2000_context_are_refused(start_node):
    node = start_node()
    ds = make_dataset()
    ds.file_meta = file_meta_for(ds, JPEG2000Lossless)
    answer = store(node, ds, JPEG2000Lossless)
    assert answer.Status == 0xC000
    assert answer.ErrorComment == "pixel data not encapsulated, as JPEG2000Lossless requires"
    assert ds.SOPClassUID == CTImageStorage
    node.wait_for_log("0xC000")
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(0,)]


def test_encapsulated_pixels_on_explicit_vr_little_endian_are_refused(start_node):
    node = start_node()
    ds = dcmread(pydicom_file(JPEG_FILE))
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    answer = store(node, ds, ExplicitVRLittleEndian)
    assert answer.Status == 0xC000
    assert answer.ErrorComment == ("pixel data encapsulated, but ExplicitVRLittleEndian "
                                   "is not")
    node.wait_for_log("0xC000")
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(0,)]


def test_a_consistent_instance_is_still_stored(start_node):
    node = start_node()
    ds = dcmread(pydicom_file(JPEG_FILE))
    assert store(node, ds, ds.file_meta.TransferSyntaxUID).Status == 0x0000


def test_check_reports_such_a_file_already_archived(tmp_path):
    data = tmp_path / "data"
    assert run_cli("import", pydicom_file(JPEG_FILE), "--data", data).returncode == 0
    uid = str(dcmread(pydicom_file(JPEG_FILE), stop_before_pixels=True).SOPInstanceUID)
    path = stored_file(data, uid)
    # As a C-STORE on an Explicit VR Little Endian context left it before the
    # check existed: same identifiers, same size.
    raw = path.read_bytes()
    assert raw.count(JPEG_BASELINE) == 1
    path.write_bytes(raw.replace(JPEG_BASELINE, ExplicitVRLittleEndian.encode().ljust(22, b"\0")))
    result = run_cli("check", "--data", data)
    assert result.returncode != 0
    assert "pixel data encapsulated, but ExplicitVRLittleEndian is not" in result.stdout
