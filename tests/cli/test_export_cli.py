"""`tui-pacs export` as a user runs it: files as stored, a zip, a DICOMDIR read back
by pydicom and DCMTK, de-identification with consistent UIDs, and refusals."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet

from tests.conftest import run_cli
from tests.dicom_factory import make_dataset, uid, write_instance, write_study
from tests.server.conftest import dcmtk, run
from tests.server.helpers import indexed

STUDY = uid(1)
# What a media file ID component may be (PS3.10 8.5): 1-8 of A-Z, 0-9 and _.
COMPONENT = re.compile(r"[A-Z0-9_]{1,8}")


@pytest.fixture
def archive_dir(tmp_path) -> Path:
    """Study 1 (two series of two CT images, the second instance of each series
    referencing the first, and a private element) and study 2 of another patient."""
    folder = tmp_path / "in"
    for series in (1, 2):
        for number in (1, 2):
            ds = make_dataset(study=1, series=series, instance=number, patient_name="DOE^JANE",
                              patient_id="PAT1", accession="ACC1", description="CT HEAD")
            ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", "DOE^JANE")
            if number == 2:
                reference = Dataset()
                reference.ReferencedSOPClassUID = ds.SOPClassUID
                reference.ReferencedSOPInstanceUID = uid(1, series, 1)
                ds.ReferencedImageSequence = [reference]
            write_instance(folder / f"s{series}i{number}.dcm", ds)
    write_study(folder / "other", study=2, instances=1, patient_id="PAT2",
                patient_name="ROE^RICHARD")
    data = tmp_path / "data"
    assert run_cli("import", folder, "--data", data).returncode == 0
    return data


def digests(paths) -> dict[str, Path]:
    return {hashlib.sha256(Path(p).read_bytes()).hexdigest(): Path(p) for p in paths}


def archived_files(data: Path, study_uid: str) -> list[Path]:
    rows = indexed(data, "SELECT i.path FROM instances i JOIN series se ON se.id = "
                         "i.series_ref JOIN studies st ON st.id = se.study_ref "
                         "WHERE st.study_uid = ?", study_uid)
    return [data / row[0] for row in rows]


def exported_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "DICOMDIR")


def test_a_study_is_exported_byte_for_byte_under_generated_names(archive_dir, tmp_path):
    destination = tmp_path / "out"
    result = run_cli("export", "--study", STUDY, destination, "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"exported 4 instance\(s\), [\d.]+ KB, to {destination} in "
                        r"[\d.]+ s\n", result.stdout)
    files = exported_files(destination)
    assert [p.relative_to(destination).as_posix() for p in files] == [
        "PT000000/ST000000/SE000000/IM000000.dcm", "PT000000/ST000000/SE000000/IM000001.dcm",
        "PT000000/ST000000/SE000001/IM000000.dcm", "PT000000/ST000000/SE000001/IM000001.dcm"]
    assert digests(files).keys() == digests(archived_files(archive_dir, STUDY)).keys()


def test_a_zip_is_streamed_with_the_same_bytes(archive_dir, tmp_path):
    destination = tmp_path / "study.zip"
    result = run_cli("export", "--study", STUDY, destination, "--zip", "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(destination) as zipped:
        assert zipped.testzip() is None
        names = zipped.namelist()
        contents = [zipped.read(name) for name in names]
    assert len(names) == 4 and all(name.endswith(".dcm") for name in names)
    expected = {p.read_bytes() for p in archived_files(archive_dir, STUDY)}
    assert set(contents) == expected
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_a_dicomdir_indexes_the_files_for_pydicom_and_dcmtk(archive_dir, tmp_path):
    destination = tmp_path / "media"
    result = run_cli("export", "--patient", "PAT1", destination, "--dicomdir",
                     "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    file_set = FileSet(dcmread(destination / "DICOMDIR"))
    assert file_set.ID == "TUI_PACS"
    assert {i.SOPInstanceUID for i in file_set} == {uid(1, s, n) for s in (1, 2) for n in (1, 2)}
    for instance in file_set:
        parts = Path(instance.FileID).parts
        assert all(COMPONENT.fullmatch(part) for part in parts), parts
        stored = destination.joinpath(*parts)
        assert dcmread(stored).SOPInstanceUID == instance.SOPInstanceUID
    assert digests(exported_files(destination)).keys() == digests(
        archived_files(archive_dir, STUDY)).keys()
    dumped = run(dcmtk("dcmdump"), destination / "DICOMDIR")
    assert dumped.returncode == 0, dumped.stderr
    assert dumped.stdout.count("(0004,1430) CS [IMAGE") == 4
    tested = run(dcmtk("dcmftest"), *exported_files(destination))
    assert tested.returncode == 0 and tested.stdout.count("yes:") == 4, tested.stdout


def test_anonymize_leaves_no_identity_and_remaps_uids_consistently(archive_dir, tmp_path):
    destination = tmp_path / "anon"
    result = run_cli("export", "--study", STUDY, destination, "--anonymize", "--dicomdir",
                     "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    files = exported_files(destination)
    datasets = [dcmread(p) for p in files]
    for path, ds in zip(files, datasets):
        raw = path.read_bytes()
        assert b"DOE^JANE" not in raw and b"PAT1" not in raw and b"ACC1" not in raw
        assert b"CT HEAD" not in raw and b"ACME" not in raw
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.PatientName and ds.PatientID and ds.PatientBirthDate == ""
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPClassUID == make_dataset().SOPClassUID
    originals = {uid(1), *(uid(1, s) for s in (1, 2)), *(uid(1, s, n) for s in (1, 2)
                                                        for n in (1, 2))}
    assert originals.isdisjoint(
        {ds.StudyInstanceUID for ds in datasets} | {ds.SeriesInstanceUID for ds in datasets}
        | {ds.SOPInstanceUID for ds in datasets})
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 2
    assert len({ds.PatientID for ds in datasets}) == 1
    # References still resolve: each second image points at the new UID of its series' first.
    by_uid = {ds.SOPInstanceUID: ds for ds in datasets}
    referring = [ds for ds in datasets if "ReferencedImageSequence" in ds]
    assert len(referring) == 2
    for ds in referring:
        target = by_uid[ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID]
        assert target.SeriesInstanceUID == ds.SeriesInstanceUID
        assert target.InstanceNumber == 1
    # The DICOMDIR was built from the same de-identified values.
    file_set = FileSet(dcmread(destination / "DICOMDIR"))
    assert {i.SOPInstanceUID for i in file_set} == set(by_uid)


def test_a_series_can_be_exported_alone(archive_dir, tmp_path):
    destination = tmp_path / "series"
    result = run_cli("export", "--series", uid(1, 2), destination, "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    assert {dcmread(p).SeriesInstanceUID for p in exported_files(destination)} == {uid(1, 2)}
    assert len(exported_files(destination)) == 2


def test_an_empty_directory_is_a_destination(archive_dir, tmp_path):
    destination = tmp_path / "empty"
    destination.mkdir()
    result = run_cli("export", "--study", STUDY, destination, "--data", archive_dir)
    assert result.returncode == 0, result.stderr
    assert len(exported_files(destination)) == 4


@pytest.mark.parametrize("prepare, args, message", [
    (lambda d: (d.mkdir(), (d / "x").write_text("x")), [], "the directory is not empty"),
    (lambda d: d.write_text("x"), [], "exists and is not a directory"),
    (lambda d: d.mkdir(), ["--zip"], "is a directory; give the zip file's name"),
    (lambda d: d.write_text("x"), ["--zip"], "the file exists and is not empty"),
])
def test_a_destination_in_use_is_refused_in_one_line(archive_dir, tmp_path, prepare, args,
                                                     message):
    destination = tmp_path / "taken"
    prepare(destination)
    before = sorted(tmp_path.rglob("*"))
    result = run_cli("export", "--study", STUDY, destination, *args, "--data", archive_dir)
    assert result.returncode == 1
    assert result.stderr == f"tui-pacs: {destination}: {message}\n"
    assert sorted(tmp_path.rglob("*")) == before


def test_nothing_to_export_says_so_and_writes_nothing(archive_dir, tmp_path):
    destination = tmp_path / "none"
    result = run_cli("export", "--study", "9.9.9", destination, "--data", archive_dir)
    assert result.returncode == 1
    assert result.stderr == ("tui-pacs: nothing to export: no study with StudyInstanceUID "
                             "'9.9.9' in the archive\n")
    assert not destination.exists()


def test_an_instance_a_dicomdir_cannot_hold_fails_clearly_and_takes_back(tmp_path):
    data = tmp_path / "data"
    write_instance(tmp_path / "in" / "a.dcm", make_dataset(study=5, patient_id=""))
    assert run_cli("import", tmp_path / "in", "--data", data).returncode == 0
    destination = tmp_path / "media"
    result = run_cli("export", "--study", uid(5), destination, "--dicomdir", "--data", data)
    assert result.returncode == 1
    assert result.stderr.startswith(f"tui-pacs: instance {uid(5, 1, 1)} cannot go into a "
                                    "DICOMDIR: ")
    assert "Patient ID" in result.stderr and "without --dicomdir" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not destination.exists()
