"""Fitting pictures into cells: pixel shape, cell shape, and the box given."""

from __future__ import annotations

import pytest

from tests.dicom_factory import make_dataset
from tui_pacs.imaging.attributes import frame_attributes
from tui_pacs.imaging.geometry import CellShape, Placement, fit, pixel_grid


def test_a_square_image_in_half_blocks_is_twice_as_many_rows_of_pixels():
    # 1:2 cells, two picture rows per cell: square pixels on screen.
    assert fit(512, 512, 1.0, 120, 40, rows_per_cell=2) == Placement(80, 40, 80, 80)
    assert fit(512, 512, 1.0, 60, 40, rows_per_cell=2) == Placement(60, 30, 60, 60)


def test_the_height_follows_the_width_without_a_row_limit():
    assert fit(400, 200, 1.0, 100, None, rows_per_cell=2) == Placement(100, 25, 100, 50)


def test_pixel_aspect_stretches_the_height():
    # Pixels twice as tall as wide: a 100x100 matrix is twice as tall as wide on screen.
    placement = fit(100, 100, 2.0, 200, 50, rows_per_cell=2)
    assert placement.height == 2 * placement.width


def test_cell_shape_from_the_terminal():
    # Cells 10x25 pixels (taller than 1:2): fewer rows for the same picture.
    placement = fit(500, 500, 1.0, 50, 100, CellShape(10, 25))
    assert (placement.cols, placement.rows) == (50, 20)
    assert pixel_grid(placement, CellShape(10, 25)) == (500, 500)
    assert pixel_grid(placement, CellShape()) == (500, 400)  # unknown: 10x20 assumed


def test_small_images_are_enlarged_to_fill_the_box():
    assert fit(3, 3, 1.0, 30, 30, rows_per_cell=2) == Placement(30, 15, 30, 30)


def test_odd_grid_heights_round_up_to_whole_cells():
    placement = fit(10, 5, 1.0, 10, None, rows_per_cell=2)
    assert (placement.height, placement.rows) == (5, 3)


def aspect(**attributes) -> float:
    ds = make_dataset(rows=4, columns=4)
    del ds.PixelSpacing
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return frame_attributes(ds, 0).pixel_aspect


def test_pixel_aspect_from_the_attributes():
    assert aspect(PixelSpacing=[0.8, 0.4]) == 2.0          # row spacing / column spacing
    assert aspect(ImagerPixelSpacing=[0.2, 0.1]) == 2.0
    assert aspect(PixelAspectRatio=[4, 3]) == pytest.approx(4 / 3)
    assert aspect() == 1.0
    assert aspect(PixelSpacing=[0, 0.5]) == 1.0             # junk: square pixels
    assert aspect(PixelSpacing=[100, 1]) == 1.0             # absurd: square pixels
