"""One pass over encoded DICOM bytes: check their structure, collect a few values.

pydicom reads a truncated file without complaint (the last value is simply
short), so the archive walks the element headers itself before it accepts
data: a file cut off mid-transfer, a length that lies or a sequence that
never ends is refused instead of stored. The same walk picks out the raw
bytes of the top-level attributes the index needs, so ingest never builds a
pydicom Dataset: on the C-STORE path that costs more than everything else
put together. Values are not decoded here.
"""

from __future__ import annotations

import functools
import mmap
import struct

from pydicom.datadict import dictionary_VR

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
# VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
                      b"UN", b"UR", b"UT", b"UV"})
# What scan_dataset collects for Pixel Data, in place of its (large) value.
ENCAPSULATED, NATIVE = b"encapsulated", b"native"
# Deeper nesting than this is an attack, not a dataset.
MAX_DEPTH = 64

# tag -> (VR as written, or None in implicit VR; raw value bytes)
RawElements = dict[int, tuple[str | None, bytes]]


class MalformedDataset(ValueError):
    """The bytes do not hold a well-formed dataset; the message says where."""


def scan_dataset(data: bytes | memoryview, implicit_vr: bool, little_endian: bool,
                 collect: frozenset[int] = frozenset()) -> RawElements:
    """Check that ``data`` is a complete sequence of elements; return the raw
    values of the top-level tags in ``collect`` (for Pixel Data, only whether it
    is ENCAPSULATED or NATIVE). Raises MalformedDataset."""
    problem = None
    with memoryview(data) as view:
        if not implicit_vr and len(view) >= 6 and not looks_like_vr(bytes(view[4:6])):
            # Some writers encode implicit VR under an explicit transfer syntax;
            # pydicom reads such files, so the check follows it.
            implicit_vr = True
        walker = _Walker(view, little_endian, collect)
        try:
            end = walker.elements(0, len(view), depth=0, until=None, implicit=implicit_vr)
            if end != len(view):
                problem = f"unexpected bytes at offset {end}"
        except MalformedDataset as exc:
            # Keep only the text: a live traceback would pin the buffer.
            problem = str(exc)
        walker.data = _RELEASED
    if problem:
        raise MalformedDataset(problem)
    return walker.collected


def scan_file_meta(data: bytes | memoryview | mmap.mmap, start: int) -> tuple[RawElements, int]:
    """The File Meta group (explicit VR little endian) from ``start``: its raw
    elements and the offset where the dataset begins."""
    problem = None
    with memoryview(data) as view:
        walker = _Walker(view, little_endian=True, collect=None)
        pos = start
        try:
            while pos + 8 <= len(view) and walker.u16.unpack_from(view, pos)[0] == 0x0002:
                tag, vr, length, value = walker.header(pos, implicit=False)
                if length == UNDEFINED or value + length > len(view):
                    raise MalformedDataset(f"file meta element at offset {pos} runs past the end")
                walker.collected[tag] = (vr.decode("ascii") if vr else None,
                                         bytes(view[value:value + length]))
                pos = value + length
        except MalformedDataset as exc:
            problem = str(exc)
        walker.data = _RELEASED
    if problem:
        raise MalformedDataset(problem)
    return walker.collected, pos


# What a walker holds once done, so that it no longer pins the caller's buffer.
_RELEASED = memoryview(b"")


class _Walker:
    def __init__(self, data: memoryview, little_endian: bool,
                 collect: frozenset[int] | None) -> None:
        self.data = data
        self.collect = collect
        self.collected: RawElements = {}
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
        if not looks_like_vr(vr):
            raise MalformedDataset(f"invalid VR {vr!r} at offset {pos}")
        return tag, vr, self.u16.unpack_from(data, pos + 6)[0], pos + 8

    def elements(self, pos: int, end: int, depth: int, until: int | None, implicit: bool) -> int:
        """Walk elements from ``pos`` to ``end`` (or the ``until`` delimiter); return the end."""
        if depth > MAX_DEPTH:
            raise MalformedDataset(f"sequences nested deeper than {MAX_DEPTH} levels")
        collect = self.collect if depth == 0 else None
        while pos < end:
            tag, vr, length, value = self.header(pos, implicit)
            if until is not None and tag == until:
                return value
            if tag in (ITEM, ITEM_END, SEQUENCE_END):
                raise MalformedDataset(f"delimiter out of place at offset {pos}")
            if collect and tag == PIXEL_DATA and tag in collect:
                self.collected[tag] = (vr.decode("ascii") if vr else None,
                                       ENCAPSULATED if length == UNDEFINED else NATIVE)
            if length == UNDEFINED:
                # An undefined-length UN holds a sequence encoded in implicit VR.
                nested_implicit = implicit or vr == b"UN"
                pos = self.sequence(value, end, depth + 1, fragments=tag == PIXEL_DATA,
                                    implicit=nested_implicit)
                continue
            pos = value + length
            if pos > end:
                raise MalformedDataset(
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset "
                    f"{value - 8} claims {length} bytes, only {end - value} remain"
                )
            if collect and tag in collect and tag != PIXEL_DATA:
                self.collected[tag] = (vr.decode("ascii") if vr else None,
                                       bytes(self.data[value:pos]))
            if vr == b"SQ" or (vr is None and is_sequence_tag(tag)):
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


def looks_like_vr(vr: bytes) -> bool:
    return len(vr) == 2 and vr.isalpha() and vr.isupper()


@functools.lru_cache(maxsize=4096)
def is_sequence_tag(tag: int) -> bool:
    """Implicit VR does not mark sequences: the data dictionary knows them."""
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False
