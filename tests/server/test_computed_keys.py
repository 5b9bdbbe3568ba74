"""The optional keys the index computes (PS3.4 C.6): counts at each level,
ModalitiesInStudy and SOPClassesInStudy, answered to DCMTK's findscu and to
pixelmed's FindSOPClassSCU, and matched on."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from pydicom.uid import CTImageStorage, SecondaryCaptureImageStorage

from tests.conftest import run_cli
from tests.dicom_factory import make_dataset, write_instance
from tests.peers.pixelmed import PIXELMED_JAR, pixelmed_find
from tests.server.archive_fixture import study_uid
from tests.server.conftest import modalities_config
from tests.server.test_dcmtk_find import find
from tui_pacs.store.schema import MIGRATIONS

# (study, series, modality, instances): CT images are CT Image Storage, the
# others Secondary Capture.
SERIES = ((1, 1, "CT", 2), (1, 2, "OT", 1), (2, 1, "MR", 1))
BOTH_CLASSES = sorted([CTImageStorage, SecondaryCaptureImageStorage])


@pytest.fixture
def node(start_node, tmp_path):
    files = tmp_path / "files"
    for study, series, modality, count in SERIES:
        for number in range(1, count + 1):
            write_instance(files / f"{study}-{series}-{number}.dcm", make_dataset(
                study=study, series=series, instance=number, modality=modality))
    result = run_cli("import", files, "--data", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    return start_node(modalities_config(("FINDSCU", 11999), ("PIXELMED", 11998)),
                      data=tmp_path / "data")


@pytest.mark.interop
def test_every_computed_key_at_every_level(node, tmp_path):
    [patient] = find(node, tmp_path, "-P", "QueryRetrieveLevel=PATIENT", "PatientID",
                     "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
                     "NumberOfPatientRelatedInstances")
    assert (patient.NumberOfPatientRelatedStudies, patient.NumberOfPatientRelatedSeries,
            patient.NumberOfPatientRelatedInstances) == (2, 3, 4)

    studies = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID",
                   "ModalitiesInStudy", "SOPClassesInStudy", "NumberOfStudyRelatedSeries",
                   "NumberOfStudyRelatedInstances", "NumberOfPatientRelatedStudies")
    by_uid = {ds.StudyInstanceUID: ds for ds in studies}
    first, second = by_uid[study_uid(1)], by_uid[study_uid(2)]
    assert list(first.ModalitiesInStudy) == ["CT", "OT"]
    assert list(first.SOPClassesInStudy) == BOTH_CLASSES
    assert (first.NumberOfStudyRelatedSeries, first.NumberOfStudyRelatedInstances) == (2, 3)
    assert first.NumberOfPatientRelatedStudies == 2
    assert second.ModalitiesInStudy == "MR"
    assert second.SOPClassesInStudy == SecondaryCaptureImageStorage

    series = find(node, tmp_path, "-S", "QueryRetrieveLevel=SERIES",
                  f"StudyInstanceUID={study_uid(1)}", "SeriesInstanceUID", "SeriesNumber",
                  "NumberOfSeriesRelatedInstances")
    assert {ds.SeriesNumber: ds.NumberOfSeriesRelatedInstances for ds in series} == {1: 2, 2: 1}


@pytest.mark.interop
def test_sop_classes_in_study_is_matched_on_any_of_its_values(node, tmp_path):
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID",
                 f"SOPClassesInStudy={CTImageStorage}")
    assert [ds.StudyInstanceUID for ds in found] == [study_uid(1)]
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY", "StudyInstanceUID",
                 f"SOPClassesInStudy={SecondaryCaptureImageStorage}")
    assert {ds.StudyInstanceUID for ds in found} == {study_uid(1), study_uid(2)}


@pytest.mark.interop
def test_pixelmed_find_scu_gets_the_study_level_computed_keys(node):
    if not (shutil.which("javac") and PIXELMED_JAR.is_file()):
        pytest.skip("pixelmed-apps and a JDK (to run PixelmedFind.java) are needed")
    answers = pixelmed_find(node.port, node.aet, "PIXELMED", "STUDY", "StudyInstanceUID",
                            "ModalitiesInStudy", "SOPClassesInStudy",
                            "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances")
    by_uid = {answer["StudyInstanceUID"]: answer for answer in answers}
    assert by_uid[study_uid(1)] == {
        "QueryRetrieveLevel": "STUDY", "StudyInstanceUID": study_uid(1),
        "ModalitiesInStudy": "CT\\OT", "SOPClassesInStudy": "\\".join(BOTH_CLASSES),
        "NumberOfStudyRelatedSeries": "2", "NumberOfStudyRelatedInstances": "3"}
    assert by_uid[study_uid(2)]["SOPClassesInStudy"] == SecondaryCaptureImageStorage


def test_an_older_index_gets_sop_classes_in_study_filled():
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS[:2]:
        conn.executescript(migration)
    conn.executescript("""
        INSERT INTO patients (id, patient_id) VALUES (1, 'P');
        INSERT INTO studies (id, patient_ref, study_uid) VALUES (1, 1, '1.2');
        INSERT INTO series (id, study_ref, series_uid) VALUES (1, 1, '1.2.1'), (2, 1, '1.2.2');
        INSERT INTO instances (series_ref, sop_uid, sop_class_uid, transfer_syntax, path,
                               file_size, received_at)
        VALUES (1, 'a', '1.9', 'ts', 'a', 1, ''), (2, 'b', '1.8', 'ts', 'b', 1, ''),
               (2, 'c', '1.9', 'ts', 'c', 1, '');
    """)
    for migration in MIGRATIONS[2:]:
        conn.executescript(migration)
    assert conn.execute("SELECT sop_classes FROM studies").fetchone()[0] == "1.8\\1.9"
