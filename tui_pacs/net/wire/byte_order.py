"""Explicit VR Big Endian datasets made little endian, for receivers that do
not take the retired big endian syntax.

pydicom decodes the numbers of US, SS, UL, FL and the like by the byte order
they were read in and writes them in the one asked for; the values of OW,
OF, OL, OD and OV it keeps as bytes, and its writer leaves their byte order
to the caller (``dcmwrite``: "must be converted manually"). Encoded as read,
a 16-bit big endian image arrives with every pixel's bytes swapped. Here
those values are swapped, word by word: the word of a VR, and for native
Pixel Data of more than 16 bits allocated, the pixel (pydicom reads big
endian pixels so too).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

_PIXEL_DATA = 0x7FE00010
_WORD = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def to_little_endian(ds: Dataset) -> None:
    """Swap, in place, the bytes of every value pydicom would write in the order
    it was read in (``ds`` was read big endian; its sequences are walked)."""
    bits = ds.get("BitsAllocated")
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                to_little_endian(item)
            continue
        word = _WORD.get(str(elem.VR))
        if word is None or not isinstance(elem.value, bytes | bytearray) or not elem.value:
            continue
        if elem.tag == _PIXEL_DATA and isinstance(bits, int) and bits > 16:
            word = bits // 8
        elem.value = _swapped(elem.value, word)


def _swapped(value: bytes | bytearray, word: int) -> bytes:
    whole = len(value) - len(value) % word
    words = np.frombuffer(value, dtype=f">u{word}", count=whole // word)
    return words.astype(f"<u{word}").tobytes() + bytes(value[whole:])
