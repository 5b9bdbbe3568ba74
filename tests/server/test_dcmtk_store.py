"""C-STORE from DCMTK's storescu: every transfer syntax kept exactly as sent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.conftest import pydicom_file
from tests.dicom_factory import make_dataset, write_instance
from tests.server.conftest import copy_tree, dcmtk, run
from tests.server.helpers import dataset_bytes, indexed, sop_instance_uid, stored_file

pytestmark = pytest.mark.interop

# storescu proposes only uncompressed transfer syntaxes unless told: one
# option per group of files (pydicom's bundled files, distinct SOP instances).
GROUPS = {
    "-x=": ["CT_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "test-SR.dcm",
            "waveform_ecg.dcm"],
    "-xb": ["SC_rgb_small_odd_big_endian.dcm"],
    "-xr": ["SC_rgb_rle.dcm"],
    "-xv": ["examples_jpeg2k.dcm"],
    "-xw": ["693_J2KI.dcm"],
    "-xy": ["SC_rgb_jpeg_dcmtk.dcm"],
    "-xx": ["JPGExtended.dcm"],
    "-xd": ["image_dfl.dcm"],
    "-xs": ["SC_rgb_jpeg_gdcm.dcm"],
    "-xt": ["MR_small_jpeg_ls_lossless.dcm"],
    "-xu": ["JPEGLSNearLossless_08.dcm"],
}
# Bundled files that share their SOP Instance UID with another one above, or
# have no study to be filed under: sent as copies with identifiers of their own.
GIVEN_NEW_UIDS = {"SC_rgb_jpeg_gdcm.dcm", "MR_small_jpeg_ls_lossless.dcm",
                  "JPEGLSNearLossless_08.dcm"}


def copies(names: list[str], directory: Path) -> list[Path]:
    """The bundled files, in ``directory``; those named in GIVEN_NEW_UIDS with new
    identifiers (the pixel data stays as encoded)."""
    paths = copy_tree([pydicom_file(name) for name in names], directory)
    for path in paths:
        if path.name in GIVEN_NEW_UIDS:
            ds = dcmread(path)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
            ds.save_as(path, enforce_file_format=True)
    return paths


def received_by_uid(directory: Path) -> dict[str, Path]:
    return {sop_instance_uid(path): path for path in directory.iterdir()}


def test_every_transfer_syntax_is_stored_byte_for_byte(start_node, storescp_factory, tmp_path):
    """What the archive holds is what went over the wire: DCMTK's storescp in
    bit-preserving mode (+B) receives the same sends as the reference."""
    node = start_node()
    # +B: storescp writes what it receives bit for bit; +xa: in any syntax.
    reference = storescp_factory(options=("+B", "+xa"))
    for option, names in GROUPS.items():
        files = copies(names, tmp_path / option.strip("-="))
        for port, aet in ((node.port, node.aet), (reference.port, reference.aet)):
            result = run(dcmtk("storescu"), option, "-aec", aet, "127.0.0.1", port, *files)
            assert result.returncode == 0, f"{option}: {result.stderr}"

    sent = received_by_uid(reference.received_dir)
    assert len(sent) == sum(len(names) for names in GROUPS.values())
    for uid, reference_file in sent.items():
        ours = stored_file(node.data, uid)
        assert dataset_bytes(ours) == dataset_bytes(reference_file), uid
    syntaxes = {row[0] for row in indexed(node.data, "SELECT transfer_syntax FROM instances")}
    assert {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"} <= syntaxes
    assert "Traceback" not in node.log()


def test_a_dataset_that_cannot_be_archived_gets_a_failure_and_the_node_goes_on(
        start_node, tmp_path):
    node = start_node()
    # pydicom's JPEG-LS sample has no StudyInstanceUID: nothing to file it under.
    result = run(dcmtk("storescu"), "-v", "-xu", "-aec", node.aet, "127.0.0.1", node.port,
                 pydicom_file("JPEGLSNearLossless_16.dcm"))
    assert result.returncode != 0
    assert "Received Store Response (Error: CannotUnderstand)" in result.stderr
    log = node.wait_for_log("0xC000 failure")
    assert "StudyInstanceUID is missing" in log
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(0,)]
    echo = run(dcmtk("echoscu"), "-aec", node.aet, "127.0.0.1", node.port)
    assert echo.returncode == 0


def test_a_duplicate_gets_success_and_the_stored_copy_is_kept(start_node, tmp_path):
    node = start_node()
    path = write_instance(tmp_path / "one.dcm", make_dataset(patient_name="FIRST^COPY"))
    assert run(dcmtk("storescu"), "-aec", node.aet, "127.0.0.1", node.port, path).returncode == 0
    second = write_instance(tmp_path / "two.dcm", make_dataset(patient_name="SECOND^COPY"))
    result = run(dcmtk("storescu"), "-aec", node.aet, "127.0.0.1", node.port, second)
    assert result.returncode == 0, result.stderr
    log = node.wait_for_log("already archived, the stored copy was kept")
    assert log.count("0x0000 success") == 2
    stored = stored_file(node.data, sop_instance_uid(path))
    assert dataset_bytes(stored) == dataset_bytes(path)


def test_sixteen_storescu_at_once_lose_nothing(start_node, tmp_path):
    node = start_node()
    batches = []
    for sender in range(16):
        folder = tmp_path / f"sender{sender}"
        batches.append([
            write_instance(folder / f"{number}.dcm",
                           make_dataset(patient_id=f"P{sender}", study=sender + 1,
                                        instance=number, seed=sender))
            for number in range(1, 11)
        ])
    processes = [
        subprocess.Popen([dcmtk("storescu"), "-aet", f"SENDER{n}", "-aec", node.aet,
                          "127.0.0.1", str(node.port), *map(str, files)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for n, files in enumerate(batches)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(160,)]
    for files in batches:
        for path in files:
            assert dataset_bytes(stored_file(node.data, sop_instance_uid(path))) == \
                dataset_bytes(path)
    assert indexed(node.data, "SELECT count(*), sum(num_instances) FROM studies") == [(16, 160)]
