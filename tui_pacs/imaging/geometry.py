"""How big a picture is on screen: pixel shape, cell shape, and the space it is given.

A pixel's physical shape comes from Pixel Spacing (or Imager Pixel Spacing,
or Pixel Aspect Ratio); a terminal cell is about twice as tall as it is wide
(its real size in screen pixels when the terminal reports one). The picture
is scaled, up or down, to the largest size that fits the box of cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CellShape:
    """A terminal cell's width and height: in screen pixels when known, else their ratio."""

    width: float = 1.0
    height: float = 2.0

    @property
    def known_pixels(self) -> bool:
        return self.width > 1 and self.height > 2


DEFAULT_CELL = CellShape()
# The cell size to assume when a graphics protocol needs pixels and the
# terminal does not say (a VT340's, as textual-image also assumes).
NOMINAL_CELL_PIXELS = CellShape(10, 20)


@dataclass(frozen=True)
class Placement:
    """Where a picture goes: ``cols`` x ``rows`` cells holding a ``width`` x ``height`` grid."""

    cols: int
    rows: int
    width: int
    height: int


def fit(columns: int, rows: int, pixel_aspect: float, max_cols: int, max_rows: int | None,
        cell: CellShape = DEFAULT_CELL, rows_per_cell: int = 1) -> Placement:
    """Fit an image of ``columns`` x ``rows`` pixels into at most ``max_cols`` x ``max_rows`` cells.

    ``rows_per_cell`` is how many picture rows one cell shows (2 for half blocks);
    the grid is one picture column per cell column. ``max_rows=None`` lets the
    height follow the width.
    """
    width = float(columns)
    height = float(rows) * pixel_aspect
    scale = max_cols * cell.width / width
    if max_rows is not None:
        scale = min(scale, max_rows * cell.height / height)
    cols = max(1, min(max_cols, round(width * scale / cell.width)))
    grid_height = max(1, round(height * scale * rows_per_cell / cell.height))
    if max_rows is not None:
        grid_height = min(grid_height, max_rows * rows_per_cell)
    return Placement(cols, math.ceil(grid_height / rows_per_cell), cols, grid_height)


def pixel_grid(placement: Placement, cell: CellShape) -> tuple[int, int]:
    """Screen pixels a graphics protocol draws into for ``placement``."""
    if not cell.known_pixels:
        cell = NOMINAL_CELL_PIXELS
    return round(placement.cols * cell.width), round(placement.rows * cell.height)


def slice_order(positions: list[str], orientations: list[str],
                instance_numbers: list[int | None]) -> list[int]:
    """The order to page through a series' instances: indexes into the lists given.

    Along the slice normal (ImagePositionPatient projected on the cross
    product of ImageOrientationPatient's row and column directions) when every
    instance has a position and all share one orientation; otherwise by
    InstanceNumber (instances without one last). Values are DICOM strings,
    backslash-separated, as the index keeps them. Ties keep the given order.
    """
    count = len(positions)
    by_number = sorted(range(count), key=lambda n: (instance_numbers[n] is None,
                                                    instance_numbers[n] or 0))
    vectors = [_numbers(text, 3) for text in positions]
    axes = {tuple(_numbers(text, 6) or ()) for text in orientations}
    if count < 2 or any(v is None for v in vectors) or len(axes) != 1 or () in axes:
        return by_number
    axis = next(iter(axes))
    row, column = axis[:3], axis[3:]
    normal = (row[1] * column[2] - row[2] * column[1],
              row[2] * column[0] - row[0] * column[2],
              row[0] * column[1] - row[1] * column[0])
    if not any(normal):
        return by_number
    distance = [sum(p * n for p, n in zip(vector or (), normal)) for vector in vectors]
    if len(set(distance)) < count:
        return by_number  # several frames at one place (a time series): numbers say more
    return sorted(range(count), key=lambda n: distance[n])


def _numbers(text: str, count: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(part) for part in text.split("\\"))
    except ValueError:
        return None
    return values if len(values) == count and all(map(math.isfinite, values)) else None
