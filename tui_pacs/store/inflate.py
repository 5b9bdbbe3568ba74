"""Checking a Deflated Explicit VR Little Endian dataset without inflating it whole.

A deflated dataset of one megabyte can inflate to gigabytes (a "deflate
bomb"): inflating it into memory lets any peer that may store exhaust the
node. So the inflated bytes pass through a window of at most a few megabytes:
the same structural scan as :func:`~tui_pacs.store.integrity.scan_dataset`
(one walk, :mod:`tui_pacs.core.dataset_walk`) reads element headers, keeps
the values of the attributes it collects and discards the rest. The whole
stream is walked, so that a truncated or malformed dataset is refused as it
is uncompressed, and inflating stops as soon as it passes the size limit.
"""

from __future__ import annotations

import zlib

from tui_pacs.store.integrity import MalformedDataset, RawElements, scan_stream

# Inflated bytes produced per step, and compressed bytes fed per step: they
# bound the memory a dataset takes while it is checked.
OUTPUT_CHUNK = 1_048_576
INPUT_CHUNK = 65_536


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
        return scan_stream(stream, implicit_vr=False, little_endian=True, collect=collect)
    except zlib.error as exc:
        raise MalformedDataset(f"deflated dataset does not inflate: {exc}") from None
    finally:
        stream.close()


class _Inflating:
    """The inflated bytes of a raw deflate stream, read forward in small steps
    (a :class:`~tui_pacs.core.dataset_walk.ByteStream`)."""

    def __init__(self, data: bytes | memoryview, limit: int | None) -> None:
        self._input = memoryview(data)
        self._fed = 0
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._limit = limit
        self._inflated = 0
        self._buffer = bytearray()
        # Offset, in the inflated dataset, of the next byte to be read.
        self.pos = 0
        # Where it ends is known only once it has.
        self.size: int | None = None

    def close(self) -> None:
        """Release the caller's buffer."""
        self._input.release()

    def _more(self) -> bytes:
        """The next inflated bytes; b"" at the end of the stream or of the input."""
        while not self._inflater.eof:
            source = self._inflater.unconsumed_tail
            if not source and self._fed < len(self._input):
                # A copy: a view of the input left in a traceback (TooLarge, a
                # zlib error) would keep the caller from closing a mapped file.
                source = bytes(self._input[self._fed:self._fed + INPUT_CHUNK])
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
