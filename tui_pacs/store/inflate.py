"""Checking a Deflated Explicit VR Little Endian dataset without inflating it whole.

A deflated dataset of one megabyte can inflate to gigabytes (a "deflate
bomb"): inflating it into memory lets any peer that may store exhaust the
node. So the inflated bytes pass through a window of at most a few megabytes:
the same structural walk as :func:`~tui_pacs.store.integrity.scan_dataset`
reads element headers, keeps the values of the attributes it collects and
discards the rest. The whole stream is walked, so that a truncated or
malformed dataset is refused as it is uncompressed, and inflating stops as
soon as it passes the size limit.
"""

from __future__ import annotations

import struct
import zlib

from tui_pacs.store.integrity import (
    ENCAPSULATED,
    ITEM,
    ITEM_END,
    LONG_VRS,
    MAX_DEPTH,
    NATIVE,
    PIXEL_DATA,
    SEQUENCE_END,
    UNDEFINED,
    MalformedDataset,
    RawElements,
    is_sequence_tag,
    looks_like_vr,
)

# Inflated bytes produced per step, and compressed bytes fed per step: they
# bound the memory a dataset takes while it is checked.
OUTPUT_CHUNK = 1_048_576
INPUT_CHUNK = 65_536
# The attributes collected for the index are short strings and numbers; a
# longer value is a lie about its length, and is not read into memory.
MAX_COLLECTED = 65_536

_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")


class TooLarge(Exception):
    """The dataset inflates to more bytes than the limit allows."""


def scan_deflated(data: bytes | memoryview, collect: frozenset[int],
                  limit: int | None) -> RawElements:
    """Check a deflated explicit VR little endian dataset as it inflates; return
    the raw values of the top-level tags in ``collect``, as scan_dataset does.

    Raises MalformedDataset (also when the bytes do not inflate) and TooLarge
    once more than ``limit`` bytes have come out (None: no limit).
    """
    stream = _Inflating(data, limit)
    try:
        # Some writers encode implicit VR under an explicit transfer syntax; the
        # first element says which, as in scan_dataset.
        first = stream.peek(6)
        implicit = len(first) == 6 and not looks_like_vr(first[4:6])
        walker = _StreamWalker(stream, collect)
        walker.elements(None, depth=0, until=None, implicit=implicit)
    except zlib.error as exc:
        raise MalformedDataset(f"deflated dataset does not inflate: {exc}") from None
    finally:
        stream.close()
    return walker.collected


class _Inflating:
    """The inflated bytes of a raw deflate stream, read forward in small steps."""

    def __init__(self, data: bytes | memoryview, limit: int | None) -> None:
        self._input = memoryview(data)
        self._fed = 0
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._limit = limit
        self._inflated = 0
        self._buffer = bytearray()
        # Offset, in the inflated dataset, of the next byte to be read.
        self.pos = 0

    def close(self) -> None:
        """Release the caller's buffer."""
        self._input.release()

    def _more(self) -> bytes:
        """The next inflated bytes; b"" at the end of the stream or of the input."""
        while not self._inflater.eof:
            source: bytes | memoryview = self._inflater.unconsumed_tail
            if not source and self._fed < len(self._input):
                source = self._input[self._fed:self._fed + INPUT_CHUNK]
                self._fed += len(source)
            out = self._inflater.decompress(source, OUTPUT_CHUNK)
            if out:
                self._inflated += len(out)
                if self._limit is not None and self._inflated > self._limit:
                    raise TooLarge(self._limit)
                return out
            if not source:
                break
        return b""

    def _fill(self, n: int) -> bool:
        """Have at least ``n`` bytes buffered, if the stream holds them."""
        while len(self._buffer) < n:
            out = self._more()
            if not out:
                return False
            self._buffer += out
        return True

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return bytes(self._buffer[:n])

    def at_end(self) -> bool:
        return not self._fill(1)

    def read(self, n: int) -> bytes | None:
        """The next ``n`` bytes, or None when the stream ends first."""
        if not self._fill(n):
            return None
        value = bytes(self._buffer[:n])
        del self._buffer[:n]
        self.pos += n
        return value

    def skip(self, n: int) -> bool:
        """Discard the next ``n`` bytes; False when the stream ends first."""
        left = n
        while left:
            if not self._buffer:
                out = self._more()
                if not out:
                    return False
                self._buffer += out
            step = min(left, len(self._buffer))
            del self._buffer[:step]
            left -= step
            self.pos += step
        return True


