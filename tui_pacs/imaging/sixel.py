"""Pictures as Sixel graphics (xterm -ti vt340, foot, mlterm, Windows Terminal, ...).

Sixel draws pixel for pixel in bands six rows high, one pass per colour, with
at most 256 colour registers: grayscale pictures keep their 256 levels, RGB
pictures are quantized by Pillow. Each band is encoded with numpy for all its
colours at once; runs of empty and full columns, which are most runs, are
compressed (``!count``), finding every kind of run cost three times as long.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

_BAND = 6
_SIXEL_WEIGHTS = (1 << np.arange(_BAND, dtype=np.uint8)).reshape(1, _BAND, 1)
_REPEAT = re.compile(rb"\?{4,}|~{4,}")  # shorter runs are cheaper written out


def sixel_graphics(pixels: np.ndarray) -> str:
    """A DCS sixel sequence drawing ``pixels`` (uint8 L or RGB) at its size in screen pixels."""
    indices, palette = _indexed(pixels)
    height, width = indices.shape
    out = [f'\x1bPq"1;1;{width};{height}'.encode()]
    for register, (red, green, blue) in enumerate(palette):
        out.append(f"#{register};2;{_percent(red)};{_percent(green)};{_percent(blue)}".encode())
    for top in range(0, height, _BAND):
        out.append(_band(indices[top:top + _BAND]))
    out.append(b"\x1b\\")
    return b"".join(out).decode("ascii")


def _indexed(pixels: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Palette indices (H, W) and the palette's RGB entries."""
    if pixels.ndim == 2:
        levels, indices = np.unique(pixels, return_inverse=True)
        return indices.reshape(pixels.shape).astype(np.int16), [(int(v),) * 3 for v in levels]
    quantized = Image.fromarray(pixels).quantize(256, method=Image.Quantize.FASTOCTREE)
    flat = quantized.getpalette() or []
    indices = np.asarray(quantized).astype(np.int16)
    count = int(indices.max()) + 1
    return indices, [tuple(flat[3 * i:3 * i + 3]) for i in range(count)]  # type: ignore[misc]


def _band(rows: np.ndarray) -> bytes:
    """One band: for each colour in it, which of the six rows it covers in every column."""
    if rows.shape[0] < _BAND:
        padding = np.full((_BAND - rows.shape[0], rows.shape[1]), -1, dtype=rows.dtype)
        rows = np.vstack([rows, padding])
    colours = np.unique(rows[rows >= 0])
    masks = rows[np.newaxis] == colours[:, np.newaxis, np.newaxis]
    sixels = (masks * _SIXEL_WEIGHTS).sum(axis=1, dtype=np.uint8) + 63
    parts = []
    for colour, line in zip(colours.tolist(), sixels, strict=True):
        data = line.tobytes().rstrip(b"?")  # "?" draws nothing
        parts.append(b"#%d%s$" % (colour, _REPEAT.sub(_compress, data)))
    return b"".join(parts) + b"-"


def _compress(match: re.Match[bytes]) -> bytes:
    run = match.group()
    return b"!%d%c" % (len(run), run[0])


def _percent(value: int) -> int:
    return round(value * 100 / 255)
