import asyncio
import os
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from tests.conftest import pydicom_file
from tests.dicom_factory import make_dataset, write_instance, write_study
from tui_pacs.config import StorageConfig
from tui_pacs.core.model import Level
from tui_pacs.store.archive import Archive, Outcome, StoreFailure
from tui_pacs.store.index import matchers_from_keys
from tui_pacs.store.ingest import NotDicom
from tui_pacs.store.layout import INDEX_FILE
from tui_pacs.store.staging import staged_files


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "storage").rglob("*") if p.is_file())


async def test_part10_file_is_stored_byte_for_byte(archive, data_dir):
    source = pydicom_file("CT_small.dcm")
    result = await archive.store_file(source)
    assert result.outcome is Outcome.STORED
    [path] = stored_files(data_dir)
    assert path.read_bytes() == source.read_bytes()
    assert path.relative_to(data_dir).as_posix() == str(result.path)


async def test_dataset_without_meta_gets_a_header_and_keeps_its_bytes(archive, data_dir):
    source = pydicom_file("ExplVR_BigEndNoMeta.dcm")
    await archive.store_file(source)
    [path] = stored_files(data_dir)
    stored = path.read_bytes()
    assert stored[128:132] == b"DICM"
    assert stored.endswith(source.read_bytes())
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


async def test_index_holds_every_level_with_derived_counts(archive, tmp_path):
    for path in write_study(tmp_path / "a", study=1, series=2, instances=3, modality="CT"):
        await archive.store_file(path)
    for path in write_study(tmp_path / "b", study=2, series=1, instances=2, modality="MR",
                            patient_id="PAT2", patient_name="ROE^RICHARD"):
        await archive.store_file(path)
    studies = await archive.index.query(Level.STUDY, order_by="PatientID")
    assert [(s["PatientID"], s["NumberOfStudyRelatedSeries"],
             s["NumberOfStudyRelatedInstances"], s["ModalitiesInStudy"]) for s in studies] == [
        ("PAT1", 2, 6, "CT"), ("PAT2", 1, 2, "MR")]
    series = await archive.index.query(Level.SERIES, matchers_from_keys(
        {"StudyInstanceUID": studies[0]["StudyInstanceUID"]}))
    assert [s["NumberOfSeriesRelatedInstances"] for s in series] == [3, 3]
    patients = await archive.index.query(Level.PATIENT)
    assert {p["PatientID"]: p["NumberOfPatientRelatedInstances"] for p in patients} == {
        "PAT1": 6, "PAT2": 2}
    assert await archive.index.count(Level.IMAGE) == 8
    totals = await archive.index.totals()
    assert totals["studies"] == 2 and totals["instances"] == 8


async def test_modalities_in_study_lists_each_modality_once(archive, tmp_path):
    await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset(series=1)))
    await archive.store_file(write_instance(tmp_path / "2.dcm", make_dataset(
        series=2, modality="OT")))
    [study] = await archive.index.query(Level.STUDY)
    assert study["ModalitiesInStudy"] == "CT\\OT"
    found = await archive.index.query(Level.STUDY, matchers_from_keys({"ModalitiesInStudy": "OT"}))
    assert len(found) == 1


async def test_same_patient_id_from_two_hospitals_is_two_patients(archive, tmp_path):
    await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset(
        study=1, patient_id="12345", patient_name="DOE^JANE", birth_date="19700101")))
    await archive.store_file(write_instance(tmp_path / "2.dcm", make_dataset(
        study=2, patient_id="12345", patient_name="SMITH^BOB", birth_date="19551231")))
    patients = await archive.index.query(Level.PATIENT, matchers_from_keys({"PatientID": "12345"}))
    assert sorted(p["PatientName"] for p in patients) == ["DOE^JANE", "SMITH^BOB"]
    studies = await archive.index.query(Level.STUDY, matchers_from_keys(
        {"PatientName": "SMITH*"}))
    assert [s["StudyInstanceUID"] for s in studies] == [make_dataset(study=2).StudyInstanceUID]


