"""C-MOVE and C-GET to receivers that take few transfer syntaxes, and what the
responses say when sub-operations fail.

The peers are pynetdicom's storescp app with ``-xi`` and DCMTK's storescp
with ``+xi`` (Implicit VR Little Endian only) as move destinations, and
pynetdicom as the C-MOVE and C-GET requester (DCMTK's getscu cannot be
limited to implicit VR: it proposes explicit VR whatever its ``+xi``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from tests.conftest import pydicom_file, run_cli
from tests.dicom_factory import file_meta_for, make_dataset
from tests.peers.ports import free_port
from tests.server.archive_fixture import instance_uid, seed_archive, study_uid
from tests.server.conftest import modalities_config
from tests.server.helpers import sop_instance_uid, stored_file

pytestmark = pytest.mark.interop

# A study of ours whose encoding no decoder here reads (MPEG-2): it cannot be
# converted for a receiver that does not take it as stored.
MPEG2 = "1.2.840.10008.1.2.4.100"


@pytest.fixture
def archive(tmp_path):
    data = tmp_path / "data"
    seed_archive(data, tmp_path / "files")
    return data


def study_identifier(study: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study
    return identifier


def move(node, destination: str, study: str) -> list[tuple[Dataset, Dataset | None]]:
    """C-MOVE a study as pynetdicom's SCU does; every response, with its identifier."""
    ae = AE(ae_title="MOVESCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", node.port, ae_title=node.aet)
    assert assoc.is_established
    try:
        return list(assoc.send_c_move(study_identifier(study), destination,
                                      StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()


def get(node, study: str, sop_class: str, syntaxes: list[str]
        ) -> tuple[Dataset, dict[str, tuple[str, Dataset]]]:
    """C-GET a study as pynetdicom's SCU does, taking ``sop_class`` in ``syntaxes``
    only: the final response, and (transfer syntax, dataset) by SOP Instance UID."""
    arrived: dict[str, tuple[str, Dataset]] = {}

    def keep(event):
        arrived[str(event.request.AffectedSOPInstanceUID)] = (
            str(event.context.transfer_syntax), event.dataset)
        return 0x0000

    ae = AE(ae_title="GETSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(sop_class, syntaxes)
    assoc = ae.associate("127.0.0.1", node.port, ae_title=node.aet,
                         ext_neg=[build_role(sop_class, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, keep)])
    assert assoc.is_established
    try:
        final, _ = list(assoc.send_c_get(study_identifier(study),
                                         StudyRootQueryRetrieveInformationModelGet))[-1]
    finally:
        assoc.release()
    return final, arrived


def received(directory: Path) -> dict[str, Dataset]:
    return {sop_instance_uid(path): dcmread(path) for path in directory.iterdir()}


def test_move_of_explicit_vr_data_to_an_implicit_only_receiver(start_node, archive,
                                                               pynetdicom_storescp_factory):
    receiver = pynetdicom_storescp_factory(options=("-xi",))
    node = start_node(modalities_config(("MOVESCU", 11999), (receiver.aet, receiver.port)),
                      data=archive)
    responses = move(node, receiver.aet, study_uid(2))
    final, identifier = responses[-1]
    assert final.Status == 0x0000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (3, 0)
    got = received(receiver.received_dir)
    assert set(got) == {instance_uid(2, 1, n) for n in (1, 2, 3)}
    for uid, ds in got.items():
        assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        original = dcmread(stored_file(archive, uid))
        assert ds.PixelData == original.PixelData
        assert ds.PatientName == original.PatientName
    node.wait_for_log("completed=3 failed=0 warning=0 remaining=0 converted=3")


def test_a_partial_move_lists_what_failed(start_node, archive, tmp_path,
                                         pynetdicom_storescp_factory):
    unreadable = make_dataset(study=2, series=9, instance=1)
    unreadable.PixelData = encapsulate([b"\x00\x00\x01\xb3 not really MPEG-2"])
    unreadable["PixelData"].VR = "OB"
    unreadable.file_meta = file_meta_for(unreadable, MPEG2)
    (tmp_path / "mpeg2").mkdir()
    unreadable.save_as(tmp_path / "mpeg2" / "a.dcm", enforce_file_format=True)
    assert run_cli("import", tmp_path / "mpeg2", "--data", archive).returncode == 0
    receiver = pynetdicom_storescp_factory(options=("-xi",))
    node = start_node(modalities_config(("MOVESCU", 11999), (receiver.aet, receiver.port)),
                      data=archive)
    final, identifier = move(node, receiver.aet, study_uid(2))[-1]
    assert final.Status == 0xB000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations,
            final.NumberOfWarningSuboperations) == (3, 1, 0)
    assert identifier.FailedSOPInstanceUIDList == unreadable.SOPInstanceUID
    assert set(received(receiver.received_dir)) == {instance_uid(2, 1, n) for n in (1, 2, 3)}


def test_a_move_to_an_unreachable_destination_counts_every_instance_failed(start_node,
                                                                          archive):
    node = start_node(modalities_config(("MOVESCU", 11999), ("SILENT", free_port())),
                      data=archive)
    final, identifier = move(node, "SILENT", study_uid(2))[-1]
    assert final.Status == 0xA702
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations,
            final.NumberOfWarningSuboperations) == (0, 3, 0)
    assert sorted(identifier.FailedSOPInstanceUIDList) == [instance_uid(2, 1, n)
                                                           for n in (1, 2, 3)]


def test_a_move_to_an_unknown_destination_counts_every_instance_failed(start_node, archive):
    node = start_node(modalities_config(("MOVESCU", 11999)), data=archive)
    final, identifier = move(node, "NOWHERE", study_uid(3))[-1]
    assert final.Status == 0xA801
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (0, 1)
    assert identifier.FailedSOPInstanceUIDList == instance_uid(3, 1, 1)


@pytest.fixture
def big_endian(tmp_path) -> tuple[Path, Dataset]:
    """An archive holding a 16-bit big endian MR image (and nothing else)."""
    source = pydicom_file("MR_small_bigendian.dcm")
    data = tmp_path / "be-data"
    assert run_cli("import", source, "--data", data).returncode == 0
    return data, dcmread(source)


def test_move_of_big_endian_data_to_a_receiver_without_big_endian(start_node, big_endian,
                                                                  storescp_factory):
    data, original = big_endian
    receiver = storescp_factory(aet="IMPLICIT", options=("+xi", "+B"))
    node = start_node(modalities_config(("MOVESCU", 11999), (receiver.aet, receiver.port)),
                      data=data)
    final, _ = move(node, receiver.aet, original.StudyInstanceUID)[-1]
    assert final.Status == 0x0000 and final.NumberOfCompletedSuboperations == 1
    assert receiver.received_instances() == {original.SOPInstanceUID: ImplicitVRLittleEndian}
    got = dcmread(receiver.received()[0])
    assert np.array_equal(got.pixel_array, original.pixel_array)
    assert got.Rows == original.Rows and got.SliceThickness == original.SliceThickness


def test_get_of_big_endian_data_by_a_requester_without_big_endian(start_node, big_endian):
    data, original = big_endian
    node = start_node(modalities_config(("GETSCU", 11999)), data=data)
    final, arrived = get(node, original.StudyInstanceUID, original.SOPClassUID,
                         [ExplicitVRLittleEndian])
    assert final.Status == 0x0000 and final.NumberOfCompletedSuboperations == 1
    [(syntax, got)] = arrived.values()
    assert syntax == ExplicitVRLittleEndian
    got.file_meta = file_meta_for(got, syntax)
    assert np.array_equal(got.pixel_array, original.pixel_array)


def test_get_by_a_requester_taking_only_implicit_vr(start_node, archive):
    node = start_node(modalities_config(("GETSCU", 11999)), data=archive)
    final, arrived = get(node, study_uid(1), CTImageStorage, [ImplicitVRLittleEndian])
    assert final.Status == 0x0000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (4, 0)
    assert set(arrived) == {instance_uid(1, se, n) for se in (1, 2) for n in (1, 2)}
    for uid, (syntax, ds) in arrived.items():
        assert syntax == ImplicitVRLittleEndian
        assert ds.PixelData == dcmread(stored_file(archive, uid)).PixelData
    node.wait_for_log("completed=4 failed=0 warning=0 remaining=0 converted=4")
