"""Pictures as Unicode half blocks: a rich renderable that works in any colour terminal.

Each cell shows two picture rows with "▀": the foreground colour is the top
pixel, the background the bottom one. rich turns the colours into what the
console can show (truecolor, 256 or 16 colours); with no colour at all
(NO_COLOR, TERM=dumb) a ramp of characters stands in for the grey levels.

Why not rich-pixels: it parses one ``Style`` per cell from a string in pure
Python and resizes with NEAREST. bench/imaging.py measured it at about
30 ms for a picture of 80x40 cells to ANSI text, the whole budget for decode,
window and render of a CT slice; this renderer takes about 7 ms: numpy finds
the runs of equal cells, styles are built once per colour pair and kept, and
resizing (with a smoothing filter) is done before, by ``pipeline``.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "▀"
# Darkest to brightest, for consoles without colour.
RAMP = " .:-=+*#%@"
_NO_BOTTOM = 1 << 48  # key flag: the last row of an odd-height picture has no bottom pixel
_STYLE_CACHE_LIMIT = 1 << 17

# rich stores a style's escape codes inside the Style the first time it is
# rendered, for that console's colour system; styles are therefore kept per
# colour system, or a 256-colour console would reuse truecolor codes.
_styles: dict[str, dict[int, Style]] = {}
_colors: dict[int, Color] = {}


class HalfBlockImage:
    """An 8-bit picture (H, W) grayscale or (H, W, 3) RGB, W cells wide and ceil(H/2) tall."""

    def __init__(self, pixels: np.ndarray) -> None:
        if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
            raise ValueError("HalfBlockImage takes a uint8 (H, W) or (H, W, 3) array")
        self.pixels = pixels
        self.height = (pixels.shape[0] + 1) // 2
        self.width = pixels.shape[1]
        self._runs = _runs_per_row(_cell_keys(pixels))
        self._lines: dict[str, list[list[Segment]]] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        color_system = console.color_system
        if color_system is None or console.no_color:
            for text in self._ramp_lines():
                yield Segment(text)
                yield Segment.line()
            return
        lines = self._lines.get(color_system)
        if lines is None:
            lines = self._lines[color_system] = self._build_lines(color_system)
        for line in lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)

    def _build_lines(self, color_system: str) -> list[list[Segment]]:
        styles = _styles.setdefault(color_system, {})
        if len(styles) > _STYLE_CACHE_LIMIT:
            styles.clear()
        lines = []
        for lengths, keys in self._runs:
            line = []
            for length, key in zip(lengths.tolist(), keys.tolist(), strict=True):
                style = styles.get(key)
                if style is None:
                    style = styles[key] = _style_for(key)
                line.append(Segment(UPPER_HALF * length, style))
            lines.append(line)
        return lines

    def _ramp_lines(self) -> list[str]:
        gray = self.pixels if self.pixels.ndim == 2 else self.pixels.mean(axis=2)
        if gray.shape[0] % 2:
            gray = np.vstack([gray, gray[-1:]])
        cells = (gray[0::2].astype(np.float32) + gray[1::2]) / 2
        indices = (cells * (len(RAMP) - 1) / 255 + 0.5).astype(np.intp)
        return ["".join(RAMP[i] for i in row) for row in indices.tolist()]


def _cell_keys(pixels: np.ndarray) -> np.ndarray:
    """One int64 per cell: top RGB in bits 24-47, bottom RGB in 0-23."""
    rgb = pixels.astype(np.int64)
    gray = rgb.ndim == 2
    packed = rgb * 0x010101 if gray else (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    top = packed[0::2]
    bottom = packed[1::2]
    keys = top << 24
    keys[: bottom.shape[0]] |= bottom
    if bottom.shape[0] < top.shape[0]:
        keys[-1] |= _NO_BOTTOM
    return keys


def _runs_per_row(keys: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each row as run lengths and their keys: equal neighbours share one segment.

    Arrays rather than Python tuples: a cached picture stays a few kB.
    """
    rows = []
    width = keys.shape[1]
    for row in keys:
        starts = np.concatenate([[0], np.flatnonzero(np.diff(row)) + 1])
        lengths = np.diff(np.append(starts, width))
        rows.append((lengths, row[starts]))
    return rows


def _style_for(key: int) -> Style:
    top = _color((key >> 24) & 0xFFFFFF)
    if key & _NO_BOTTOM:
        return Style(color=top)
    return Style(color=top, bgcolor=_color(key & 0xFFFFFF))


def _color(rgb: int) -> Color:
    color = _colors.get(rgb)
    if color is None:
        color = _colors[rgb] = Color.from_rgb(rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF)
    return color
