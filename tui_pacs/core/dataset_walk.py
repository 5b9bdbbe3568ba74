"""One walk over an encoded dataset: its elements' headers and positions, read as a stream.

Whoever needs to know what an encoded dataset holds without building a
pydicom Dataset walks it here: the archive's structural scan of received
and imported bytes (``store/integrity``), the same scan of a deflated
dataset as it inflates (``store/inflate``), and the viewer finding where a
file's pixel data starts. The walk checks the structure as it goes (a
length that lies, a sequence that never ends, nesting too deep) and raises
MalformedDataset saying where.

It reads forward only, through a small interface (:class:`ByteStream`): bytes
in memory (:class:`BufferStream`), a file (:class:`FileStream`), or inflated
bytes as they come. Values are never read by the walk; a consumer may read
the value of the element just yielded from the stream, and the walk skips
whatever it left. So memory stays bounded whatever the size of the values.
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple, Protocol

from pydicom.datadict import dictionary_VR

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
# VRs with a 2-byte reserved field and a 4-byte length in explicit VR.
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
                      b"UN", b"UR", b"UT", b"UV"})
# Deeper nesting than this is an attack, not a dataset.
MAX_DEPTH = 64


class MalformedDataset(ValueError):
    """The bytes do not hold a well-formed dataset; the message says where."""


class ByteStream(Protocol):
    """Encoded bytes read forward. ``pos`` is the offset of the next byte."""

    pos: int

    @property
    def size(self) -> int | None:
        """Offset of the end, when known in advance (not while inflating)."""

    def read(self, n: int) -> bytes | None:
        """The next ``n`` bytes, or None when the stream ends first."""

    def skip(self, n: int) -> bool:
        """Pass over the next ``n`` bytes; False when the stream ends first."""

    def peek(self, n: int) -> bytes:
        """Up to ``n`` next bytes, staying where it is."""

    def at_end(self) -> bool: ...


class BufferStream:
    """Bytes in memory (or memory-mapped), from ``start``.

    Holds a view of the caller's buffer until :meth:`release`: a memory-mapped
    file cannot be closed while a view of it exists.
    """

    def __init__(self, data: bytes | memoryview | mmap.mmap, start: int = 0) -> None:
        self._view = memoryview(data)
        self.pos = start
        self.size = len(self._view)

    def read(self, n: int) -> bytes | None:
        end = self.pos + n
        if end > len(self._view):
            return None
        value = bytes(self._view[self.pos:end])
        self.pos = end
        return value

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...] | None:
        """:func:`_unpack`, in place: the bytes are not copied first."""
        end = self.pos + layout.size
        if end > len(self._view):
            return None
        fields = layout.unpack_from(self._view, self.pos)
        self.pos = end
        return fields

    def skip(self, n: int) -> bool:
        if self.pos + n > len(self._view):
            return False
        self.pos += n
        return True

    def peek(self, n: int) -> bytes:
        return bytes(self._view[self.pos:self.pos + n])

    def at_end(self) -> bool:
        return self.pos >= len(self._view)

    def release(self) -> None:
        self._view.release()
        self._view = memoryview(b"")


class FileStream:
    """A binary file, from where it is positioned; skipping seeks instead of reading."""

    def __init__(self, fp: BinaryIO) -> None:
        self._fp = fp
        self.pos = fp.tell()
        self.size = os.fstat(fp.fileno()).st_size

    def read(self, n: int) -> bytes | None:
        value = self._fp.read(n)
        if len(value) < n:
            self._fp.seek(self.pos)
            return None
        self.pos += n
        return value

    def skip(self, n: int) -> bool:
        if self.pos + n > self.size:
            return False
        self.pos += n
        self._fp.seek(self.pos)
        return True

    def peek(self, n: int) -> bytes:
        value = self._fp.read(n)
        self._fp.seek(self.pos)
        return value

    def at_end(self) -> bool:
        return self.pos >= self.size


class Element(NamedTuple):
    """A data element's header: where it is and what it claims."""

    tag: int
    vr: bytes | None      # as written; None in implicit VR
    length: int           # UNDEFINED for sequences and encapsulated pixel data
    offset: int           # of the header
    value_offset: int
    depth: int            # 0 at the top level, +2 for each sequence and item level

    @property
    def is_sequence(self) -> bool:
        """Holds items (or pixel data fragments) rather than a value of its own."""
        return (self.length == UNDEFINED or self.vr == b"SQ"
                or (self.vr is None and is_sequence_tag(self.tag)))

    def describe(self) -> str:
        return f"element ({self.tag >> 16:04X},{self.tag & 0xFFFF:04X}) at offset {self.offset}"


