"""Identifiers and index rows: what C-FIND matches and returns, what C-MOVE retrieves."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from tui_pacs.core.matching import Range, Single, Universal, ValueList, Wildcard
from tui_pacs.core.model import Level
from tui_pacs.net.server.qr_model import (
    PATIENT_ROOT,
    STUDY_ROOT,
    QueryError,
    parse_find,
    parse_retrieve,
    response_elements,
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


def by_tag(elements):
    return {tag: (vr, value) for tag, vr, value in elements}


def test_response_has_exactly_the_requested_keys_plus_the_unique_key():
    query = parse_find(identifier("SERIES", Modality="CT", NumberOfSeriesRelatedInstances="",
                                  BodyPartExamined="", RetrieveAETitle=""), STUDY_ROOT)
    row = {"Modality": "CT", "NumberOfSeriesRelatedInstances": 12, "BodyPartExamined": "",
           "SeriesInstanceUID": "1.2.3", "StudyInstanceUID": "1.2"}
    elements, encoding = response_elements(query, row, "TUIPACS")
    assert encoding == "ascii"
    assert by_tag(elements) == {
        0x00080052: ("CS", "SERIES"), 0x00080060: ("CS", "CT"),
        0x00201209: ("IS", 12), 0x00180015: ("CS", None), 0x00080054: ("AE", "TUIPACS"),
        0x0020000E: ("UI", "1.2.3"),
    }


def test_multi_valued_index_values_come_back_as_several_values():
    query = parse_find(identifier("STUDY", ModalitiesInStudy=""), STUDY_ROOT)
    elements, _ = response_elements(query, {"ModalitiesInStudy": "CT\\PT",
                                            "StudyInstanceUID": "1"}, "X")
    assert by_tag(elements)[0x00080061] == ("CS", ["CT", "PT"])


def test_non_ascii_answers_say_utf8():
    query = parse_find(identifier("STUDY", PatientName=""), STUDY_ROOT)
    elements, encoding = response_elements(query, {"PatientName": "Müller^Jürgen",
                                                   "StudyInstanceUID": "1"}, "X")
    assert encoding == "utf-8"
    assert by_tag(elements)[0x00080005] == ("CS", "ISO_IR 192")


def test_private_creators_are_returned_as_sent():
    ds = identifier("STUDY", StudyInstanceUID="")
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "LO", "")
    query = parse_find(ds, STUDY_ROOT)
    elements, _ = response_elements(query, {"StudyInstanceUID": "1"}, "X")
    assert by_tag(elements)[0x00090010] == ("LO", "ACME 1.0")
    assert by_tag(elements)[0x00091001][1] is None


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
