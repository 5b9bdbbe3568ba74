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

from tui_pacs.net.wire.identifiers import Field, IdentifierWriter

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
    assert IdentifierWriter(ELEMENTS, ts).write() == expected


@pytest.mark.parametrize("ts", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_values_from_rows_equal_pydicom(ts):
    """The same elements, their values taken from rows: each identifier is
    what pydicom writes for that row's values."""
    writer = IdentifierWriter([(tag, vr, Field(index))
                               for index, (tag, vr, _) in enumerate(ELEMENTS)], ts)
    rows = [[value for _, _, value in ELEMENTS],
            ["S22", "STUDY", "ROE^RICHARD", "OT", "1.2.3", 7, 1, "head", None, "1", "X", None],
            [None] * len(ELEMENTS)]
    for row in rows:
        expected = [(tag, vr, value) for (tag, vr, _), value in zip(ELEMENTS, row)]
        assert writer.write(row) == encode(as_pydicom(expected), ts.is_implicit_VR,
                                           ts.is_little_endian, ts.is_deflated)


def test_utf8_identifier():
    elements = [(0x00080005, "CS", "ISO_IR 192"), (0x00100010, "PN", "Müller^Jürgen=山田")]
    expected = encode(as_pydicom(elements[1:], "ISO_IR 192"), True, True, False)
    assert IdentifierWriter(elements, ImplicitVRLittleEndian, "utf-8").write() == expected


def test_text_the_encoding_cannot_write_is_refused():
    writer = IdentifierWriter([(0x00100010, "PN", Field(0))], ImplicitVRLittleEndian)
    assert writer.write(["DOE^JANE"]).endswith(b"DOE^JANE")
    with pytest.raises(UnicodeEncodeError):
        writer.write(["Müller"])
