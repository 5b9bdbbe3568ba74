"""The Basic Profile's removals that complement dicognito: every name a real
attribute, repeating groups and nested elements removed, the same mapping for
the same export."""

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from tests.dicom_factory import file_meta_for, make_dataset
from tui_pacs.services.deidentify import EMPTIED, REMOVED, Deidentifier


def dataset(**values) -> Dataset:
    """An instance as read from a file (with its file meta)."""
    ds = make_dataset(**values)
    ds.file_meta = file_meta_for(ds)
    return ds


def test_every_listed_attribute_is_a_dicom_keyword():
    assert [k for k in (*REMOVED, *EMPTIED) if tag_for_keyword(k) is None] == []


def test_overlays_curves_and_nested_free_text_are_removed():
    ds = dataset(description="CT HEAD")
    ds.add_new(0x60003000, "OW", b"\0\0")
    ds.add_new(0x60000010, "US", 64)  # overlay rows: not identifying, kept
    ds.add_new(0x50000005, "US", 1)
    item = Dataset()
    item.ImageComments = "seen by Dr Who"
    ds.ReferencedImageSequence = [item]
    Deidentifier("seed")(ds)
    assert 0x60003000 not in ds and 0x50000005 not in ds and 0x60000010 in ds
    assert "StudyDescription" not in ds and "SeriesDescription" not in ds
    assert "ImageComments" not in ds.ReferencedImageSequence[0]


def test_one_deidentifier_maps_a_value_the_same_way_every_time():
    deidentify = Deidentifier("seed")
    first, header = dataset(instance=1), dataset(instance=1)
    del header.PixelData
    deidentify(first)
    deidentify(header)
    for keyword in ("StudyInstanceUID", "SOPInstanceUID", "PatientID", "PatientName",
                    "StudyDate"):
        assert first[keyword].value == header[keyword].value
    assert first.StudyInstanceUID != make_dataset().StudyInstanceUID
