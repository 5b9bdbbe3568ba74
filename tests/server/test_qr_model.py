"""Identifiers and index rows: what C-FIND matches and returns, what C-MOVE retrieves."""

from __future__ import annotations

import io

import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import ExplicitVRLittleEndian

from tui_pacs.core.matching import Range, Single, Universal, ValueList, Wildcard
from tui_pacs.core.model import Level
from tui_pacs.net.server.qr_model import (
    PATIENT_ROOT,
    STUDY_ROOT,
    FindResponses,
    QueryError,
    parse_find,
    parse_retrieve,
)


def identifier(level: str, **keys) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def test_find_matchers_and_return_keys():
    query = parse_find(identifier("STUDY", PatientName="SMI*", StudyDate="20240101-",
                                  ModalitiesInStudy="CT\\MR", StudyInstanceUID="",
                                  InstitutionName="", SOPInstanceUID="1.2"), STUDY_ROOT)
    assert query.level is Level.STUDY
    assert query.matchers["PatientName"] == Wildcard("SMI*")
    assert query.matchers["StudyDate"] == Range("20240101", None)
    assert query.matchers["ModalitiesInStudy"] == ValueList(("CT", "MR"))
    assert query.matchers["StudyInstanceUID"] == Universal()
    # Below the query level, and not in the index: returned, never matched.
    assert "SOPInstanceUID" not in query.matchers and "InstitutionName" not in query.matchers
    assert query.describe() == "Study Root STUDY (PatientName, StudyDate, ModalitiesInStudy)"


def response(query, row: dict, our_aet: str = "X") -> Dataset:
    """The response identifier for an index row (by keyword), as pydicom reads it."""
    responses = FindResponses(query, ExplicitVRLittleEndian, our_aet)
    values = [row.get(keyword) for keyword in responses.keywords]
    return read_dataset(io.BytesIO(responses.identifier(values)), is_implicit_VR=False,
                        is_little_endian=True)


def by_tag(ds: Dataset) -> dict:
    return {int(elem.tag): (elem.VR, elem.value) for elem in ds}


def test_response_has_exactly_the_requested_keys_plus_the_unique_key():
    query = parse_find(identifier("SERIES", Modality="CT", NumberOfSeriesRelatedInstances="",
                                  BodyPartExamined="", RetrieveAETitle=""), STUDY_ROOT)
    row = {"Modality": "CT", "NumberOfSeriesRelatedInstances": 12, "BodyPartExamined": "",
           "SeriesInstanceUID": "1.2.3", "StudyInstanceUID": "1.2"}
    ds = response(query, row, "TUIPACS")
    assert "SpecificCharacterSet" not in ds
    assert by_tag(ds) == {
        0x00080052: ("CS", "SERIES"), 0x00080060: ("CS", "CT"),
        0x00201209: ("IS", 12), 0x00180015: ("CS", ""), 0x00080054: ("AE", "TUIPACS"),
        0x0020000E: ("UI", "1.2.3"),
    }


def test_multi_valued_index_values_come_back_as_several_values():
    query = parse_find(identifier("STUDY", ModalitiesInStudy=""), STUDY_ROOT)
    ds = response(query, {"ModalitiesInStudy": "CT\\PT", "StudyInstanceUID": "1"})
    assert list(ds.ModalitiesInStudy) == ["CT", "PT"]


def test_non_ascii_answers_say_utf8():
    query = parse_find(identifier("STUDY", PatientName=""), STUDY_ROOT)
    ds = response(query, {"PatientName": "Müller^Jürgen", "StudyInstanceUID": "1"})
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Müller^Jürgen"
    # The next row is plain ASCII again.
    assert "SpecificCharacterSet" not in response(query, {"PatientName": "DOE",
                                                          "StudyInstanceUID": "2"})


def test_private_creators_are_returned_as_sent():
    ds = identifier("STUDY", StudyInstanceUID="")
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "")
    query = parse_find(ds, STUDY_ROOT)
    answer = response(query, {"StudyInstanceUID": "1"})
    assert answer[0x00090010].value == "ACME 1.0"
    assert not answer[0x00091001].value


@pytest.mark.parametrize("ds, model, message", [
    (identifier("PATIENT"), STUDY_ROOT, "Study Root has no PATIENT level"),
    (identifier("FRAME"), PATIENT_ROOT, "'FRAME' is not PATIENT, STUDY, SERIES or IMAGE"),
])
def test_bad_levels(ds, model, message):
    with pytest.raises(QueryError, match=message) as error:
        parse_find(ds, model)
    assert error.value.code == 0xA900


def test_retrieve_uses_unique_keys_only():
    level, matchers = parse_retrieve(
        identifier("SERIES", StudyInstanceUID="1.2", SeriesInstanceUID="1.2.3\\1.2.4",
                   Modality="CT", PatientID="P1"), STUDY_ROOT)
    assert level is Level.SERIES
    assert matchers == {"StudyInstanceUID": Single("1.2"),
                        "SeriesInstanceUID": ValueList(("1.2.3", "1.2.4"))}


def test_retrieve_in_patient_root_narrows_by_patient():
    _, matchers = parse_retrieve(identifier("STUDY", PatientID="P1", StudyInstanceUID="1.2"),
                                 PATIENT_ROOT)
    assert matchers == {"PatientID": Single("P1"), "StudyInstanceUID": Single("1.2")}


@pytest.mark.parametrize("keys", [{}, {"StudyInstanceUID": ""}])
def test_retrieve_without_its_unique_key_is_refused(keys):
    with pytest.raises(QueryError, match="StudyInstanceUID is needed"):
        parse_retrieve(identifier("STUDY", PatientID="P1", **keys), STUDY_ROOT)