class _StreamWalker:
    """integrity._Walker's rules, over a stream: ``end`` None means the end of the stream."""

    def __init__(self, stream: _Inflating, collect: frozenset[int]) -> None:
        self.stream = stream
        self.collect = collect
        self.collected: RawElements = {}

    def _more_before(self, end: int | None) -> bool:
        return not self.stream.at_end() if end is None else self.stream.pos < end

    def header(self, implicit: bool) -> tuple[int, bytes | None, int]:
        """(tag, VR, length) of the next element; the stream is left at its value."""
        pos = self.stream.pos
        head = self.stream.read(8)
        if head is None:
            raise MalformedDataset(f"element header cut off at offset {pos}")
        group, element = _TAG.unpack_from(head)
        tag = (group << 16) | element
        if group == 0xFFFE or implicit:
            return tag, None, _U32.unpack_from(head, 4)[0]
        vr = head[4:6]
        if vr in LONG_VRS:
            length = self.stream.read(4)
            if length is None:
                raise MalformedDataset(f"element header cut off at offset {pos}")
            return tag, vr, _U32.unpack(length)[0]
        if not looks_like_vr(vr):
            raise MalformedDataset(f"invalid VR {vr!r} at offset {pos}")
        return tag, vr, _U16.unpack_from(head, 6)[0]

    def elements(self, end: int | None, depth: int, until: int | None, implicit: bool) -> None:
        """Walk elements up to ``end`` or the ``until`` delimiter."""
        if depth > MAX_DEPTH:
            raise MalformedDataset(f"sequences nested deeper than {MAX_DEPTH} levels")
        collect = self.collect if depth == 0 else frozenset()
        while self._more_before(end):
            pos = self.stream.pos
            tag, vr, length = self.header(implicit)
            if until is not None and tag == until:
                return
            if tag in (ITEM, ITEM_END, SEQUENCE_END):
                raise MalformedDataset(f"delimiter out of place at offset {pos}")
            if tag == PIXEL_DATA and tag in collect:
                self.collected[tag] = (vr.decode("ascii") if vr else None,
                                       ENCAPSULATED if length == UNDEFINED else NATIVE)
            if length == UNDEFINED:
                self.sequence(end, depth + 1, fragments=tag == PIXEL_DATA,
                              implicit=implicit or vr == b"UN")
                continue
            value_end = self.stream.pos + length
            if end is not None and value_end > end:
                raise MalformedDataset(
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset {pos} "
                    f"claims {length} bytes, only {end - self.stream.pos} remain")
            if tag in collect and tag != PIXEL_DATA:
                self.collected[tag] = (vr.decode("ascii") if vr else None,
                                       self._value(tag, pos, length))
            elif vr == b"SQ" or (vr is None and is_sequence_tag(tag)):
                self.defined_sequence(value_end, depth + 1, implicit)
            elif not self.stream.skip(length):
                raise self._runs_past(tag, pos, length)
        if until is not None:
            raise MalformedDataset("sequence or item has no end delimiter (truncated)")

    def _value(self, tag: int, pos: int, length: int) -> bytes:
        if length > MAX_COLLECTED:
            raise MalformedDataset(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset "
                                   f"{pos} claims {length} bytes, too many for its value")
        value = self.stream.read(length)
        if value is None:
            raise self._runs_past(tag, pos, length)
        return value

    @staticmethod
    def _runs_past(tag: int, pos: int, length: int) -> MalformedDataset:
        return MalformedDataset(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) at offset "
                                f"{pos} claims {length} bytes, past the end")

    def sequence(self, end: int | None, depth: int, fragments: bool, implicit: bool) -> None:
        """Items of an undefined-length sequence (or pixel fragments) up to its delimiter."""
        while self._more_before(end):
            pos = self.stream.pos
            tag, _, length = self.header(implicit=True)
            if tag == SEQUENCE_END:
                return
            if tag != ITEM:
                raise MalformedDataset(f"expected an item at offset {pos}")
            if length == UNDEFINED and not fragments:
                self.elements(end, depth + 1, until=ITEM_END, implicit=implicit)
            elif length == UNDEFINED:
                raise MalformedDataset(f"pixel data fragment of undefined length at {pos}")
            else:
                item_end = self.stream.pos + length
                if end is not None and item_end > end:
                    raise MalformedDataset(f"item at offset {pos} runs past the end")
                if fragments:
                    if not self.stream.skip(length):
                        raise MalformedDataset(f"item at offset {pos} runs past the end")
                else:
                    self._item(item_end, depth + 1, implicit, pos)
        raise MalformedDataset("sequence has no end delimiter (truncated)")

    def defined_sequence(self, end: int, depth: int, implicit: bool) -> None:
        """Items of a sequence whose length is given."""
        while self.stream.pos < end:
            pos = self.stream.pos
            tag, _, length = self.header(implicit=True)
            if tag != ITEM:
                raise MalformedDataset(f"expected an item at offset {pos}")
            if length == UNDEFINED:
                self.elements(end, depth + 1, until=ITEM_END, implicit=implicit)
            else:
                item_end = self.stream.pos + length
                if item_end > end:
                    raise MalformedDataset(f"item at offset {pos} runs past its sequence")
                self._item(item_end, depth + 1, implicit, pos)

    def _item(self, item_end: int, depth: int, implicit: bool, pos: int) -> None:
        """An item of given length: its elements, which must end where it does."""
        self.elements(item_end, depth, until=None, implicit=implicit)
        if self.stream.pos != item_end:
            raise MalformedDataset(f"item at offset {pos} runs past the end")
