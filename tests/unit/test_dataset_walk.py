"""The one walk over encoded datasets: headers and positions, from bytes or a file alike."""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from tests.conftest import pydicom_file
from tests.deflate_bombs import explicit_le
from tests.dicom_factory import make_dataset
from tui_pacs.core.dataset_walk import (
    ITEM,
    BufferStream,
    FileStream,
    MalformedDataset,
    walk,
)
from tui_pacs.store.ingest import INDEXED_TAGS
from tui_pacs.store.integrity import scan_file_meta, scan_stream


def test_elements_come_with_their_positions_and_depth():
    ds = make_dataset(rows=2, columns=2)
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    ds.ReferencedImageSequence = [item]
    data = explicit_le(ds)
    elements = list(walk(BufferStream(data), implicit=False, little_endian=True))
    nested = [e for e in elements if e.depth]
    assert [(e.tag, e.depth) for e in nested] == [(0x00081155, 2)]
    assert data[nested[0].value_offset:][:7] == b"1.2.3.4"
    top = [e for e in elements if not e.depth]
    assert [e.tag for e in top] == [int(element.tag) for element in ds]
    for element in top:
        assert element.value_offset - element.offset in (8, 12)
    assert ITEM not in {e.tag for e in elements}  # items are structure, not elements


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("defined", [True, False])
def test_items_in_explicit_vr_are_read_in_either_byte_order(little_endian, defined):
    """An item's header has no VR: its 4-byte length is read whole (PS3.5 7.5)."""
    ds = Dataset()
    ds.PatientID = "PAT"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    ds.ReferencedImageSequence = [item]
    ds.StudyID = "7"
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = little_endian, False
    ds.ReferencedImageSequence.is_undefined_length = not defined
    write_dataset(fp, ds)
    data = fp.getvalue()
    stream = BufferStream(data)
    elements = list(walk(stream, implicit=False, little_endian=little_endian))
    assert [(e.tag, e.depth) for e in elements] == [
        (0x00081140, 0), (0x00081155, 2), (0x00100020, 0), (0x00200010, 0)]
    assert stream.at_end()


def test_a_value_read_by_the_consumer_is_not_skipped_again():
    data = explicit_le(make_dataset(patient_id="PAT42", rows=2, columns=2))
    stream = BufferStream(data)
    values = {e.tag: stream.read(e.length) for e in walk(stream, False, True)
              if e.tag == 0x00100020}
    assert values == {0x00100020: b"PAT42 "}
    assert stream.at_end()


def outcome(scan):
    try:
        return scan()
    except MalformedDataset as exc:
        return str(exc)


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtplan.dcm", "MR_small_bigendian.dcm",
                                  "SC_rgb_rle_2frame.dcm", "UN_sequence.dcm",
                                  "MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_a_file_walked_as_a_stream_agrees_with_its_bytes(name):
    """Read through a file (seeking over values) or from memory: the same
    values collected, the same refusal at the same offset."""
    path = pydicom_file(name)
    data = path.read_bytes()
    meta, start = scan_file_meta(data, 132)
    syntax = UID(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    assert meta[0x00020010][1].rstrip(b"\0 ").decode() == syntax
    in_memory = outcome(lambda: scan_stream(BufferStream(data, start), syntax.is_implicit_VR,
                                            syntax.is_little_endian, INDEXED_TAGS))
    with open(path, "rb") as fp:
        fp.seek(start)
        from_file = outcome(lambda: scan_stream(FileStream(fp), syntax.is_implicit_VR,
                                                syntax.is_little_endian, INDEXED_TAGS))
    assert from_file == in_memory
    assert isinstance(in_memory, dict) == (name not in ("MR_truncated.dcm",
                                                        "rtplan_truncated.dcm"))
