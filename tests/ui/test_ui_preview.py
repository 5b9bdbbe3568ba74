"""The image preview: slice order, paging, frames and windows, decoded off the loop."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import pydicom_file
from tests.ui.conftest import make_app, screen_text, seed, settle
from tui_pacs.imaging.window import WindowSource
from tui_pacs.ui.screens.preview import PreviewScreen


@pytest.fixture
def images(settings, tmp_path):
    asyncio.run(seed(settings.node.data, [pydicom_file("CT_small.dcm"),
                                          pydicom_file("SC_rgb_rle_2frame.dcm")]))
    return settings


def select_modality(app, modality: str) -> None:
    rows = app.screen.table.loaded_rows()
    app.screen.table.cursor_row = next(n for n, r in enumerate(rows)
                                       if modality in r["ModalitiesInStudy"])


async def test_window_keys(images):
    app = make_app(images)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        select_modality(app, "CT")
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        assert screen.rendered is not None
        first = screen.windows.current
        assert "image 1/1" in screen_text(app)
        await pilot.press("w")
        await settle(pilot)
        assert screen.windows.current != first
        await pilot.press("a")
        await settle(pilot)
        assert screen.windows.current.source is WindowSource.AUTO
        width = screen.windows.current.window.width
        await pilot.press("right_square_bracket", "period")
        await settle(pilot)
        current = screen.windows.current
        assert current.source is WindowSource.MANUAL and current.window.width > width
        assert "manual" in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert screen.window is None


async def test_frames_of_a_colour_image(images):
    app = make_app(images)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        select_modality(app, "OT")
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert "frame 1/2" in screen_text(app)
        await pilot.press("right")
        await settle(pilot)
        assert screen.frame == 1 and "frame 2/2" in screen_text(app)
        await pilot.press("w")  # windows do not apply to colour: a note, no change
        await settle(pilot)
        assert screen.window is None


async def test_series_pages_in_slice_order(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert [s.number for s in screen.slices] == [1, 2, 3]
        await pilot.press("down")
        await settle(pilot)
        assert screen.position == 1 and "image 2/3" in screen_text(app)
        await pilot.press("end")
        await settle(pilot)
        assert screen.position == 2
        stats = app.backend.imaging.stats
        assert stats.prefetched + stats.hits + stats.joined > 0
        await pilot.press("t")
        await settle(pilot)
        assert app.screen.position == 2


def test_slice_order_follows_the_normal_then_numbers():
    from tui_pacs.imaging.geometry import slice_order

    axial = "1\\0\\0\\0\\1\\0"
    assert slice_order(["0\\0\\30", "0\\0\\10", "0\\0\\20"], [axial] * 3, [1, 2, 3]) == [1, 2, 0]
    # Sagittal: the normal is -x (rows along y, columns down z), so x=5 comes first.
    sagittal = "0\\1\\0\\0\\0\\-1"
    assert slice_order(["-5\\0\\0", "5\\0\\0"], [sagittal] * 2, [1, 2]) == [1, 0]
    # Missing geometry: instance numbers, those without one last.
    assert slice_order(["", "0\\0\\1", "0\\0\\2"], [axial] * 3, [None, 2, 1]) == [2, 1, 0]
    # Several frames at one place (a time series): numbers.
    assert slice_order(["0\\0\\1"] * 3, [axial] * 3, [3, 1, 2]) == [1, 2, 0]