async def test_a_study_keeps_its_patient_when_later_instances_spell_it_differently(
        archive, tmp_path):
    await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset(
        instance=1, patient_name="DOE^JANE")))
    await archive.store_file(write_instance(tmp_path / "2.dcm", make_dataset(
        instance=2, patient_name="DOE^JANE^^^", birth_date="")))
    [patient] = await archive.index.query(Level.PATIENT)
    assert patient["PatientName"] == "DOE^JANE"
    assert patient["NumberOfPatientRelatedInstances"] == 2


async def test_an_overwriting_instance_brings_its_values_to_the_index(data_dir, tmp_path):
    """A corrected resend (new patient name, study and series description)
    replaces what the index said, and the patient it no longer names goes."""
    first = write_instance(tmp_path / "1.dcm", make_dataset(description="first"))
    corrected = make_dataset(description="corrected", patient_name="DOE^JOAN")
    corrected.SeriesDescription = "corrected series"
    second = write_instance(tmp_path / "2.dcm", corrected)
    async with await Archive.open(data_dir, StorageConfig(overwrite_duplicates=True,
                                                          min_free_mb=0)) as archive:
        await archive.store_file(first)
        assert (await archive.store_file(second)).outcome is Outcome.REPLACED
        [patient] = await archive.index.query(Level.PATIENT)
        [study] = await archive.index.query(Level.STUDY)
        [series] = await archive.index.query(Level.SERIES)
    assert (patient["PatientName"], patient["NumberOfPatientRelatedStudies"]) == ("DOE^JOAN", 1)
    assert study["StudyDescription"] == "corrected"
    assert series["SeriesDescription"] == "corrected series"


async def test_duplicate_keeps_the_existing_copy(archive, tmp_path, data_dir):
    first = write_instance(tmp_path / "1.dcm", make_dataset(description="first"))
    second = write_instance(tmp_path / "2.dcm", make_dataset(description="second"))
    assert (await archive.store_file(first)).outcome is Outcome.STORED
    assert (await archive.store_file(second)).outcome is Outcome.DUPLICATE
    [path] = stored_files(data_dir)
    assert path.read_bytes() == first.read_bytes()
    assert staged_files(data_dir / "tmp") == []


async def test_duplicate_overwrites_when_configured(data_dir, tmp_path):
    first = write_instance(tmp_path / "1.dcm", make_dataset(description="first"))
    second = write_instance(tmp_path / "2.dcm", make_dataset(
        description="second", series=7, sop_uid=make_dataset().SOPInstanceUID))
    async with await Archive.open(data_dir, StorageConfig(overwrite_duplicates=True,
                                                          min_free_mb=0)) as archive:
        await archive.store_file(first)
        assert (await archive.store_file(second)).outcome is Outcome.REPLACED
        [path] = stored_files(data_dir)
        assert path.read_bytes() == second.read_bytes()
        series = await archive.index.query(Level.SERIES)
        # The replaced instance moved to its new series; the emptied one is gone.
        assert {s["SeriesNumber"]: s["NumberOfSeriesRelatedInstances"] for s in series} == {7: 1}


@pytest.mark.parametrize("level, key", [
    (Level.PATIENT, "PatientID"), (Level.STUDY, "StudyInstanceUID"),
    (Level.SERIES, "SeriesInstanceUID"), (Level.IMAGE, "SOPInstanceUID"),
])
async def test_delete_removes_files_and_rows_together(archive, tmp_path, data_dir, level, key):
    for path in write_study(tmp_path / "a", study=1, series=2, instances=2):
        await archive.store_file(path)
    for path in write_study(tmp_path / "b", study=2, series=1, instances=1, patient_id="OTHER"):
        await archive.store_file(path)
    target = (await archive.index.query(level))[0][key]
    kept_before = await archive.index.count(Level.IMAGE)
    result = await archive.delete(level, target)
    assert result.instances >= 1
    indexed = {f.path for f in await archive.index.files(Level.PATIENT, {})}
    on_disk = {p.relative_to(data_dir).as_posix() for p in stored_files(data_dir)}
    assert indexed == on_disk
    assert len(indexed) == kept_before - result.instances
    assert await archive.index.count(level, matchers_from_keys({key: target})) == 0