class _Codec:
    """Element headers in one byte order, each read with one unpack."""

    def __init__(self, little_endian: bool) -> None:
        order = "<" if little_endian else ">"
        self.little_endian = little_endian
        self.u32 = struct.Struct(order + "L")
        # tag, 4-byte length; tag, VR, 2-byte length
        self.implicit = struct.Struct(order + "HHL")
        self.explicit = struct.Struct(order + "HH2sH")

    def item_length(self, vr: bytes, short: int) -> int:
        """The 4-byte length of an item or delimiter in explicit VR, read
        as if it had a VR and a 2-byte length (PS3.5 7.5: it has neither)."""
        if self.little_endian:
            return int.from_bytes(vr, "little") | (short << 16)
        return (int.from_bytes(vr, "big") << 16) | short


_CODECS = {True: _Codec(True), False: _Codec(False)}


def read_header(stream: ByteStream, implicit: bool, little_endian: bool,
                depth: int = 0) -> Element:
    """The header of the element at the stream's position; the stream is left at its value.

    Item and delimiter headers (group FFFE) are read as in implicit VR, as PS3.5 7.5 has them.
    """
    return _read_header(stream, implicit, _CODECS[little_endian], depth)


def _read_header(stream: ByteStream, implicit: bool, codec: _Codec, depth: int) -> Element:
    offset = stream.pos
    head = _unpack(stream, codec.implicit if implicit else codec.explicit)
    if head is None:
        raise MalformedDataset(f"element header cut off at offset {offset}")
    if implicit:
        group, number, length = head
        return Element((group << 16) | number, None, length, offset, stream.pos, depth)
    group, number, vr, short = head
    tag = (group << 16) | number
    if group == 0xFFFE:
        return Element(tag, None, codec.item_length(vr, short), offset, stream.pos, depth)
    if vr in LONG_VRS:
        long = _unpack(stream, codec.u32)
        if long is None:
            raise MalformedDataset(f"element header cut off at offset {offset}")
        return Element(tag, vr, long[0], offset, stream.pos, depth)
    if not (vr.isalpha() and vr.isupper()):  # looks_like_vr, inline: once per element
        raise MalformedDataset(f"invalid VR {vr!r} at offset {offset}")
    return Element(tag, vr, short, offset, stream.pos, depth)


def _unpack(stream: ByteStream, layout: struct.Struct) -> tuple[Any, ...] | None:
    """The next ``layout.size`` bytes, unpacked; None when the stream ends first."""
    if isinstance(stream, BufferStream):
        return stream.unpack(layout)
    raw = stream.read(layout.size)
    return None if raw is None else layout.unpack(raw)


def walk(stream: ByteStream, implicit: bool, little_endian: bool) -> Iterator[Element]:
    """Every data element from the stream's position to its end, nested ones included.

    The consumer may read the value of the element it was just given (not of a
    sequence); the walk passes over the rest. Raises MalformedDataset.
    """
    return _Walk(stream, little_endian).elements(stream.size, 0, None, implicit, None)


