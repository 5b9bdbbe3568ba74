"""Putting a picture on a terminal (or into a pipe) with any protocol: what ``show`` uses.

Kitty and Sixel are written here rather than through textual-image's
renderables: importing those queries the terminal (writing escape sequences
and reading stdin) whenever stdout is a terminal, its Kitty renderable relies
on Unicode placeholders that few terminals besides Kitty implement (its own
notes name WezTerm and Konsole as failing), and both write
straight to ``sys.__stdout__`` instead of the console they are given. Inside
Textual, the app can still use textual-image's widget with the picture that
``ImagingService.picture`` returns.
"""

from __future__ import annotations

from typing import IO

import numpy as np
from rich.console import Console

from tui_pacs.imaging.geometry import CellShape, Placement, fit, pixel_grid
from tui_pacs.imaging.halfblock import HalfBlockImage
from tui_pacs.imaging.kitty import kitty_graphics
from tui_pacs.imaging.pipeline import fit_picture, resize
from tui_pacs.imaging.sixel import sixel_graphics
from tui_pacs.imaging.terminal import Protocol


def draw(pixels: np.ndarray, pixel_aspect: float, protocol: Protocol, console: Console,
         max_cols: int, max_rows: int | None, cell: CellShape) -> Placement:
    """Draw ``pixels`` (uint8 L or RGB) into at most ``max_cols`` x ``max_rows`` cells.

    Half blocks go through ``console`` (it knows the colour system); Kitty and
    Sixel sequences are written to its file, and the cursor ends below the picture.
    """
    if protocol is Protocol.HALFBLOCK:
        fitted, placement = fit_picture(pixels, pixel_aspect, max_cols, max_rows, cell,
                                        rows_per_cell=2)
        console.print(HalfBlockImage(fitted), crop=False, soft_wrap=True)
        return placement
    placement = fit(pixels.shape[1], pixels.shape[0], pixel_aspect, max_cols, max_rows, cell)
    scaled = resize(pixels, *pixel_grid(placement, cell))
    if protocol is Protocol.KITTY:
        payload = kitty_graphics(scaled, placement.cols, placement.rows)
    else:
        payload = sixel_graphics(scaled)
    _place(console.file, payload, placement.rows)
    return placement


def _place(out: IO[str], payload: str, rows: int) -> None:
    """Make room for ``rows`` lines (scrolling if needed), draw at its top, end below it."""
    out.write("\n" * rows)
    out.write(f"\x1b[{rows}A\x1b7")
    out.write(payload)
    out.write(f"\x1b8\x1b[{rows}B")
    out.flush()
