"""Hand-encoded C-FIND identifiers are byte for byte what pydicom writes."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom.dsutils import encode

from tui_pacs.net.wire.identifiers import encode_dataset

ELEMENTS = [
    (0x00200010, "SH", "S1"),
    (0x00080052, "CS", "STUDY"),
    (0x00100010, "PN", "DOE^JANE"),
    (0x00080061, "CS", ["CT", "MR"]),
    (0x0020000D, "UI", "1.2.840.10008.123"),
    (0x00201208, "IS", 12),
    (0x00280010, "US", 512),
    (0x00081030, "LO", None),
    (0x00081110, "SQ", None),
    (0x00200032, "DS", ["0", "0.5", "-12.25"]),
    (0x00090010, "LO", "ACME 1.0"),
    (0x00091001, "UN", None),
]


def as_pydicom(elements, charset=None) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    for tag, vr, value in elements:
        if vr == "SQ":
            value = []
        ds.add_new(tag, vr, value)
    return ds


@pytest.mark.parametrize("ts", [ImplicitVRLittleEndian, ExplicitVRLittleEndian,
                                ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian])
def test_identifier_bytes_equal_pydicom(ts):
    expected = encode(as_pydicom(ELEMENTS), ts.is_implicit_VR, ts.is_little_endian,
                      ts.is_deflated)
    assert encode_dataset(ELEMENTS, ts) == expected


def test_utf8_identifier():
    elements = [(0x00080005, "CS", "ISO_IR 192"), (0x00100010, "PN", "Müller^Jürgen=山田")]
    expected = encode(as_pydicom(elements[1:], "ISO_IR 192"), True, True, False)
    assert encode_dataset(elements, ImplicitVRLittleEndian, "utf-8") == expected
