"""C-FIND response identifiers encoded by hand, for speed.

pynetdicom encodes every response identifier through pydicom's dataset
writer: with the command set, about 1 ms per C-FIND response, most of the
time of a C-FIND that returns 2,000 studies. An identifier is a handful of
short elements whose values are at hand as text or numbers, so they are
written here directly, in any of the uncompressed transfer syntaxes a
Query/Retrieve context can use (command sets: :mod:`tui_pacs.net.wire.commands`).

The responses to one query all carry the same elements; only the values
taken from each match change. :class:`IdentifierWriter` works out once what
does not (the order, each element's header, the fixed values written out),
so each response costs only its own values. Tests compare the bytes with
pydicom's.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from pydicom.uid import UID

# VRs with a 4-byte length (and 2 reserved bytes) in explicit VR.
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                       "UT", "UV"})
# Binary numbers: struct code per VR.
_BINARY = {"US": "H", "UL": "L", "SS": "h", "SL": "l", "FL": "f", "FD": "d"}
# Text padded with NUL rather than space.
_NUL_PADDED = frozenset({"UI"})


class Field(NamedTuple):
    """An element's value taken from each row, from this column."""

    column: int


# (tag, VR, value): the value None (empty), a str, int or float, a list of
# those (several values), or a Field.
Element = tuple[int, str, Any]


class IdentifierWriter:
    """Writes identifiers that carry the same elements, some of whose values
    come from each row (:class:`Field`), in one transfer syntax and text
    encoding. Sequences are written empty.

    Raises UnicodeEncodeError, when made or when writing, for text that
    ``encoding`` cannot encode.
    """

    def __init__(self, elements: Iterable[Element], transfer_syntax: str,
                 encoding: str = "ascii") -> None:
        ts = UID(transfer_syntax)
        self._explicit = not ts.is_implicit_VR
        self._order = "<" if ts.is_little_endian else ">"
        self._deflated = ts.is_deflated
        self._encoding = encoding
        # The identifier's elements in order: the fixed ones written out, a
        # placeholder where a row's value goes.
        self._parts: list[bytes] = []
        # Per row value: (its place in _parts, its index in the row, header,
        # struct of its length, VR, padding byte if a text VR else b"").
        self._fields: list[tuple[int, int, bytes, struct.Struct, str, bytes]] = []
        for tag, vr, value in sorted(elements, key=lambda element: element[0]):
            head, length = self._header(tag, vr)
            if isinstance(value, Field):
                self._fields.append((len(self._parts), value.column, head, length, vr,
                                     _padding(vr)))
                self._parts.append(b"")
            else:
                payload = self._value_bytes(vr, value)
                self._parts.append(head + length.pack(len(payload)) + payload)

    def write(self, row: Sequence[Any] = ()) -> bytes:
        """The identifier, with the values of ``row`` in its fields."""
        parts = self._parts.copy()
        encoding = self._encoding
        for place, index, head, length, vr, pad in self._fields:
            value = row[index]
            if pad and value.__class__ is str:  # most values: text as the index holds it
                text = value.encode(encoding)
                if len(text) % 2:
                    text += pad
            else:
                text = self._value_bytes(vr, value)
            parts[place] = head + length.pack(len(text)) + text
        data = b"".join(parts)
        if self._deflated:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                          -zlib.MAX_WBITS)
            data = compressor.compress(data) + compressor.flush()
        return data

    def _header(self, tag: int, vr: str) -> tuple[bytes, struct.Struct]:
        """An element's tag (and VR), and the struct of the length after it."""
        head = struct.pack(self._order + "HH", tag >> 16, tag & 0xFFFF)
        if not self._explicit:
            return head, struct.Struct(self._order + "L")
        if vr in _LONG_VRS:
            return head + vr.encode() + b"\0\0", struct.Struct(self._order + "L")
        return head + vr.encode(), struct.Struct(self._order + "H")

    def _value_bytes(self, vr: str, value: Any) -> bytes:
        if value is None or value == "" or value == [] or vr == "SQ":
            return b""
        if vr in _BINARY:
            values = value if isinstance(value, list) else [value]
            return struct.pack(f"{self._order}{len(values)}{_BINARY[vr]}", *values)
        if isinstance(value, list):
            value = "\\".join(str(v) for v in value)
        text = (value if isinstance(value, str) else str(value)).encode(self._encoding)
        return text + _padding(vr) if len(text) % 2 else text


def _padding(vr: str) -> bytes:
    """What pads a text value to an even length; b"" for binary VRs and sequences."""
    if vr in _BINARY or vr == "SQ":
        return b""
    return b"\0" if vr in _NUL_PADDED else b" "
