"""The half-block renderable draws exactly the picture it is given, in any colour system."""

from __future__ import annotations

import numpy as np
import pytest

from tests.imaging.helpers import console, read_back
from tui_pacs.imaging.halfblock import RAMP, UPPER_HALF, HalfBlockImage


def gradient(height: int, width: int) -> np.ndarray:
    return (np.arange(height * width) * 255 // (height * width - 1)).astype(np.uint8).reshape(
        height, width)


@pytest.mark.parametrize("height", [6, 7])
def test_grayscale_cells_carry_the_top_and_bottom_pixels(height):
    pixels = gradient(height, 5)
    image = HalfBlockImage(pixels)
    assert (image.width, image.height) == (5, (height + 1) // 2)
    drawn = read_back(image)
    np.testing.assert_array_equal(drawn[:height], np.repeat(pixels[..., None], 3, axis=2))
    if height % 2:
        assert (drawn[height] == -1).all()  # no bottom pixel: the terminal's background


def test_rgb_cells():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(4, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_back(HalfBlockImage(pixels)), pixels)


def test_equal_neighbours_share_a_segment():
    pixels = np.zeros((2, 40), dtype=np.uint8)
    pixels[:, 20:] = 200
    con = console()
    segments = [s for s in HalfBlockImage(pixels).__rich_console__(con, con.options)
                if s.text != "\n"]
    assert [s.text for s in segments] == [UPPER_HALF * 20, UPPER_HALF * 20]


def test_256_colour_consoles_get_256_colour_codes():
    pixels = gradient(8, 8)
    image = HalfBlockImage(pixels)
    truecolor, eight_bit = console("truecolor"), console("256")
    truecolor.print(image)
    eight_bit.print(image)
    assert "38;2;" in truecolor.file.getvalue()
    assert "38;2;" not in eight_bit.file.getvalue() and "38;5;" in eight_bit.file.getvalue()
    # A fresh picture after both: styles are kept per colour system, not shared.
    again = console("256")
    again.print(HalfBlockImage(pixels))
    assert "38;2;" not in again.file.getvalue()


@pytest.mark.parametrize("how", [{"color_system": None}, {"no_color": True}])
def test_without_colour_a_character_ramp(how):
    pixels = np.array([[0, 255], [0, 255], [128, 128], [128, 128]], dtype=np.uint8)
    con = console(**({"color_system": "truecolor"} | how))
    con.print(HalfBlockImage(pixels))
    # 128 of 255 is step 5 of the 10-step ramp.
    assert con.file.getvalue().splitlines() == [RAMP[0] + RAMP[-1], RAMP[5] * 2]


def test_measures_its_width():
    con = console(width=100)
    assert con.measure(HalfBlockImage(gradient(4, 30))).maximum == 30


def test_refuses_what_is_not_an_8_bit_picture():
    with pytest.raises(ValueError):
        HalfBlockImage(np.zeros((4, 4), dtype=np.uint16))


async def test_draws_in_a_textual_widget():
    """What the app will do with it: a Static showing the renderable, colours intact."""
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.widgets import Static

    pixels = np.zeros((4, 6), dtype=np.uint8)
    pixels[:, 3:] = 200
    pixels[1] = 100

    class Viewer(App):
        def compose(self) -> ComposeResult:
            yield Static(HalfBlockImage(pixels), id="picture")

    app = Viewer()
    async with app.run_test(size=(20, 6)) as pilot:
        await pilot.pause()
        strips = app.query_one("#picture").render_lines(Region(0, 0, 6, 2))
    cells = [[(segment.style.color.triplet, segment.style.bgcolor.triplet)
              for segment in strip for _ in segment.text] for strip in strips]
    drawn = np.array([[[top[0], bottom[0]] for top, bottom in row] for row in cells])
    np.testing.assert_array_equal(drawn.transpose(0, 2, 1).reshape(4, 6), pixels)
