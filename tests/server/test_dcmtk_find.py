"""C-FIND from DCMTK's findscu: levels, models, matching, exactly the keys asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from tests.server.archive_fixture import (
    instance_uid,
    seed_archive,
    series_uid,
    study_uid,
)
from tests.server.conftest import dcmtk, modalities_config, run

pytestmark = pytest.mark.interop


@pytest.fixture
def node(start_node, tmp_path):
    data = tmp_path / "data"
    seed_archive(data, tmp_path / "files")
    return start_node(modalities_config(("FINDSCU", 11999)), data=data)


def find(node, tmp_path: Path, model: str, *keys: str) -> list:
    """Run findscu; return the response identifiers it extracted."""
    out = tmp_path / f"responses-{len(list(tmp_path.glob('responses-*')))}"
    out.mkdir()
    args = [dcmtk("findscu"), model, "-aet", "FINDSCU", "-aec", node.aet, "-X", "-od", out]
    for key in keys:
        args += ["-k", key]
    result = run(*args, "127.0.0.1", node.port)
    assert result.returncode == 0, result.stderr
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def keywords(ds) -> set[str]:
    return {elem.keyword for elem in ds}


def test_patient_level_wildcard_is_case_insensitive_for_names(node, tmp_path):
    found = find(node, tmp_path, "-P", "QueryRetrieveLevel=PATIENT", "PatientName=SMITH*",
                 "PatientID", "NumberOfPatientRelatedStudies")
    by_id = {ds.PatientID: ds for ds in found}
    assert set(by_id) == {"P1", "P2"}
    assert str(by_id["P1"].PatientName) == "SMITH^JOHN"
    assert str(by_id["P2"].PatientName) == "smithers^anna"
    assert by_id["P1"].NumberOfPatientRelatedStudies == 2
    assert by_id["P2"].NumberOfPatientRelatedStudies == 1
    for ds in found:
        assert keywords(ds) == {"QueryRetrieveLevel", "PatientName", "PatientID",
                                "NumberOfPatientRelatedStudies"}


def test_study_level_date_range_with_derived_keys_and_unknown_keys_empty(node, tmp_path):
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY",
                 "StudyDate=20240101-20241231", "StudyInstanceUID", "ModalitiesInStudy",
                 "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                 "AccessionNumber", "InstitutionName", "OtherPatientIDsSequence")
    by_uid = {ds.StudyInstanceUID: ds for ds in found}
    assert set(by_uid) == {study_uid(1), study_uid(3)}
    first = by_uid[study_uid(1)]
    assert first.ModalitiesInStudy == "CT"
    assert first.NumberOfStudyRelatedSeries == 2
    assert first.NumberOfStudyRelatedInstances == 4
    assert first.AccessionNumber == "ACC1"
    assert first.InstitutionName == ""
    assert len(first.OtherPatientIDsSequence) == 0
    assert keywords(first) == {"QueryRetrieveLevel", "StudyDate", "StudyInstanceUID",
                               "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                               "NumberOfStudyRelatedInstances", "AccessionNumber",
                               "InstitutionName", "OtherPatientIDsSequence"}


@pytest.mark.parametrize("dates, studies", [
    ("-20231231", {2, 4}),
    ("20240201-", {3}),
    ("20230601", {2}),
])
def test_open_and_single_date_ranges(node, tmp_path, dates, studies):
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY", f"StudyDate={dates}",
                 "StudyInstanceUID")
    assert {ds.StudyInstanceUID for ds in found} == {study_uid(n) for n in studies}


def test_modalities_in_study_and_question_mark_wildcard(node, tmp_path):
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY", "ModalitiesInStudy=CT",
                 "PatientID=P?", "StudyInstanceUID")
    assert {ds.StudyInstanceUID for ds in found} == {study_uid(1), study_uid(3)}


def test_patient_root_study_level_under_a_patient(node, tmp_path):
    found = find(node, tmp_path, "-P", "QueryRetrieveLevel=STUDY", "PatientID=P1",
                 "StudyInstanceUID", "StudyDate")
    assert {ds.StudyInstanceUID for ds in found} == {study_uid(1), study_uid(2)}


def test_series_level_in_a_study(node, tmp_path):
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=SERIES",
                 f"StudyInstanceUID={study_uid(1)}", "SeriesInstanceUID", "Modality",
                 "NumberOfSeriesRelatedInstances", "SeriesNumber")
    assert sorted(ds.SeriesNumber for ds in found) == [1, 2]
    for ds in found:
        assert ds.Modality == "CT" and ds.NumberOfSeriesRelatedInstances == 2
        assert ds.StudyInstanceUID == study_uid(1)


def test_image_level_with_a_list_of_uids(node, tmp_path):
    wanted = [instance_uid(1, 1, 1), instance_uid(1, 2, 2)]
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=IMAGE",
                 f"StudyInstanceUID={study_uid(1)}", "SeriesInstanceUID",
                 f"SOPInstanceUID={chr(92).join(wanted)}", "InstanceNumber", "Rows")
    assert {ds.SOPInstanceUID for ds in found} == set(wanted)
    assert {ds.SeriesInstanceUID for ds in found} == {series_uid(1, 1), series_uid(1, 2)}
    assert all(ds.Rows == 64 for ds in found)


def test_patient_root_series_and_image_levels_under_a_patient_and_study(node, tmp_path):
    series = find(node, tmp_path, "-P", "QueryRetrieveLevel=SERIES", "PatientID=P1",
                  f"StudyInstanceUID={study_uid(1)}", "SeriesInstanceUID", "Modality")
    assert {ds.SeriesInstanceUID for ds in series} == {series_uid(1, 1), series_uid(1, 2)}
    images = find(node, tmp_path, "-P", "QueryRetrieveLevel=IMAGE", "PatientID=P1",
                  f"StudyInstanceUID={study_uid(1)}", f"SeriesInstanceUID={series_uid(1, 2)}",
                  "SOPInstanceUID", "InstanceNumber")
    assert {ds.SOPInstanceUID for ds in images} == {instance_uid(1, 2, 1), instance_uid(1, 2, 2)}
    other = find(node, tmp_path, "-P", "QueryRetrieveLevel=SERIES", "PatientID=P2",
                 f"StudyInstanceUID={study_uid(1)}", "SeriesInstanceUID")
    assert other == []  # study 1 is not P2's


def test_the_level_unique_key_is_returned_even_unasked(node, tmp_path):
    found = find(node, tmp_path, "-S", "QueryRetrieveLevel=STUDY", "PatientID=P3")
    assert [ds.StudyInstanceUID for ds in found] == [study_uid(4)]


def test_patient_level_in_study_root_is_refused(node, tmp_path):
    result = run(dcmtk("findscu"), "-v", "-S", "-aet", "FINDSCU", "-aec", node.aet,
                 "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", "127.0.0.1", node.port)
    assert "Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in result.stderr
    assert "Study Root has no PATIENT level" in node.wait_for_log("C-FIND")


def test_an_aet_that_may_not_query_gets_refused(node, tmp_path):
    result = run(dcmtk("findscu"), "-v", "-S", "-aet", "STRANGER", "-aec", node.aet,
                 "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", node.port)
    # DCMTK does not name 0x0124 ("Refused: Not Authorized", PS3.7 C.5.3).
    assert "Received Final Find Response (Unknown Status: 0x124)" in result.stderr
    assert "0x0124 failure" in node.wait_for_log("STRANGER may not query")
