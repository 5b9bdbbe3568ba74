"""C-FIND, C-MOVE and C-GET in-process with pynetdicom peers, where DCMTK is awkward:
C-CANCEL, character sets, partial failures, transfer syntax conversion."""

from __future__ import annotations

import asyncio

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
)
from pynetdicom import build_role
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    UltrasoundImageStorage,
)

from tests.conftest import pydicom_file
from tests.dicom_factory import make_dataset, uid, write_instance
from tests.server.helpers import dataset_bytes
from tests.server.node_fixtures import (
    Receiver,
    associate,
    find,
    move,
    query,
    settings_for,
    started,
)
from tui_pacs.store.importer import import_files


async def seeded(tmp_path, paths, **changes):
    node = await started(settings_for(tmp_path / "data", **changes))
    report = await import_files(node.archive, paths)
    assert not report.failures, report.failures
    return node


def studies(tmp_path, count):
    return [write_instance(tmp_path / "in" / f"{n}.dcm",
                           make_dataset(study=n, rows=8, columns=8, patient_id=f"P{n}"))
            for n in range(1, count + 1)]


@pytest.mark.parametrize("charset, name", [("ISO_IR 192", "müller*"),
                                           ("ISO_IR 100", "MÜLLER*")])
async def test_names_match_across_character_sets_and_come_back_in_utf8(tmp_path, charset, name):
    stored = make_dataset(patient_name="Müller^Jürgen", charset="ISO_IR 100")
    node = await seeded(tmp_path, [write_instance(tmp_path / "m.dcm", stored)])
    identifier = query("PATIENT", SpecificCharacterSet=charset, PatientName=name,
                       PatientID="")
    try:
        found, final = await asyncio.to_thread(
            find, node, identifier, PatientRootQueryRetrieveInformationModelFind)
    finally:
        await node.stop()
    assert final == 0x0000 and len(found) == 1
    assert found[0].SpecificCharacterSet == "ISO_IR 192"
    assert str(found[0].PatientName) == "Müller^Jürgen"


async def test_iso_2022_japanese_names(tmp_path):
    node = await seeded(tmp_path, [pydicom_file("chrH32.dcm")])
    try:
        found, final = await asyncio.to_thread(
            find, node, query("STUDY", SpecificCharacterSet="ISO_IR 192", PatientName="ﾔﾏﾀﾞ*",
                              StudyInstanceUID=""))
    finally:
        await node.stop()
    expected = dcmread(pydicom_file("chrH32.dcm")).PatientName
    assert final == 0x0000 and len(found) == 1
    assert str(found[0].PatientName) == str(expected)


async def test_a_name_without_component_groups_matches_any_group(tmp_path):
    stored = make_dataset(patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう",
                          charset="ISO_IR 192")
    node = await seeded(tmp_path, [write_instance(tmp_path / "y.dcm", stored)])

    def count(name: str) -> int:
        found, final = find(node, query("STUDY", SpecificCharacterSet="ISO_IR 192",
                                        PatientName=name, StudyInstanceUID=""))
        assert final == 0x0000
        return len(found)

    try:
        counts = {name: await asyncio.to_thread(count, name)
                  for name in ("Yamada^Tarou", "山田^太郎", "やまだ^たろう", "yamada*", "Yamada",
                               "Yamada^Tarou=山田^太郎=やまだ^たろう")}
    finally:
        await node.stop()
    assert counts == {"Yamada^Tarou": 1, "山田^太郎": 1, "やまだ^たろう": 1, "yamada*": 1,
                      "Yamada": 0, "Yamada^Tarou=山田^太郎=やまだ^たろう": 1}


async def test_ascii_answers_carry_no_character_set(tmp_path):
    node = await seeded(tmp_path, studies(tmp_path, 1))
    try:
        found, _ = await asyncio.to_thread(
            find, node, query("STUDY", PatientName="", StudyInstanceUID=""))
    finally:
        await node.stop()
    assert "SpecificCharacterSet" not in found[0]


