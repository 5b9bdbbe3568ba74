"""The one command-set codec against pynetdicom's: every DIMSE message, both ways.

The wire layer encodes every command set pynetdicom's service classes send
and decodes every one they receive (:mod:`tui_pacs.net.wire.commands`), so
its tables must say what pynetdicom's say, and its bytes must be the ones
pynetdicom's pydicom-based encoder writes. An upgrade that changes either
fails here.
"""

from __future__ import annotations

from io import BytesIO

import pytest
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.dsutils import encode as pydicom_encode

from tui_pacs.net.wire import commands
from tui_pacs.net.wire.commands import Command, MalformedMessage

UID_CLASS = "1.2.840.10008.5.1.4.1.1.2"
UID_INSTANCE = "1.2.826.0.1.3680043.8.498.1"

# A value for every parameter a primitive may carry.
VALUES = {
    "MessageID": 7, "MessageIDBeingRespondedTo": 7, "AffectedSOPClassUID": UID_CLASS,
    "AffectedSOPInstanceUID": UID_INSTANCE, "RequestedSOPClassUID": UID_CLASS,
    "RequestedSOPInstanceUID": UID_INSTANCE, "Priority": 1, "MoveDestination": "STORESCP",
    "MoveOriginatorApplicationEntityTitle": "MOVESCU", "MoveOriginatorMessageID": 3,
    "Status": 0xB000, "ErrorComment": "something odd", "ErrorID": 5, "EventTypeID": 1,
    "ActionTypeID": 1, "OffendingElement": [0x00100010, 0x00100020],
    "AttributeIdentifierList": [0x00100010], "NumberOfRemainingSuboperations": 4,
    "NumberOfCompletedSuboperations": 3, "NumberOfFailedSuboperations": 2,
    "NumberOfWarningSuboperations": 1,
}


def test_the_message_table_is_pynetdicoms():
    ours = {name: ("CommandGroupLength", *keywords)
            for name, keywords in commands.MESSAGES.values()}
    assert ours == dimse_messages._COMMAND_SET_KEYWORDS
    assert {name.replace("-", "_"): parameter
            for name, parameter in commands.DATASET_PARAMETER.items()} \
        == dimse_messages._DATASET_KEYWORDS
    assert {field: name for field, (name, _) in commands.MESSAGES.items()} \
        == {field: name for field, (name, _) in dimse_messages._MESSAGE_TYPES.items()}


def _primitive(field: int, with_dataset: bool):
    name, keywords = commands.MESSAGES[field]
    primitive = commands._PRIMITIVES[field & ~commands.RESPONSE
                                     if field != commands.C_CANCEL_RQ else field]()
    for keyword in keywords:
        if keyword in VALUES and hasattr(primitive, keyword):
            setattr(primitive, keyword, VALUES[keyword])
    if field & commands.RESPONSE == 0 and field != commands.C_CANCEL_RQ:
        primitive.MessageIDBeingRespondedTo = None
    parameter = commands.DATASET_PARAMETER.get(name)
    if parameter and with_dataset:
        setattr(primitive, parameter, BytesIO(b"\x08\x00\x16\x00\x00\x00\x00\x00"))
    return primitive


def _pynetdicom_bytes(primitive, field: int) -> bytes:
    message = dimse_messages._MESSAGE_TYPES[field][1]()
    message.primitive_to_message(primitive)
    return pydicom_encode(message.command_set, True, True)


@pytest.mark.parametrize("with_dataset", [True, False])
@pytest.mark.parametrize("field", sorted(commands.MESSAGES))
def test_every_message_encodes_as_pynetdicom_does(field, with_dataset):
    primitive = _primitive(field, with_dataset)
    command, dataset = commands.from_primitive(primitive)
    assert command == _pynetdicom_bytes(primitive, field)
    assert (dataset is not None) == (with_dataset and commands.MESSAGES[field][0]
                                     in commands.DATASET_PARAMETER)


@pytest.mark.parametrize("field", sorted(commands.MESSAGES))
def test_every_message_decodes_to_the_primitive_it_came_from(field):
    primitive = _primitive(field, with_dataset=True)
    command, dataset = commands.from_primitive(primitive)
    decoded = commands.to_primitive(3, Command(command), dataset)
    assert type(decoded) is type(primitive)
    assert decoded._context_id == 3
    for keyword in commands.MESSAGES[field][1]:
        if hasattr(primitive, keyword) and keyword not in ("CommandField",
                                                           "CommandDataSetType"):
            assert getattr(decoded, keyword) == getattr(primitive, keyword), keyword


def test_the_builders_write_what_the_primitives_would():
    rsp = dimse_primitives.C_STORE()
    rsp.MessageIDBeingRespondedTo = 300
    rsp.AffectedSOPClassUID = UID_CLASS
    rsp.AffectedSOPInstanceUID = UID_INSTANCE
    rsp.Status = 0xA700
    rsp.ErrorComment = "out of resources"
    assert commands.response(commands.C_STORE_RSP, UID_CLASS, 300, 0xA700,
                             sop_instance=UID_INSTANCE, comment="out of resources") \
        == commands.from_primitive(rsp)[0]

    move = dimse_primitives.C_MOVE()
    move.MessageIDBeingRespondedTo = 3
    move.AffectedSOPClassUID = UID_CLASS
    move.Status = 0xFF00
    move.NumberOfRemainingSuboperations = 12
    move.NumberOfCompletedSuboperations = 7
    move.NumberOfFailedSuboperations = 1
    move.NumberOfWarningSuboperations = 0
    counts = [(commands.REMAINING, 12), (commands.COMPLETED, 7), (commands.FAILED, 1),
              (commands.WARNING, 0)]
    assert commands.response(commands.C_MOVE_RSP, UID_CLASS, 3, 0xFF00,
                             suboperations=counts) == commands.from_primitive(move)[0]

    store = dimse_primitives.C_STORE()
    store.MessageID = 9
    store.AffectedSOPClassUID = UID_CLASS
    store.AffectedSOPInstanceUID = UID_INSTANCE
    store.Priority = commands.MEDIUM_PRIORITY
    store.MoveOriginatorApplicationEntityTitle = "MOVESCU"
    store.MoveOriginatorMessageID = 4
    store.DataSet = BytesIO(b"x")
    assert commands.store_request(9, UID_CLASS, UID_INSTANCE, ("MOVESCU", 4)) \
        == commands.from_primitive(store)[0]

    cancel = dimse_primitives.C_CANCEL()
    cancel.MessageIDBeingRespondedTo = 5
    assert commands.cancel_request(5) == commands.from_primitive(cancel)[0]


def test_an_error_comment_is_cut_to_what_lo_allows():
    command = Command(commands.response(commands.C_FIND_RSP, UID_CLASS, 1, 0xC000,
                                        comment="x" * 100))
    assert command.text(commands.ERROR_COMMENT) == "x" * 64


@pytest.mark.parametrize("data", [
    b"\x00\x00\x00\x00\x04\x00",  # a truncated element header
    b"\x08\x00\x00\x01\x02\x00\x00\x00\x01\x00",  # not group 0000
    b"\x00\x00\x00\x01\x10\x00\x00\x00\x01\x00",  # a value longer than the data
])
def test_a_command_that_is_not_a_list_of_group_0000_elements_is_refused(data):
    with pytest.raises(MalformedMessage):
        Command(data)


def test_an_unknown_command_field_is_refused():
    with pytest.raises(MalformedMessage):
        commands.to_primitive(1, Command(commands.encode({commands.COMMAND_FIELD: 0x0042})),
                              None)
