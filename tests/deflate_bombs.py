"""Deflated datasets for tests, built a megabyte at a time: a bomb that
inflates to hundreds of megabytes never exists inflated in the test either."""

from __future__ import annotations

import zlib

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from tui_pacs.store.ingest import part10_prefix

MB = 1_048_576
# A private block after Pixel Data: creator (7FE1,0010), then (7FE1,1010) OB.
_CREATOR = b"\xe1\x7f\x10\x00LO\x08\x00BOMB 1.0"
_OB_HEADER = b"\xe1\x7f\x10\x10OB\x00\x00"


def explicit_le(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


def deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return deflater.compress(data) + deflater.flush()


def bomb(ds: Dataset, zeros_mb: int) -> bytes:
    """``ds`` deflated, followed by a private element of ``zeros_mb`` MB of zeros."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(explicit_le(ds) + _CREATOR + _OB_HEADER
                               + (zeros_mb * MB).to_bytes(4, "little"))]
    zeros = bytes(MB)
    parts += [deflater.compress(zeros) for _ in range(zeros_mb)]
    parts.append(deflater.flush())
    return b"".join(parts)


def part10(ds: Dataset, deflated: bytes) -> bytes:
    """A Part 10 file holding the deflated dataset ``deflated`` of ``ds``."""
    return part10_prefix(ds.SOPClassUID, ds.SOPInstanceUID,
                         DeflatedExplicitVRLittleEndian, "") + deflated