async def test_delete_with_an_empty_identifier_removes_nothing_else(archive, tmp_path):
    await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset()))
    result = await archive.delete(Level.PATIENT, "")
    assert result.instances == 0
    assert await archive.index.count(Level.IMAGE) == 1


@pytest.mark.parametrize("name, query, expected", [
    ("chrFren.dcm", "Buc^J*", "Buc^Jérôme"),
    ("chrX1.dcm", "Wang^XiaoDong*", "Wang^XiaoDong=王^小東"),
    ("chrH32.dcm", "*山田*", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    ("chrJapMulti.dcm", "やまだ*", "やまだ^たろう"),
    ("chrRuss.dcm", "люкceмбypг", "Люкceмбypг"),
])
async def test_character_sets_decode_for_display_and_search(archive, name, query, expected):
    await archive.store_file(pydicom_file(name))
    [row] = await archive.index.query(Level.PATIENT, matchers_from_keys({"PatientName": query}))
    assert row["PatientName"] == expected


async def test_not_dicom_is_skipped_and_broken_files_fail_clearly(archive, tmp_path, data_dir):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(NotDicom):
        await archive.store_file(text)
    with pytest.raises(StoreFailure, match="claims 8192 bytes"):
        await archive.store_file(pydicom_file("MR_truncated.dcm"))
    good = pydicom_file("CT_small.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(StoreFailure, match="malformed"):
        await archive.store_file(cut)
    with pytest.raises(StoreFailure, match="StudyInstanceUID is missing"):
        await archive.store_file(pydicom_file("JPEGLSNearLossless_08.dcm"))
    with pytest.raises(StoreFailure, match="cannot read"):
        await archive.store_file(tmp_path / "absent.dcm")
    assert stored_files(data_dir) == []
    assert staged_files(data_dir / "tmp") == []
    assert await archive.index.count(Level.IMAGE) == 0


async def test_hostile_uids_never_become_paths(archive, tmp_path, data_dir):
    ds = make_dataset(sop_uid="../../../../etc/passwd", study_uid="/abs/olute")
    await archive.store_file(write_instance(tmp_path / "x.dcm", ds))
    [path] = stored_files(data_dir)
    assert path.is_relative_to(data_dir / "storage")
    assert "passwd" not in str(path) and "abs" not in str(path)
    long_uid = make_dataset(sop_uid="1." * 40 + "1")
    with pytest.raises(StoreFailure, match="81 characters long"):
        await archive.store_file(write_instance(tmp_path / "y.dcm", long_uid))


def encoded(ds, implicit=False) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


async def test_store_received_from_an_association_thread(archive, data_dir):
    datasets = [make_dataset(instance=n) for n in range(1, 21)]
    results, errors = [], []

    def association(ds):
        try:
            results.append(archive.store_received(encoded(ds), "1.2.840.10008.1.2.1", "MODALITY"))
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=association, args=(ds,)) for ds in datasets]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        await asyncio.sleep(0.01)
    assert errors == []
    assert {r.outcome for r in results} == {Outcome.STORED}
    assert await archive.index.count(Level.IMAGE) == 20
    for path in stored_files(data_dir):
        ds = pydicom.dcmread(path)
        assert ds.file_meta.SourceApplicationEntityTitle == "MODALITY"
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        original = next(d for d in datasets if d.SOPInstanceUID == ds.SOPInstanceUID)
        assert path.read_bytes().endswith(encoded(original))


