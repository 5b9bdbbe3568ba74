"""A structural check of encoded datasets: every element fits inside the bytes.

pydicom reads a truncated file without complaint (the last value is simply
short), so the archive walks the element headers itself before it accepts
data: a file cut off mid-transfer, a length that lies or a sequence that
never ends is refused instead of stored. Values are not decoded, which keeps
the walk cheap enough for every C-STORE.
"""

from __future__ import annotations

import functools
import struct

from pydicom.datadict import dictionary_VR

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
# VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
                      b"UN", b"UR", b"UT", b"UV"})
# Deeper nesting than this is an attack, not a dataset.
MAX_DEPTH = 64


class MalformedDataset(ValueError):
    """The bytes do not hold a well-formed dataset; the message says where."""


def check_dataset(data: bytes | memoryview, implicit_vr: bool, little_endian: bool) -> None:
    """Raise MalformedDataset unless ``data`` is a complete sequence of elements."""
    view = memoryview(data)
    if not implicit_vr and len(view) >= 6 and not _looks_like_vr(bytes(view[4:6])):
        # Some writers encode implicit VR under an explicit transfer syntax;
        # pydicom reads such files, so the check follows it.
        implicit_vr = True
    walker = _Walker(view, little_endian)
    end = walker.elements(0, len(view), depth=0, until=None, implicit=implicit_vr)
    if end != len(view):
        raise MalformedDataset(f"unexpected bytes at offset {end}")


class _Walker:
    def __init__(self, data: memoryview, little_endian: bool) -> None:
        self.data = data
        order = "<" if little_endian else ">"
        self.tag = struct.Struct(order + "HH")
        self.u16 = struct.Struct(order + "H")
        self.u32 = struct.Struct(order + "L")

    def header(self, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
        """(tag, VR, length, value offset) of the element at ``pos``."""
        data = self.data
        if pos + 8 > len(data):
            raise MalformedDataset(f"element header cut off at offset {pos}")
        group, element = self.tag.unpack_from(data, pos)
        tag = (group << 16) | element
        if group == 0xFFFE or implicit:
            return tag, None, self.u32.unpack_from(data, pos + 4)[0], pos + 8
        vr = bytes(data[pos + 4:pos + 6])
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                raise MalformedDataset(f"element header cut off at offset {pos}")
            return tag, vr, self.u32.unpack_from(data, pos + 8)[0], pos + 12
        if not _looks_like_vr(vr):
            raise MalformedDataset(f"invalid VR {vr!r} at offset {pos}")
        return tag, vr, self.u16.unpack_from(data, pos + 6)[0], pos + 8

    def elements(self, pos: int, end: int, depth: int, until: int | None, implicit: bool) -> int:
        """Walk elements from ``pos`` to ``end`` (or the ``until`` delimiter); return the end."""
        if depth > MAX_DEPTH:
            raise MalformedDataset(f"sequences nested deeper than {MAX_DEPTH} levels")
        while pos < end:
            tag, vr, length, value = self.header(pos, implicit)
            if until is not None and tag == until:
                return value
            if tag in (ITEM, ITEM_END, SEQUENCE_END):
                raise MalformedDataset(f"delimiter out of place at offset {pos}")
            if length == UNDEFINED:
                # An undefined-length UN holds a sequence encoded in implicit VR.
                nested_implicit = implicit or vr == b"UN"
                pos = self.sequence(value, end, depth + 1, fragments=tag == 0x7FE00010,
                                    implicit=nested_implicit)
            else:
                pos = value + length
                if pos > end:
                    raise MalformedDataset(
                        f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset "
                        f"{value - 8} claims {length} bytes, only {end - value} remain"
                    )
                if vr == b"SQ" or (vr is None and _is_sequence_tag(tag)):
                    self.defined_sequence(value, pos, depth + 1, implicit)
        if until is not None:
            raise MalformedDataset("sequence or item has no end delimiter (truncated)")
        return pos

    def sequence(self, pos: int, end: int, depth: int, fragments: bool, implicit: bool) -> int:
        """Items of an undefined-length sequence (or pixel fragments) up to its delimiter."""
        while pos < end:
            tag, _, length, value = self.header(pos, implicit=True)
            if tag == SEQUENCE_END:
                return value
            if tag != ITEM:
                raise MalformedDataset(f"expected an item at offset {pos}")
            if length == UNDEFINED and not fragments:
                pos = self.elements(value, end, depth + 1, until=ITEM_END, implicit=implicit)
            elif length == UNDEFINED:
                raise MalformedDataset(f"pixel data fragment of undefined length at {pos}")
            else:
                pos = value + length
                if pos > end:
                    raise MalformedDataset(f"item at offset {value - 8} runs past the end")
                if not fragments:
                    self.elements(value, pos, depth + 1, until=None, implicit=implicit)
        raise MalformedDataset("sequence has no end delimiter (truncated)")

    def defined_sequence(self, pos: int, end: int, depth: int, implicit: bool) -> None:
        """Items of a sequence whose length is given."""
        while pos < end:
            tag, _, length, value = self.header(pos, implicit=True)
            if tag != ITEM:
                raise MalformedDataset(f"expected an item at offset {pos}")
            if length == UNDEFINED:
                pos = self.elements(value, end, depth + 1, until=ITEM_END, implicit=implicit)
            else:
                pos = value + length
                if pos > end:
                    raise MalformedDataset(f"item at offset {value - 8} runs past its sequence")
                self.elements(value, pos, depth + 1, until=None, implicit=implicit)


def _looks_like_vr(vr: bytes) -> bool:
    return len(vr) == 2 and vr.isalpha() and vr.isupper()


@functools.lru_cache(maxsize=4096)
def _is_sequence_tag(tag: int) -> bool:
    """Implicit VR does not mark sequences: the data dictionary knows them."""
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False
