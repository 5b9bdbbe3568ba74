"""C-STORE from files and from the archive, to Orthanc, DCMTK's storescp and
pynetdicom's storescp app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AllStoragePresentationContexts, evt

from tests.conftest import pydicom_file, run_cli
from tests.dicom_factory import make_dataset, uid, write_instance, write_study
from tests.peers.ports import free_port
from tui_pacs.core.model import Level
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.net.client.send import Outgoing, contexts_for, inspect_file, split_by_contexts
from tui_pacs.net.wire.ae import add_storage_scp_contexts, make_ae
from tui_pacs.store.integrity import scan_file_meta

JPEG_FILE = "SC_rgb_jpeg_dcmtk.dcm"


def target_of(server) -> Target:
    host, port = "127.0.0.1", getattr(server, "dicom_port", None) or server.port
    return Target(server.aet, host, port)


# --- planning (no network) ---------------------------------------------------------


def test_contexts_follow_the_sop_classes_and_encodings_sent():
    items = [Outgoing(Path("a"), "1.2.840.10008.5.1.4.1.1.2", "1", ExplicitVRLittleEndian),
             Outgoing(Path("b"), "1.2.840.10008.5.1.4.1.1.2", "2", JPEGBaseline8Bit),
             Outgoing(Path("c"), "1.2.840.10008.5.1.4.1.1.7", "3", ImplicitVRLittleEndian)]
    proposed = [(cx.abstract_syntax, tuple(cx.transfer_syntax)) for cx in contexts_for(items)]
    # Each encoding as it is stored, then the uncompressed ones not yet proposed.
    assert proposed == [
        ("1.2.840.10008.5.1.4.1.1.2", (ExplicitVRLittleEndian,)),
        ("1.2.840.10008.5.1.4.1.1.2", (JPEGBaseline8Bit,)),
        ("1.2.840.10008.5.1.4.1.1.2", (ImplicitVRLittleEndian,)),
        ("1.2.840.10008.5.1.4.1.1.7", (ImplicitVRLittleEndian,)),
        ("1.2.840.10008.5.1.4.1.1.7", (ExplicitVRLittleEndian,)),
    ]


def test_more_than_128_contexts_are_split_keeping_the_order():
    classes = [cx.abstract_syntax for cx in AllStoragePresentationContexts][:150]
    items = [Outgoing(Path(str(n)), sop_class, str(n), ExplicitVRLittleEndian)
             for n, sop_class in enumerate(classes)]
    groups = split_by_contexts(items)
    assert [len(g) for g in groups] == [64, 64, 22]  # two contexts per SOP class
    assert [item.sop_instance for group in groups for item in group] == [str(n)
                                                                          for n in range(150)]


def test_inspect_reads_the_file_meta_or_the_dataset(tmp_path):
    part10 = write_instance(tmp_path / "a.dcm", make_dataset())
    item = inspect_file(part10)
    assert (item.sop_instance, item.transfer_syntax, item.streamable) == (
        uid(1, 1, 1), ExplicitVRLittleEndian, True)
    bare = tmp_path / "bare.dcm"
    make_dataset(instance=2).save_as(bare, implicit_vr=True, little_endian=True)
    item = inspect_file(bare)
    assert (item.sop_instance, item.transfer_syntax, item.streamable) == (
        uid(1, 1, 2), ImplicitVRLittleEndian, False)


# --- sending -----------------------------------------------------------------------


@pytest.mark.interop
async def test_send_files_and_directories_to_orthanc(client, orthanc, tmp_path):
    write_study(tmp_path / "study", instances=4)
    (tmp_path / "study" / "notes.txt").write_text("not DICOM")
    progress = []
    report = await client.send_files(target_of(orthanc), [tmp_path / "study"],
                                     on_progress=progress.append)
    assert (report.total, report.sent, report.associations) == (5, 4, 1)
    [failure] = report.failures
    assert failure.source.endswith("notes.txt") and "not" in failure.reason
    assert orthanc.sop_instance_uids() == {uid(1, 1, n) for n in range(1, 5)}
    assert [p.done for p in progress] == [1, 2, 3, 4, 5]
    assert all(p.total == 5 for p in progress)


@pytest.mark.interop
async def test_send_a_study_from_the_archive(client, archive, orthanc, tmp_path):
    for path in write_study(tmp_path / "a", study=1, instances=3) + write_study(
            tmp_path / "b", study=2, instances=2):
        await archive.store_file(path)
    report = await client.send_archived(target_of(orthanc), Level.STUDY,
                                        {"StudyInstanceUID": uid(2)})
    assert report.ok and report.sent == 2
    assert orthanc.sop_instance_uids() == {uid(2, 1, 1), uid(2, 1, 2)}


@pytest.mark.interop
async def test_files_go_out_byte_for_byte(client, storescp_factory, tmp_path):
    """No decoding: storescp in bit-preserving mode stores exactly what we sent."""
    scp = storescp_factory(options=("--bit-preserving",))
    source = write_instance(tmp_path / "one.dcm", make_dataset(rows=128, columns=128))
    report = await client.send_files(target_of(scp), [source])
    assert report.ok
    [received] = scp.received()
    assert _dataset_bytes(received) == _dataset_bytes(source)


@pytest.mark.interop
async def test_compressed_data_is_decompressed_for_an_uncompressed_only_remote(
        client, storescp):
    source = pydicom_file(JPEG_FILE)
    assert dcmread(source).file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    report = await client.send_files(target_of(storescp), [source])
    assert report.ok and report.decompressed == 1
    [(sop_uid, syntax)] = storescp.received_instances().items()
    assert sop_uid == dcmread(source).SOPInstanceUID
    assert syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


@pytest.mark.interop
async def test_explicit_vr_data_goes_implicit_to_an_implicit_only_remote(
        client, pynetdicom_storescp_factory, tmp_path):
    scp = pynetdicom_storescp_factory(options=("-xi",))
    source = write_instance(tmp_path / "one.dcm", make_dataset())
    report = await client.send_files(target_of(scp), [source])
    assert (report.sent, report.failures) == (1, ())
    [(sop_uid, syntax)] = scp.received_instances().items()
    assert (sop_uid, syntax) == (uid(1, 1, 1), ImplicitVRLittleEndian)
    assert dcmread(scp.received()[0]).PixelData == dcmread(source).PixelData


@pytest.mark.interop
@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm",  # 16-bit pixels
                                  "SC_rgb_small_odd_big_endian.dcm"])  # 8-bit pixels in OW
async def test_big_endian_data_goes_little_endian_to_a_remote_without_it(
        client, pynetdicom_storescp_factory, name):
    scp = pynetdicom_storescp_factory(options=("-xi",))
    source = pydicom_file(name)
    original = dcmread(source)
    report = await client.send_files(target_of(scp), [source])
    assert (report.sent, report.failures) == (1, ())
    assert scp.received_instances() == {original.SOPInstanceUID: ImplicitVRLittleEndian}
    got = dcmread(scp.received()[0])
    assert np.array_equal(got.pixel_array, original.pixel_array)
    assert (got.Rows, got.Columns, got.BitsAllocated) == (
        original.Rows, original.Columns, original.BitsAllocated)


@pytest.mark.interop
async def test_compressed_data_goes_as_it_is_when_accepted(client, storescp_factory):
    scp = storescp_factory(options=("+xa",))
    report = await client.send_files(target_of(scp), [pydicom_file(JPEG_FILE)])
    assert report.ok and report.decompressed == 0
    assert list(scp.received_instances().values()) == [JPEGBaseline8Bit]


async def test_more_than_128_contexts_use_several_associations(client, tmp_path):
    classes = [cx.abstract_syntax for cx in AllStoragePresentationContexts][:130]
    paths = []
    for number, sop_class in enumerate(classes, start=1):
        ds = make_dataset(instance=number, rows=2, columns=2)
        ds.SOPClassUID = sop_class
        paths.append(write_instance(tmp_path / f"{number}.dcm", ds))
    received = []
    ae = make_ae("ANYSTORE")
    add_storage_scp_contexts(ae)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[
        (evt.EVT_C_STORE, lambda event: received.append(event.request.AffectedSOPClassUID) or 0)])
    try:
        report = await client.send_files(Target("ANYSTORE", "127.0.0.1", port), paths)
    finally:
        server.shutdown()
    assert report.ok, report.failures
    assert report.associations == 3  # two contexts per SOP class: 64 classes at a time
    assert sorted(received) == sorted(classes)


async def test_a_remote_that_cannot_be_reached_raises(client, tmp_path):
    path = write_instance(tmp_path / "one.dcm", make_dataset())
    with pytest.raises(RemoteFailure) as caught:
        await client.send_files(Target("NOBODY", "127.0.0.1", free_port()), [path])
    assert caught.value.diagnosis.failure is Failure.CONNECTION_REFUSED


@pytest.mark.interop
def test_send_on_the_command_line(storescp, write_config, tmp_path):
    config = write_config()
    study = tmp_path / "study"
    write_study(study, instances=3)
    (study / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 10)
    result = run_cli("send", storescp.target, study, "--config", config)
    assert result.returncode == 1
    assert "sent 3 of 4 instance(s) to STORESCP" in result.stdout
    assert "failed: " in result.stderr and "broken.dcm" in result.stderr
    assert len(storescp.received()) == 3
    nothing = run_cli("send", storescp.target, "--study", "1.2.3", "--config", config)
    assert nothing.returncode == 1 and "no archive" in nothing.stderr
    usage = run_cli("send", storescp.target, "--config", config)
    assert usage.returncode == 2 and "say what to send" in usage.stderr


def _dataset_bytes(path: Path) -> bytes:
    """The bytes after the file meta group."""
    data = path.read_bytes()
    return data[scan_file_meta(data, 132)[1]:]


@pytest.mark.interop
def test_send_to_pynetdicom_storescp(pynetdicom_storescp_factory, write_config, tmp_path):
    peer = pynetdicom_storescp_factory()
    paths = write_study(tmp_path / "study", instances=2)
    result = run_cli("send", peer.target, tmp_path / "study", "--config", write_config())
    assert result.returncode == 0, result.stderr
    assert "sent 2 of 2 instance(s) to STORESCP" in result.stdout
    sent = {str(dcmread(path).SOPInstanceUID) for path in paths}
    assert set(peer.received_instances()) == sent