async def test_move_with_a_missing_file_is_a_warning_naming_it(tmp_path):
    paths = [write_instance(tmp_path / "in" / f"{n}.dcm", make_dataset(instance=n, rows=8,
                                                                      columns=8))
             for n in (1, 2, 3)]
    receiver = Receiver()
    node = await seeded(tmp_path, paths, modalities=(receiver.modality,))
    lost = await node.archive.index.file_of(uid(1, 1, 2))
    node.archive.path_of(lost).unlink()

    try:
        responses = await asyncio.to_thread(move, node, query("STUDY", StudyInstanceUID=uid(1)),
                                            receiver.aet)
    finally:
        await node.stop()
        receiver.close()
    pending = [s for s, _ in responses if s.Status == 0xFF00]
    final, identifier = responses[-1]
    assert [s.NumberOfRemainingSuboperations for s in pending] == [2, 1]
    assert final.Status == 0xB000
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (2, 1)
    assert identifier.FailedSOPInstanceUIDList == uid(1, 1, 2)
    assert set(receiver.received) == {uid(1, 1, 1), uid(1, 1, 3)}
    assert receiver.received[uid(1, 1, 1)] == dataset_bytes(paths[0])
    # Each sub-operation names the C-MOVE it belongs to (the client's AE title, Message ID 1).
    assert set(receiver.originators.values()) == {("CLIENT", 1)}


def get(node, identifier, accepted_syntaxes):
    """C-GET as a viewer does it, accepting ultrasound images only in ``accepted_syntaxes``."""
    received = {}

    def keep(event):
        received[str(event.request.AffectedSOPInstanceUID)] = event.dataset
        return 0x0000

    from pynetdicom import evt

    assoc = associate(
        node, [StudyRootQueryRetrieveInformationModelGet,
               (UltrasoundImageStorage, accepted_syntaxes)],
        ext_neg=[build_role(UltrasoundImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, keep)])
    try:
        responses = list(assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    return responses, received


async def test_get_decompresses_for_a_requester_that_takes_only_uncompressed(tmp_path):
    source = pydicom_file("examples_jpeg2k.dcm")  # JPEG 2000 lossless ultrasound
    node = await seeded(tmp_path, [source])
    original = dcmread(source)
    try:
        responses, received = await asyncio.to_thread(
            get, node, query("STUDY", StudyInstanceUID=original.StudyInstanceUID),
            [ExplicitVRLittleEndian])
    finally:
        await node.stop()
    final = responses[-1][0]
    assert final.Status == 0x0000 and final.NumberOfCompletedSuboperations == 1
    got = received[original.SOPInstanceUID]
    assert got.PixelData == original.pixel_array.tobytes()


async def test_get_counts_an_unsendable_syntax_as_failed(tmp_path):
    source = pydicom_file("ExplVR_BigEnd.dcm")  # big endian, for a JPEG 2000 only requester
    node = await seeded(tmp_path, [source])
    original = dcmread(source, stop_before_pixels=True)
    try:
        responses, received = await asyncio.to_thread(
            get, node, query("STUDY", StudyInstanceUID=original.StudyInstanceUID),
            [JPEG2000Lossless])
    finally:
        await node.stop()
    final, identifier = responses[-1]
    assert final.Status == 0xA702
    assert final.NumberOfFailedSuboperations == 1
    assert identifier.FailedSOPInstanceUIDList == original.SOPInstanceUID
    assert not received


async def test_get_re_encodes_for_a_requester_that_takes_only_implicit_vr(tmp_path):
    source = pydicom_file("examples_jpeg2k.dcm")
    node = await seeded(tmp_path, [source])
    original = dcmread(source)
    try:
        responses, received = await asyncio.to_thread(
            get, node, query("STUDY", StudyInstanceUID=original.StudyInstanceUID),
            [ImplicitVRLittleEndian])
    finally:
        await node.stop()
    final = responses[-1][0]
    assert final.Status == 0x0000 and final.NumberOfCompletedSuboperations == 1
    got = received[original.SOPInstanceUID]
    assert got.SOPInstanceUID == original.SOPInstanceUID
    assert got.PixelData == original.pixel_array.tobytes()


async def test_get_sends_as_stored_when_the_syntax_is_accepted(tmp_path):
    source = pydicom_file("ExplVR_BigEnd.dcm")
    node = await seeded(tmp_path, [source])
    original = dcmread(source, stop_before_pixels=True)
    try:
        responses, received = await asyncio.to_thread(
            get, node, query("STUDY", StudyInstanceUID=original.StudyInstanceUID),
            [ExplicitVRBigEndian])
    finally:
        await node.stop()
    assert responses[-1][0].Status == 0x0000
    assert set(received) == {original.SOPInstanceUID}


def test_find_identifier_without_level_is_refused_in_process():
    from tui_pacs.net.server.qr_model import STUDY_ROOT, QueryError, parse_find

    with pytest.raises(QueryError, match="QueryRetrieveLevel is missing"):
        parse_find(Dataset(), STUDY_ROOT)
