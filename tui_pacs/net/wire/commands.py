"""Command sets (PS3.7 6.3, E.1): the one codec for every DIMSE message on the wire.

A command set is a short list of group 0000 elements in Implicit VR Little
Endian: the message's kind, its IDs, its status. Every message tui-pacs
sends is encoded here, whichever association carries it, and every message
it receives is decoded here: the node's requests and responses, the client's
C-STORE, C-GET and C-CANCEL, and pynetdicom's own service classes, whose
primitives :func:`from_primitive` and :func:`to_primitive` translate. The
elements are written by hand: a handful of values at hand as numbers and
text, where pydicom's dataset writer cost about 1 ms per C-FIND response.

``MESSAGES`` says which elements each message may carry (PS3.7 9.3 and
10.3); a test compares it with pynetdicom's table.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from io import BytesIO
from typing import Any

from pydicom.uid import UID
from pynetdicom import dimse_primitives

# Command fields (PS3.7 E.1): a response is its request's field | 0x8000.
C_STORE_RQ, C_GET_RQ, C_FIND_RQ, C_MOVE_RQ, C_ECHO_RQ = 0x0001, 0x0010, 0x0020, 0x0021, 0x0030
N_EVENT_REPORT_RQ, N_GET_RQ, N_SET_RQ = 0x0100, 0x0110, 0x0120
N_ACTION_RQ, N_CREATE_RQ, N_DELETE_RQ = 0x0130, 0x0140, 0x0150
C_CANCEL_RQ = 0x0FFF
RESPONSE = 0x8000
C_STORE_RSP, C_GET_RSP = C_STORE_RQ | RESPONSE, C_GET_RQ | RESPONSE
C_FIND_RSP, C_MOVE_RSP = C_FIND_RQ | RESPONSE, C_MOVE_RQ | RESPONSE

# Command elements (group 0000): element number, keyword, VR.
_ELEMENTS = (
    (0x0000, "CommandGroupLength", "UL"),
    (0x0002, "AffectedSOPClassUID", "UI"),
    (0x0003, "RequestedSOPClassUID", "UI"),
    (0x0100, "CommandField", "US"),
    (0x0110, "MessageID", "US"),
    (0x0120, "MessageIDBeingRespondedTo", "US"),
    (0x0600, "MoveDestination", "AE"),
    (0x0700, "Priority", "US"),
    (0x0800, "CommandDataSetType", "US"),
    (0x0900, "Status", "US"),
    (0x0901, "OffendingElement", "AT"),
    (0x0902, "ErrorComment", "LO"),
    (0x0903, "ErrorID", "US"),
    (0x1000, "AffectedSOPInstanceUID", "UI"),
    (0x1001, "RequestedSOPInstanceUID", "UI"),
    (0x1002, "EventTypeID", "US"),
    (0x1005, "AttributeIdentifierList", "AT"),
    (0x1008, "ActionTypeID", "US"),
    (0x1020, "NumberOfRemainingSuboperations", "US"),
    (0x1021, "NumberOfCompletedSuboperations", "US"),
    (0x1022, "NumberOfFailedSuboperations", "US"),
    (0x1023, "NumberOfWarningSuboperations", "US"),
    (0x1030, "MoveOriginatorApplicationEntityTitle", "AE"),
    (0x1031, "MoveOriginatorMessageID", "US"),
)
ELEMENT = {keyword: number for number, keyword, _ in _ELEMENTS}
KEYWORD = {number: keyword for number, keyword, _ in _ELEMENTS}
_VR = {number: vr for number, _, vr in _ELEMENTS}

GROUP_LENGTH = ELEMENT["CommandGroupLength"]
AFFECTED_SOP_CLASS = ELEMENT["AffectedSOPClassUID"]
COMMAND_FIELD = ELEMENT["CommandField"]
MESSAGE_ID = ELEMENT["MessageID"]
RESPONDING_TO = ELEMENT["MessageIDBeingRespondedTo"]
PRIORITY = ELEMENT["Priority"]
DATASET_TYPE = ELEMENT["CommandDataSetType"]
STATUS = ELEMENT["Status"]
ERROR_COMMENT = ELEMENT["ErrorComment"]
AFFECTED_SOP_INSTANCE = ELEMENT["AffectedSOPInstanceUID"]
REMAINING = ELEMENT["NumberOfRemainingSuboperations"]
COMPLETED = ELEMENT["NumberOfCompletedSuboperations"]
FAILED = ELEMENT["NumberOfFailedSuboperations"]
WARNING = ELEMENT["NumberOfWarningSuboperations"]
MOVE_ORIGINATOR_AET = ELEMENT["MoveOriginatorApplicationEntityTitle"]
MOVE_ORIGINATOR_ID = ELEMENT["MoveOriginatorMessageID"]

MEDIUM_PRIORITY = 0x0000
# Command Data Set Type: any value but NO_DATASET means a dataset follows.
HAS_DATASET, NO_DATASET = 0x0001, 0x0101

_RESPONSE_COMMON = ("AffectedSOPClassUID", "CommandField", "MessageIDBeingRespondedTo",
                    "CommandDataSetType", "Status")
_COUNTS = ("NumberOfRemainingSuboperations", "NumberOfCompletedSuboperations",
           "NumberOfFailedSuboperations", "NumberOfWarningSuboperations")
_REQUESTED = ("RequestedSOPClassUID", "CommandField", "MessageID", "CommandDataSetType",
              "RequestedSOPInstanceUID")
_N_RESPONSE = (*_RESPONSE_COMMON, "AffectedSOPInstanceUID")
_C_REQUEST = ("AffectedSOPClassUID", "CommandField", "MessageID", "Priority",
              "CommandDataSetType")

# Command field -> (message name, the elements it may carry besides the group length).
MESSAGES: dict[int, tuple[str, tuple[str, ...]]] = {
    C_ECHO_RQ: ("C-ECHO-RQ", ("AffectedSOPClassUID", "CommandField", "MessageID",
                              "CommandDataSetType")),
    C_ECHO_RQ | RESPONSE: ("C-ECHO-RSP", (*_RESPONSE_COMMON, "ErrorComment")),
    C_STORE_RQ: ("C-STORE-RQ", (*_C_REQUEST, "AffectedSOPInstanceUID",
                                "MoveOriginatorApplicationEntityTitle",
                                "MoveOriginatorMessageID")),
    C_STORE_RSP: ("C-STORE-RSP", (*_RESPONSE_COMMON, "AffectedSOPInstanceUID",
                                  "OffendingElement", "ErrorComment")),
    C_FIND_RQ: ("C-FIND-RQ", _C_REQUEST),
    C_FIND_RSP: ("C-FIND-RSP", (*_RESPONSE_COMMON, "OffendingElement", "ErrorComment")),
    C_CANCEL_RQ: ("C-CANCEL-RQ", ("CommandField", "MessageIDBeingRespondedTo",
                                  "CommandDataSetType")),
    C_GET_RQ: ("C-GET-RQ", _C_REQUEST),
    C_GET_RSP: ("C-GET-RSP", (*_RESPONSE_COMMON, *_COUNTS, "OffendingElement",
                              "ErrorComment")),
    C_MOVE_RQ: ("C-MOVE-RQ", (*_C_REQUEST, "MoveDestination")),
    C_MOVE_RSP: ("C-MOVE-RSP", (*_RESPONSE_COMMON, *_COUNTS, "OffendingElement",
                                "ErrorComment")),
    N_EVENT_REPORT_RQ: ("N-EVENT-REPORT-RQ", ("AffectedSOPClassUID", "CommandField",
                                              "MessageID", "CommandDataSetType",
                                              "AffectedSOPInstanceUID", "EventTypeID")),
    N_EVENT_REPORT_RQ | RESPONSE: ("N-EVENT-REPORT-RSP", (*_N_RESPONSE, "EventTypeID",
                                                          "ErrorID", "ErrorComment")),
    N_GET_RQ: ("N-GET-RQ", (*_REQUESTED, "AttributeIdentifierList")),
    N_GET_RQ | RESPONSE: ("N-GET-RSP", (*_N_RESPONSE, "AttributeIdentifierList",
                                        "ErrorComment", "ErrorID")),
    N_SET_RQ: ("N-SET-RQ", _REQUESTED),
    N_SET_RQ | RESPONSE: ("N-SET-RSP", (*_N_RESPONSE, "AttributeIdentifierList",
                                        "ErrorComment", "ErrorID")),
    N_ACTION_RQ: ("N-ACTION-RQ", (*_REQUESTED, "ActionTypeID")),
    N_ACTION_RQ | RESPONSE: ("N-ACTION-RSP", (*_N_RESPONSE, "ActionTypeID", "ErrorID",
                                              "ErrorComment")),
    N_CREATE_RQ: ("N-CREATE-RQ", ("AffectedSOPClassUID", "CommandField", "MessageID",
                                  "CommandDataSetType", "AffectedSOPInstanceUID")),
    N_CREATE_RQ | RESPONSE: ("N-CREATE-RSP", (*_N_RESPONSE, "ErrorID", "ErrorComment")),
    N_DELETE_RQ: ("N-DELETE-RQ", _REQUESTED),
    N_DELETE_RQ | RESPONSE: ("N-DELETE-RSP", (*_N_RESPONSE, "ErrorComment", "ErrorID")),
}

# The primitive parameter that holds a message's dataset (PS3.7 9.1, 10.1).
DATASET_PARAMETER = {
    "C-STORE-RQ": "DataSet", "C-FIND-RQ": "Identifier", "C-FIND-RSP": "Identifier",
    "C-GET-RQ": "Identifier", "C-GET-RSP": "Identifier", "C-MOVE-RQ": "Identifier",
    "C-MOVE-RSP": "Identifier", "N-EVENT-REPORT-RQ": "EventInformation",
    "N-EVENT-REPORT-RSP": "EventReply", "N-GET-RSP": "AttributeList",
    "N-SET-RQ": "ModificationList", "N-SET-RSP": "AttributeList",
    "N-ACTION-RQ": "ActionInformation", "N-ACTION-RSP": "ActionReply",
    "N-CREATE-RQ": "AttributeList", "N-CREATE-RSP": "AttributeList",
}
# pynetdicom's primitive class for each request field.
_PRIMITIVES = {
    C_ECHO_RQ: dimse_primitives.C_ECHO, C_STORE_RQ: dimse_primitives.C_STORE,
    C_FIND_RQ: dimse_primitives.C_FIND, C_GET_RQ: dimse_primitives.C_GET,
    C_MOVE_RQ: dimse_primitives.C_MOVE, C_CANCEL_RQ: dimse_primitives.C_CANCEL,
    N_EVENT_REPORT_RQ: dimse_primitives.N_EVENT_REPORT, N_GET_RQ: dimse_primitives.N_GET,
    N_SET_RQ: dimse_primitives.N_SET, N_ACTION_RQ: dimse_primitives.N_ACTION,
    N_CREATE_RQ: dimse_primitives.N_CREATE, N_DELETE_RQ: dimse_primitives.N_DELETE,
}
_FIELD_OF = {cls: field for field, cls in _PRIMITIVES.items()}

_ELEMENT_HEADER = struct.Struct("<HHL")
_US, _UL = struct.Struct("<H"), struct.Struct("<L")
# Values the standard caps at 64 characters (LO), and AE titles at 16.
_MAX_LENGTH = {"LO": 64, "AE": 16}


class MalformedMessage(ValueError):
    """A message that breaks the rules: a command set that is not a list of
    group 0000 elements, an unknown command field, fragments out of order."""


class Command:
    """A received command set: its raw values by element number (group 0000)."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._values: dict[int, bytes] = {}
        position, end = 0, len(data)
        while position < end:
            if position + 8 > end:
                raise MalformedMessage("truncated element header")
            group, element, length = _ELEMENT_HEADER.unpack_from(data, position)
            position += 8
            if group != 0x0000 or position + length > end:
                raise MalformedMessage(f"unexpected element ({group:04X},{element:04X})")
            self._values[element] = bytes(data[position:position + length])
            position += length

    def number(self, element: int) -> int | None:
        """A US or UL value; None when absent."""
        value = self._values.get(element)
        if value is None or len(value) not in (2, 4):
            return None
        return (_US if len(value) == 2 else _UL).unpack(value)[0]

    def text(self, element: int) -> str:
        """A UI, AE or LO value without its padding; "" when absent."""
        return self._values.get(element, b"").decode("ascii", "replace").strip("\0 ")

    def tags(self, element: int) -> list[int]:
        """An AT value: the tags it lists."""
        value = self._values.get(element, b"")
        return [group << 16 | number for group, number
                in struct.iter_unpack("<HH", value[:len(value) // 4 * 4])]

    def __contains__(self, element: int) -> bool:
        return element in self._values

    def __iter__(self) -> Iterator[int]:
        return iter(self._values)

    @property
    def field(self) -> int | None:
        return self.number(COMMAND_FIELD)

    @property
    def has_dataset(self) -> bool:
        return self.number(DATASET_TYPE) not in (None, NO_DATASET)

    @property
    def status(self) -> int | None:
        return self.number(STATUS)


def encode(values: Mapping[int, Any]) -> bytes:
    """A command set from {element number: value} (None: left out), in
    element order, behind its group length.

    Values: int for US and UL, str for UI, AE and LO, a list of tags for AT.
    """
    body = b"".join(_element(element, values[element]) for element in sorted(values)
                    if values[element] is not None and element != GROUP_LENGTH)
    return _ELEMENT_HEADER.pack(0, GROUP_LENGTH, 4) + _UL.pack(len(body)) + body


def request(field: int, sop_class: str, message_id: int, has_dataset: bool,
            **others: Any) -> bytes:
    """A C-STORE, C-FIND, C-GET or C-MOVE request at medium priority; ``others``
    by keyword (AffectedSOPInstanceUID, MoveDestination, ...)."""
    values = {AFFECTED_SOP_CLASS: sop_class, COMMAND_FIELD: field, MESSAGE_ID: message_id,
              PRIORITY: MEDIUM_PRIORITY, DATASET_TYPE: HAS_DATASET if has_dataset else NO_DATASET}
    values.update((ELEMENT[keyword], value) for keyword, value in others.items())
    return encode(values)


def store_request(message_id: int, sop_class: str, sop_instance: str,
                  originator: tuple[str, int] | None = None) -> bytes:
    """A C-STORE-RQ (PS3.7 9.3.1.1); ``originator``: the AE title and Message ID
    of the C-MOVE it is a sub-operation of."""
    aet, move_id = originator if originator is not None else (None, None)
    return request(C_STORE_RQ, sop_class, message_id, True,
                   AffectedSOPInstanceUID=sop_instance,
                   MoveOriginatorApplicationEntityTitle=aet, MoveOriginatorMessageID=move_id)


def cancel_request(message_id: int) -> bytes:
    """A C-CANCEL-RQ for the request ``message_id``."""
    return encode({COMMAND_FIELD: C_CANCEL_RQ, RESPONDING_TO: message_id,
                   DATASET_TYPE: NO_DATASET})


def response(field: int, sop_class: str | None, message_id: int | None, status: int,
             has_dataset: bool = False, sop_instance: str | None = None,
             suboperations: Iterable[tuple[int, int]] = (), comment: str = "") -> bytes:
    """A response's command set; ``suboperations``: (count element, value) of
    a C-MOVE or C-GET response; ``comment``: the Error Comment of a failure."""
    values: dict[int, Any] = {
        AFFECTED_SOP_CLASS: sop_class or None, COMMAND_FIELD: field,
        RESPONDING_TO: message_id, DATASET_TYPE: HAS_DATASET if has_dataset else NO_DATASET,
        STATUS: status, AFFECTED_SOP_INSTANCE: sop_instance or None,
        ERROR_COMMENT: comment or None}
    values.update(suboperations)
    return encode(values)


def from_primitive(primitive: Any) -> tuple[bytes, BytesIO | None]:
    """A pynetdicom DIMSE primitive as (command set, dataset or None)."""
    field = _FIELD_OF[type(primitive)]
    if field != C_CANCEL_RQ and primitive.MessageIDBeingRespondedTo is not None:
        field |= RESPONSE
    name, keywords = MESSAGES[field]
    parameter = DATASET_PARAMETER.get(name)
    dataset = getattr(primitive, parameter) if parameter else None
    values = {ELEMENT[keyword]: getattr(primitive, keyword, None) for keyword in keywords}
    values[COMMAND_FIELD] = field
    values[DATASET_TYPE] = NO_DATASET if dataset is None else HAS_DATASET
    return encode(values), dataset


def to_primitive(context_id: int, command: Command, dataset: BytesIO | None) -> Any:
    """A received message as the pynetdicom primitive its service classes take;
    raises MalformedMessage for an unknown command or a value it refuses."""
    field = command.field
    if field is None or field not in MESSAGES:
        raise MalformedMessage(f"unknown command field {field!r}")
    name, keywords = MESSAGES[field]
    primitive: Any = _PRIMITIVES[field & ~RESPONSE if field != C_CANCEL_RQ else field]()
    try:
        for keyword in keywords:
            element = ELEMENT[keyword]
            if element in command and hasattr(primitive, keyword):
                setattr(primitive, keyword, _decoded(command, element))
        parameter = DATASET_PARAMETER.get(name)
        if parameter is not None and dataset is not None:
            setattr(primitive, parameter, dataset)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"{name}: {exc}") from None
    primitive._context_id = context_id
    return primitive


def _decoded(command: Command, element: int) -> Any:
    vr = _VR[element]
    if vr in ("US", "UL"):
        return command.number(element)
    if vr == "AT":
        return command.tags(element)
    text = command.text(element)
    return UID(text) if vr == "UI" else text


def _element(element: int, value: Any) -> bytes:
    vr = _VR[element]
    if vr == "US":
        data = _US.pack(value)
    elif vr == "UL":
        data = _UL.pack(value)
    elif vr == "AT":
        tags = [value] if isinstance(value, int) else value
        data = b"".join(struct.pack("<HH", tag >> 16, tag & 0xFFFF) for tag in tags)
    else:
        data = str(value)[:_MAX_LENGTH.get(vr, 64)].encode("ascii", "replace")
        if len(data) % 2:
            data += b"\0" if vr == "UI" else b" "
    return _ELEMENT_HEADER.pack(0, element, len(data)) + data