async def test_store_received_refuses_malformed_bytes(archive, data_dir):
    data = encoded(make_dataset())
    result = await asyncio.to_thread(lambda: _refusal(archive, data[:-100]))
    assert result.invalid and "claims" in str(result)
    assert stored_files(data_dir) == []


def _refusal(archive, data) -> StoreFailure:
    try:
        archive.store_received(data, "1.2.840.10008.1.2.1", "X")
    except StoreFailure as exc:
        return exc
    raise AssertionError("malformed data was stored")


async def test_free_space_reserve_refuses_with_out_of_space(data_dir, tmp_path):
    huge = StorageConfig(min_free_mb=10**9)
    async with await Archive.open(data_dir, huge) as archive:
        with pytest.raises(StoreFailure) as caught:
            await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset()))
        assert caught.value.out_of_space
        assert stored_files(data_dir) == []


async def test_recovery_finishes_renames_a_crash_interrupted(data_dir, tmp_path):
    async with await Archive.open(data_dir, StorageConfig(min_free_mb=0)) as archive:
        first = await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset()))
        second = await archive.store_file(write_instance(tmp_path / "2.dcm", make_dataset(
            instance=2)))
    # Simulate a crash after the commit of the second instance but before its
    # rename: its row says pending, its file is still in tmp/. A third was
    # staged but never committed, and the running marker was never removed.
    import sqlite3

    final = data_dir / second.path
    staged = data_dir / "tmp" / ".incoming-crashed-1.part"
    final.rename(staged)
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        conn.execute("UPDATE instances SET pending = ? WHERE sop_uid = ?",
                     (staged.name, second.record.sop_uid))
    (data_dir / "tmp" / ".incoming-crashed-2.part").write_bytes(b"half a file")
    (data_dir / "running").touch()
    async with await Archive.open(data_dir, StorageConfig(min_free_mb=0)) as archive:
        assert archive.recovery is not None
        assert archive.recovery.completed == 1
        assert archive.recovery.removed_temporary == 1
        assert await archive.index.count(Level.IMAGE) == 2
    assert final.exists() and (data_dir / first.path).exists()
    assert staged_files(data_dir / "tmp") == []
    assert not (data_dir / "running").exists()
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM instances WHERE pending != ''").fetchone() == (0,)
    async with await Archive.open(data_dir, StorageConfig(min_free_mb=0)) as archive:
        assert archive.recovery is None


async def test_reindex_in_place_indexes_an_orphan_and_refuses_junk(archive, tmp_path, data_dir):
    result = await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset()))
    orphan = data_dir / result.path
    kept = orphan.read_bytes()
    await archive.delete(Level.IMAGE, result.record.sop_uid)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(kept)
    await archive.reindex_in_place(result.path)
    assert await archive.index.count(Level.IMAGE) == 1
    junk = orphan.with_name("0" * 64 + ".dcm")
    junk.write_bytes(b"junk")
    with pytest.raises(StoreFailure, match="not DICOM"):
        await archive.reindex_in_place(junk.relative_to(data_dir).as_posix())
    assert junk.exists()


async def test_listeners_hear_each_new_instance(archive, tmp_path):
    heard = []
    archive.add_listener(heard.append)
    await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset()))
    await archive.store_file(write_instance(tmp_path / "2.dcm", make_dataset()))
    assert [r.outcome for r in heard] == [Outcome.STORED]


async def test_a_newer_schema_is_refused(data_dir):
    import sqlite3

    from tui_pacs.store.archive import ArchiveError

    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(ArchiveError, match="newer than this tui-pacs"):
        await Archive.open(data_dir)


async def test_files_are_private_to_storage(archive, tmp_path, data_dir):
    await archive.store_file(write_instance(tmp_path / "1.dcm", make_dataset()))
    entries = {p.name for p in data_dir.iterdir()}
    assert entries <= {"storage", "tmp", "index.sqlite", "index.sqlite-wal",
                       "index.sqlite-shm", "lock", "running"}
    assert all(os.path.basename(p).endswith(".dcm") for p in stored_files(data_dir))
