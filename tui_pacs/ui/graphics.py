"""Real pixels in the preview: textual-image's Kitty (TGP) and Sixel widgets.

The command line asks the terminal which protocol it speaks before the app
starts (``imaging.terminal.detect_protocol``) and hands the answer to the app,
which loads the widget for it here, still before Textual takes the terminal.
Everything else keeps half blocks.

textual-image has its own detection, run when ``textual_image.widget`` is
imported: it writes a Sixel and a Kitty query to ``sys.__stdout__`` and reads
the answers from stdin whenever stdout is a terminal. The app already knows
the answer, so the import runs with ``sys.__stdout__`` standing for a file.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from textual.app import App

from tui_pacs.imaging.geometry import CellShape, Placement, fit, pixel_grid
from tui_pacs.imaging.pipeline import resize
from tui_pacs.imaging.terminal import Protocol

if TYPE_CHECKING:  # importing textual_image.widget queries the terminal: not here
    from textual_image.widget import BaseImage


@dataclass(frozen=True)
class Graphics:
    """How the preview draws real pixels: textual-image's widget and the cell size it uses."""

    protocol: Protocol
    widget: type[BaseImage]
    cell: CellShape


def load_graphics(protocol: Protocol, app: App) -> Graphics | None:
    """textual-image's widget for ``protocol``, or None for half blocks.

    Called before the app runs: the cell size is measured now, while the
    terminal can still be asked.
    """
    if protocol not in (Protocol.KITTY, Protocol.SIXEL):
        return None
    if protocol is Protocol.KITTY and not _colours_reach_the_terminal(app):
        return None
    from textual_image._terminal import get_cell_size

    # Measured (and cached for textual-image's widgets) before the import below
    # would settle for its default with stdout hidden.
    width, height = get_cell_size()
    with _stdout_not_a_terminal():
        from textual_image.widget import SixelImage, TGPImage
    widget = TGPImage if protocol is Protocol.KITTY else SixelImage
    return Graphics(protocol, widget, CellShape(width, height))


def fit_to_cells(pixels: np.ndarray, pixel_aspect: float, cols: int, rows: int | None,
                 cell: CellShape) -> tuple[Image.Image, Placement]:
    """``pixels`` scaled to the screen pixels of the largest box of at most ``cols`` x
    ``rows`` cells that keeps the physical aspect ratio (run it in a thread)."""
    placement = fit(pixels.shape[1], pixels.shape[0], pixel_aspect, cols, rows, cell)
    return Image.fromarray(resize(pixels, *pixel_grid(placement, cell))), placement


def _colours_reach_the_terminal(app: App) -> bool:
    """textual-image's Kitty widget names its picture by the colour of placeholder
    characters: any colour reduction (256 colours, NO_COLOR) loses the picture."""
    return app.console.color_system == "truecolor" and not app.no_color


@contextmanager
def _stdout_not_a_terminal() -> Iterator[None]:
    saved = sys.__stdout__
    sys.__stdout__ = io.StringIO()  # type: ignore[misc,assignment]  # typeshed: Final
    try:
        yield
    finally:
        sys.__stdout__ = saved  # type: ignore[misc]  # typeshed: Final
