"""Pictures with the Kitty graphics protocol, for terminals that speak it (Kitty, WezTerm, Ghostty).

The picture travels as a PNG in base64 chunks; ``c`` and ``r`` ask the
terminal to scale it into that many cells, so the cell's pixel size need not
be known. ``q=2`` keeps the terminal from answering on stdin; ``C=1`` leaves
the cursor where it was, for the caller to move below the picture.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

_CHUNK = 4096  # the protocol's largest payload per escape sequence


def kitty_graphics(pixels: np.ndarray, cols: int, rows: int) -> str:
    """Escape sequences that draw ``pixels`` (uint8 L or RGB) over ``cols`` x ``rows`` cells."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    payload = base64.standard_b64encode(buffer.getvalue()).decode("ascii")
    chunks = [payload[start:start + _CHUNK] for start in range(0, len(payload), _CHUNK)]
    sequences = []
    for number, chunk in enumerate(chunks):
        more = int(number < len(chunks) - 1)
        keys = f"a=T,f=100,q=2,C=1,c={cols},r={rows},m={more}" if number == 0 else f"m={more}"
        sequences.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(sequences)
