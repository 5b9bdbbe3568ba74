"""C-FIND and retrieve identifiers from keys, and rows from answers."""

import pytest
from pydicom.dataset import Dataset

from tui_pacs.core.keys import BadKey
from tui_pacs.core.model import Level
from tui_pacs.core.query import (
    default_return_keys,
    find_identifier,
    infer_level,
    information_model,
    retrieve_identifier,
    row_from_identifier,
)


def test_a_study_query_asks_for_the_study_columns_and_matches_the_keys():
    ds = find_identifier(Level.STUDY, {"PatientName": "SMI*", "StudyDate": "20240101-20241231"})
    assert ds.QueryRetrieveLevel == "STUDY"
    assert ds.PatientName == "SMI*"
    assert ds.StudyDate == "20240101-20241231"
    assert ds.StudyInstanceUID == ""
    assert "NumberOfStudyRelatedInstances" in ds
    assert "SpecificCharacterSet" not in ds


@pytest.mark.parametrize("level, needed", [
    (Level.SERIES, {"StudyInstanceUID", "SeriesInstanceUID", "Modality"}),
    (Level.IMAGE, {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"}),
    (Level.PATIENT, {"PatientID", "PatientName"}),
])
def test_lower_levels_ask_for_the_unique_keys_above_them(level, needed):
    assert needed <= set(default_return_keys(level))


def test_non_ascii_keys_declare_utf8():
    ds = find_identifier(Level.STUDY, {"PatientName": "MÜLLER*"})
    assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_numbers_are_checked_and_binary_values_refused():
    assert find_identifier(Level.IMAGE, {"Rows": "512"}).Rows == 512
    with pytest.raises(BadKey, match="takes a whole number"):
        find_identifier(Level.IMAGE, {"Rows": "big"})
    with pytest.raises(BadKey, match="cannot be matched"):
        find_identifier(Level.IMAGE, {"PixelData": "00"})


def test_return_keys_can_be_chosen():
    ds = find_identifier(Level.IMAGE, {"StudyInstanceUID": "1.2"},
                         return_keys=("SOPClassUID",))
    assert set(ds.keys()) == {0x00080052, 0x00080016, 0x0020000D}


def test_a_retrieve_carries_only_its_keys():
    ds = retrieve_identifier(Level.SERIES, {"StudyInstanceUID": "1.2",
                                            "SeriesInstanceUID": "1.2.3"})
    assert [e.keyword for e in ds] == ["QueryRetrieveLevel", "StudyInstanceUID",
                                       "SeriesInstanceUID"]


@pytest.mark.parametrize("keys, level", [
    ({"StudyInstanceUID": "1.2"}, Level.STUDY),
    ({"StudyInstanceUID": "1.2", "SeriesInstanceUID": "1.2.3"}, Level.SERIES),
    ({"SOPInstanceUID": "1.2.3.4"}, Level.IMAGE),
    ({"PatientID": "P1"}, Level.PATIENT),
    ({"AccessionNumber": "A7"}, Level.STUDY),
])
def test_the_retrieve_level_follows_the_deepest_unique_key(keys, level):
    assert infer_level(keys) is level


def test_information_models():
    assert information_model(Level.PATIENT, None) == "patient"
    assert information_model(Level.SERIES, None) == "study"
    assert information_model(Level.SERIES, "patient") == "patient"
    with pytest.raises(BadKey, match="no PATIENT level"):
        information_model(Level.PATIENT, "study")


def test_rows_are_keyed_by_keyword_with_numbers_as_numbers():
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "DOE^JANE"
    ds.ModalitiesInStudy = ["CT", "MR"]
    ds.NumberOfStudyRelatedInstances = "12"
    ds.StudyDescription = ""
    assert row_from_identifier(ds) == {"PatientName": "DOE^JANE", "ModalitiesInStudy": "CT\\MR",
                                       "NumberOfStudyRelatedInstances": 12,
                                       "StudyDescription": None}