class _Walk:
    """The rules of PS3.5 7.1 and 7.5, checked as the elements go by."""

    def __init__(self, stream: ByteStream, little_endian: bool) -> None:
        self.stream = stream
        self.codec = _CODECS[little_endian]

    def _more_before(self, end: int | None) -> bool:
        return not self.stream.at_end() if end is None else self.stream.pos < end

    def elements(self, end: int | None, depth: int, until: int | None, implicit: bool,
                 item: int | None) -> Iterator[Element]:
        """Elements up to ``end`` or the ``until`` delimiter; ``item``: the offset
        of the defined-length item they fill, which must end exactly at ``end``."""
        if depth > MAX_DEPTH:
            raise MalformedDataset(f"sequences nested deeper than {MAX_DEPTH} levels")
        stream = self.stream
        while self._more_before(end):
            element = _read_header(stream, implicit, self.codec, depth)
            if until is not None and element.tag == until:
                return
            if element.tag in (ITEM, ITEM_END, SEQUENCE_END):
                raise MalformedDataset(f"delimiter out of place at offset {element.offset}")
            if element.length == UNDEFINED:
                yield element
                # An undefined-length UN holds a sequence encoded in implicit VR.
                yield from self.sequence(end, depth + 1, element.tag == PIXEL_DATA,
                                         implicit or element.vr == b"UN")
                continue
            value_end = element.value_offset + element.length
            if end is not None and value_end > end:
                raise MalformedDataset(f"{element.describe()} claims {element.length} bytes, "
                                       f"only {end - element.value_offset} remain")
            yield element
            if element.is_sequence:
                yield from self.defined_sequence(value_end, depth + 1, implicit)
            elif stream.pos < value_end and not stream.skip(value_end - stream.pos):
                raise MalformedDataset(f"{element.describe()} claims {element.length} bytes, "
                                       "past the end")
        if until is not None:
            raise MalformedDataset("sequence or item has no end delimiter (truncated)")
        if item is not None and stream.pos != end:
            raise MalformedDataset(f"item at offset {item} runs past the end")

    def sequence(self, end: int | None, depth: int, fragments: bool,
                 implicit: bool) -> Iterator[Element]:
        """Items of an undefined-length sequence (or pixel fragments) up to its delimiter."""
        stream = self.stream
        while self._more_before(end):
            item = _read_header(stream, True, self.codec, depth)
            if item.tag == SEQUENCE_END:
                return
            if item.tag != ITEM:
                raise MalformedDataset(f"expected an item at offset {item.offset}")
            if item.length == UNDEFINED and fragments:
                raise MalformedDataset(f"pixel data fragment of undefined length at "
                                       f"{item.offset}")
            if item.length == UNDEFINED:
                yield from self.elements(end, depth + 1, ITEM_END, implicit, None)
                continue
            item_end = item.value_offset + item.length
            if end is not None and item_end > end:
                raise MalformedDataset(f"item at offset {item.offset} runs past the end")
            if fragments:
                if not stream.skip(item.length):
                    raise MalformedDataset(f"item at offset {item.offset} runs past the end")
            else:
                yield from self.elements(item_end, depth + 1, None, implicit, item.offset)
        raise MalformedDataset("sequence has no end delimiter (truncated)")

    def defined_sequence(self, end: int, depth: int, implicit: bool) -> Iterator[Element]:
        """Items of a sequence whose length is given."""
        stream = self.stream
        while stream.pos < end:
            item = _read_header(stream, True, self.codec, depth)
            if item.tag != ITEM:
                raise MalformedDataset(f"expected an item at offset {item.offset}")
            if item.length == UNDEFINED:
                yield from self.elements(end, depth + 1, ITEM_END, implicit, None)
                continue
            item_end = item.value_offset + item.length
            if item_end > end:
                raise MalformedDataset(f"item at offset {item.offset} runs past its sequence")
            yield from self.elements(item_end, depth + 1, None, implicit, item.offset)


def looks_like_vr(vr: bytes) -> bool:
    return len(vr) == 2 and vr.isalpha() and vr.isupper()


@functools.lru_cache(maxsize=4096)
def is_sequence_tag(tag: int) -> bool:
    """Implicit VR does not mark sequences: the data dictionary knows them."""
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False
