"""The structural scan of encoded datasets: exact on real files, total on garbage."""

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from tests.conftest import PYDICOM_DATA
from tests.dicom_factory import make_dataset
from tui_pacs.store.ingest import INDEXED_TAGS, InvalidInstance, parse_dataset_bytes, parse_file
from tui_pacs.store.integrity import MalformedDataset, scan_dataset

EXPECTED_MALFORMED = {"MR_truncated.dcm", "rtplan_truncated.dcm"}


def bundled_files():
    return sorted(p for folder in ("test_files", "charset_files")
                  for p in (PYDICOM_DATA / folder).glob("*.dcm"))


@pytest.mark.parametrize("path", bundled_files(), ids=lambda p: p.name)
def test_every_bundled_file_scans_or_is_named_as_malformed(path):
    data = path.read_bytes()
    if path.name in EXPECTED_MALFORMED:
        with pytest.raises(InvalidInstance, match="malformed"):
            parse_file(data)
        return
    try:
        parse_file(data)
    except InvalidInstance as exc:
        # Files without the identifiers an archive needs are refused for that reason.
        assert "is missing" in str(exc)
    except Exception as exc:  # NotDicom for DICOMDIRs and bare junk
        assert type(exc).__name__ == "NotDicom"


def encoded(ds, implicit=False, little=True) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian = little
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


@pytest.mark.parametrize("implicit, little", [(False, True), (True, True), (False, False)])
def test_values_are_collected_in_every_encoding(implicit, little):
    ds = make_dataset(patient_name="DOE^JANE", rows=16, columns=32)
    header = parse_dataset_bytes(encoded(ds, implicit, little),
                                 {(False, True): "1.2.840.10008.1.2.1",
                                  (True, True): "1.2.840.10008.1.2",
                                  (False, False): "1.2.840.10008.1.2.2"}[(implicit, little)])
    assert header.text("PatientName") == "DOE^JANE"
    assert header.integer("Rows") == 16 and header.integer("Columns") == 32
    assert header.text("ImagePositionPatient") == "0.0\\0.0\\1.0"
    assert header.identifiers()[2] == ds.SOPInstanceUID


def test_deflated_datasets_are_inflated():
    raw = encoded(make_dataset())
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = deflater.compress(raw) + deflater.flush()
    header = parse_dataset_bytes(deflated, "1.2.840.10008.1.2.1.99")
    assert header.text("PatientID") == "PAT1"
    with pytest.raises(InvalidInstance, match="does not inflate"):
        parse_dataset_bytes(b"not deflate data", "1.2.840.10008.1.2.1.99")


def test_deep_nesting_is_refused():
    item = b"".join([
        b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff",  # ReferencedSeriesSequence, undefined
        b"\xfe\xff\x00\xe0\xff\xff\xff\xff",            # item, undefined
    ])
    data = item * 100
    with pytest.raises(MalformedDataset, match="nested deeper"):
        scan_dataset(data, implicit_vr=False, little_endian=True)


VALID = encoded(make_dataset(rows=4, columns=4))


def mutated(data: st.DataObject, original: bytes) -> bytes:
    """``original`` with a few bytes flipped, runs cut and bytes spliced in."""
    buffer = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        position = data.draw(st.integers(0, max(0, len(buffer) - 1)))
        if kind == "flip" and buffer:
            buffer[position] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del buffer[position:position + data.draw(st.integers(1, 64))]
        else:
            buffer[position:position] = data.draw(st.binary(min_size=1, max_size=16))
    return bytes(buffer)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_datasets_never_escape_as_other_errors(data):
    """Flip, cut and splice bytes: the scan returns or raises MalformedDataset."""
    buffer = mutated(data, VALID)
    implicit = data.draw(st.booleans())
    try:
        scan_dataset(buffer, implicit, True, INDEXED_TAGS)
    except MalformedDataset:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_scan(blob):
    for implicit in (True, False):
        try:
            scan_dataset(blob, implicit, True, INDEXED_TAGS)
        except MalformedDataset:
            pass
