"""One pass over encoded DICOM bytes: check their structure, collect a few values.

pydicom reads a truncated file without complaint (the last value is simply
short), so the archive walks the element headers itself before it accepts
data: a file cut off mid-transfer, a length that lies or a sequence that
never ends is refused instead of stored. The same walk picks out the raw
bytes of the top-level attributes the index needs, so ingest never builds a
pydicom Dataset: on the C-STORE path that costs more than everything else
put together. Values are not decoded here. The walk itself is
:mod:`tui_pacs.core.dataset_walk`, over bytes in memory, a file or a stream
being inflated (:mod:`~tui_pacs.store.inflate`).
"""

from __future__ import annotations

import mmap

from tui_pacs.core.dataset_walk import (
    PIXEL_DATA,
    UNDEFINED,
    BufferStream,
    ByteStream,
    Element,
    MalformedDataset,
    looks_like_vr,
    read_header,
    walk,
)

__all__ = ["ENCAPSULATED", "MAX_COLLECTED", "NATIVE", "PIXEL_DATA", "MalformedDataset",
           "RawElements", "scan_dataset", "scan_file_meta", "scan_stream"]

# What scan_dataset collects for Pixel Data, in place of its (large) value.
ENCAPSULATED, NATIVE = b"encapsulated", b"native"
# The attributes collected for the index are short strings and numbers; a
# longer value is a lie about its length, and is not read into memory.
MAX_COLLECTED = 65_536

# tag -> (VR as written, or None in implicit VR; raw value bytes)
RawElements = dict[int, tuple[str | None, bytes]]


def scan_dataset(data: bytes | memoryview, implicit_vr: bool, little_endian: bool,
                 collect: frozenset[int] = frozenset()) -> RawElements:
    """Check that ``data`` is a complete sequence of elements; return the raw
    values of the top-level tags in ``collect`` (for Pixel Data, only whether it
    is ENCAPSULATED or NATIVE). Raises MalformedDataset."""
    stream = BufferStream(data)
    try:
        return scan_stream(stream, implicit_vr, little_endian, collect)
    finally:
        stream.release()  # a traceback may outlive the scan; the caller's buffer must not


def scan_stream(stream: ByteStream, implicit_vr: bool, little_endian: bool,
                collect: frozenset[int]) -> RawElements:
    """scan_dataset over any stream of encoded bytes, to its end."""
    if not implicit_vr:
        # Some writers encode implicit VR under an explicit transfer syntax;
        # pydicom reads such files, so the check follows it.
        first = stream.peek(6)
        implicit_vr = len(first) == 6 and not looks_like_vr(first[4:6])
    collected: RawElements = {}
    for element in walk(stream, implicit_vr, little_endian):
        if element.depth or element.tag not in collect:
            continue
        vr = element.vr.decode("ascii") if element.vr else None
        if element.tag == PIXEL_DATA:
            collected[PIXEL_DATA] = (vr, ENCAPSULATED if element.length == UNDEFINED
                                     else NATIVE)
        elif not element.is_sequence:
            collected[element.tag] = (vr, _value(stream, element))
    return collected


def _value(stream: ByteStream, element: Element) -> bytes:
    if element.length > MAX_COLLECTED:
        raise MalformedDataset(f"{element.describe()} claims {element.length} bytes, "
                               "too many for its value")
    value = stream.read(element.length)
    if value is None:
        raise MalformedDataset(f"{element.describe()} claims {element.length} bytes, "
                               "past the end")
    return value


def scan_file_meta(data: bytes | memoryview | mmap.mmap, start: int) -> tuple[RawElements, int]:
    """The File Meta group (explicit VR little endian) from ``start``: its raw
    elements and the offset where the dataset begins."""
    collected: RawElements = {}
    stream = BufferStream(data, start)
    try:
        while len(head := stream.peek(8)) == 8 and head[:2] == b"\x02\x00":
            element = read_header(stream, implicit=False, little_endian=True)
            value = None if element.length == UNDEFINED else stream.read(element.length)
            if value is None:
                raise MalformedDataset(f"file meta element at offset {element.offset} "
                                       "runs past the end")
            collected[element.tag] = (element.vr.decode("ascii") if element.vr else None,
                                      value)
        return collected, stream.pos
    finally:
        stream.release()
