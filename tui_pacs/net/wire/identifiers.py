"""C-FIND response identifiers encoded by hand, for speed.

pynetdicom encodes every response identifier through pydicom's dataset
writer: with the command set, about 1 ms per C-FIND response, most of the
time of a C-FIND that returns 2,000 studies. An identifier is a handful of
short elements whose values are at hand as text or numbers, so they are
written here directly, in any of the uncompressed transfer syntaxes a
Query/Retrieve context can use (command sets: :mod:`tui_pacs.net.wire.commands`).
Tests compare the bytes with pydicom's.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Any

from pydicom.uid import UID

# VRs with a 4-byte length (and 2 reserved bytes) in explicit VR.
_LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                       "UT", "UV"})
# Binary numbers: struct code per VR.
_BINARY = {"US": "H", "UL": "L", "SS": "h", "SL": "l", "FL": "f", "FD": "d"}
# Text padded with NUL rather than space.
_NUL_PADDED = frozenset({"UI"})

Element = tuple[int, str, Any]  # (tag, VR, value or None)


def encode_dataset(elements: Iterable[Element], transfer_syntax: str,
                   encoding: str = "ascii") -> bytes:
    """Elements (sorted by tag here) as a dataset in an uncompressed transfer syntax.

    Values: None (empty), str, int, float, or a list of those (several
    values). Sequences are written empty. Text is encoded with ``encoding``.
    """
    ts = UID(transfer_syntax)
    explicit = not ts.is_implicit_VR
    order = "<" if ts.is_little_endian else ">"
    parts = [_element(tag, vr, value, explicit, order, encoding)
             for tag, vr, value in sorted(elements, key=lambda e: e[0])]
    data = b"".join(parts)
    if ts.is_deflated:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(data) + compressor.flush()
    return data


def _element(tag: int, vr: str, value: Any, explicit: bool, order: str,
             encoding: str) -> bytes:
    payload = _value_bytes(vr, value, order, encoding)
    head = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + struct.pack(order + "L", len(payload)) + payload
    if vr in _LONG_VRS:
        return head + vr.encode() + b"\0\0" + struct.pack(order + "L", len(payload)) + payload
    return head + vr.encode() + struct.pack(order + "H", len(payload)) + payload


def _value_bytes(vr: str, value: Any, order: str, encoding: str) -> bytes:
    if value is None or vr == "SQ" or value == []:
        return b""
    values = value if isinstance(value, list) else [value]
    if vr in _BINARY:
        return struct.pack(f"{order}{len(values)}{_BINARY[vr]}", *values)
    text = "\\".join(str(v) for v in values).encode(encoding)
    if len(text) % 2:
        text += b"\0" if vr in _NUL_PADDED else b" "
    return text
