"""Hand-encoded C-FIND responses are byte for byte what pydicom writes."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode

from tui_pacs.net.wire.encoding import C_FIND_RSP, C_STORE_RSP, encode_dataset, response_command

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


@pytest.mark.parametrize("has_dataset", [True, False])
def test_command_set_equals_pynetdicom(has_dataset):
    from pynetdicom.dimse_messages import C_FIND_RSP as Message

    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = 7
    rsp.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.1"
    rsp.Status = 0xFF00
    if has_dataset:
        rsp.Identifier = BytesIO(b"x")
    message = Message()
    message.primitive_to_message(rsp)
    expected = encode(message.command_set, True, True)
    assert response_command(C_FIND_RSP, "1.2.840.10008.5.1.4.1.2.2.1", 7, 0xFF00,
                            has_dataset) == expected


@pytest.mark.parametrize("code", [0x0000, 0xA700])
def test_store_response_equals_pynetdicom(code):
    from pynetdicom.dimse_messages import C_STORE_RSP as Message
    from pynetdicom.dimse_primitives import C_STORE

    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = 300
    rsp.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    rsp.AffectedSOPInstanceUID = "1.2.3.4.5"
    rsp.Status = code
    message = Message()
    message.primitive_to_message(rsp)
    expected = encode(message.command_set, True, True)
    assert response_command(C_STORE_RSP, "1.2.840.10008.5.1.4.1.1.2", 300, code,
                            sop_instance_uid="1.2.3.4.5") == expected


@pytest.mark.parametrize("primitive_name", ["C_MOVE", "C_GET"])
@pytest.mark.parametrize("code", [0xFF00, 0x0000, 0xFE00])
def test_retrieve_response_equals_pynetdicom(primitive_name, code):
    from pynetdicom import dimse_messages, dimse_primitives

    from tui_pacs.net.wire.encoding import (
        C_GET_RSP,
        C_MOVE_RSP,
        COMPLETED,
        FAILED,
        REMAINING,
        WARNING,
    )

    rsp = getattr(dimse_primitives, primitive_name)()
    rsp.MessageIDBeingRespondedTo = 3
    rsp.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.2"
    rsp.Status = code
    counts = [(COMPLETED, 7), (FAILED, 1), (WARNING, 0)]
    if code != 0x0000:
        rsp.NumberOfRemainingSuboperations = 12
        counts.insert(0, (REMAINING, 12))
    rsp.NumberOfCompletedSuboperations = 7
    rsp.NumberOfFailedSuboperations = 1
    rsp.NumberOfWarningSuboperations = 0
    message = getattr(dimse_messages, f"{primitive_name}_RSP")()
    message.primitive_to_message(rsp)
    expected = encode(message.command_set, True, True)
    field = C_MOVE_RSP if primitive_name == "C_MOVE" else C_GET_RSP
    assert response_command(field, "1.2.840.10008.5.1.4.1.2.2.2", 3, code,
                            suboperations=counts) == expected
