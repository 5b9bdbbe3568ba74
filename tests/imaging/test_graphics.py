"""Kitty and Sixel output decoded back into pictures, and drawn through ``draw``."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.imaging.helpers import console
from tui_pacs.imaging.draw import draw
from tui_pacs.imaging.geometry import CellShape
from tui_pacs.imaging.kitty import kitty_graphics
from tui_pacs.imaging.sixel import sixel_graphics
from tui_pacs.imaging.terminal import Protocol

_SIXEL_TOKEN = re.compile(r'"(\d+);(\d+);(\d+);(\d+)|#(\d+);2;(\d+);(\d+);(\d+)|#(\d+)'
                          r"|!(\d+)([?-~])|([?-~])|(\$)|(-)")


def decode_sixel(text: str) -> np.ndarray:
    """A small Sixel reader: the (H, W, 3) picture the sequence draws."""
    assert text.startswith("\x1bPq") and text.endswith("\x1b\\")
    body = text[3:-2]
    palette: dict[int, tuple[int, ...]] = {}
    picture = None
    colour = x = band = 0
    position = 0
    while position < len(body):
        match = _SIXEL_TOKEN.match(body, position)
        assert match, f"unexpected sixel data at {position}: {body[position:position + 20]!r}"
        position = match.end()
        raster, define, select, repeat, repeated, single, carriage, newline = (
            match.group(1), match.group(5), match.group(9), match.group(10), match.group(11),
            match.group(12), match.group(13), match.group(14))
        if raster:
            width, height = int(match.group(3)), int(match.group(4))
            picture = np.zeros((height, width, 3), dtype=np.int64)
        elif define:
            palette[int(define)] = tuple(round(int(match.group(i)) * 255 / 100)
                                         for i in (6, 7, 8))
        elif select:
            colour = int(select)
        elif carriage:
            x = 0
        elif newline:
            x, band = 0, band + 1
        else:
            count, char = (int(repeat), repeated) if repeat else (1, single)
            bits = ord(char) - 63
            for column in range(x, x + count):
                for row in range(6):
                    y = band * 6 + row
                    if bits >> row & 1 and y < picture.shape[0]:
                        picture[y, column] = palette[colour]
            x += count
    return picture


def test_sixel_grayscale_keeps_every_level():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    drawn = decode_sixel(sixel_graphics(pixels))
    expected = np.repeat(pixels[..., None], 3, axis=2).astype(np.int64)
    assert drawn.shape == (16, 16, 3)
    assert np.abs(drawn - expected).max() <= 2  # Sixel colours are whole percents


def test_sixel_rgb_is_quantized_faithfully():
    rng = np.random.default_rng(7)
    pixels = np.repeat(np.repeat(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), 4, 0), 3, 1)
    drawn = decode_sixel(sixel_graphics(pixels))  # 35 colours: all fit in the palette
    assert np.abs(drawn - pixels).max() <= 2


def test_sixel_long_runs_are_compressed():
    text = sixel_graphics(np.zeros((6, 300), dtype=np.uint8))
    assert "!300~" in text and len(text) < 100


def kitty_picture(text: str) -> tuple[dict[str, str], np.ndarray]:
    sequences = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", text)
    first = dict(item.split("=") for item in sequences[0][0].split(","))
    assert [keys.split(",")[-1] for keys, _ in sequences] == (
        ["m=1"] * (len(sequences) - 1) + ["m=0"])
    assert all(len(payload) <= 4096 for _, payload in sequences)
    png = base64.b64decode("".join(payload for _, payload in sequences))
    return first, np.asarray(Image.open(io.BytesIO(png)))


def test_kitty_sends_the_picture_as_png_in_chunks():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(120, 90, 3), dtype=np.uint8)  # > 4096 bytes of base64
    keys, picture = kitty_picture(kitty_graphics(pixels, 30, 20))
    assert keys["a"] == "T" and keys["f"] == "100" and keys["q"] == "2"
    assert (keys["c"], keys["r"]) == ("30", "20")
    np.testing.assert_array_equal(picture, pixels)


@pytest.mark.parametrize("protocol", [Protocol.KITTY, Protocol.SIXEL])
def test_draw_reserves_the_rows_and_ends_below_the_picture(protocol):
    pixels = np.full((100, 100), 128, dtype=np.uint8)
    con = console()
    placement = draw(pixels, 1.0, protocol, con, 20, 10, CellShape(8, 16))
    out = con.file.getvalue()
    assert (placement.cols, placement.rows) == (20, 10)
    assert out.startswith("\n" * 10 + "\x1b[10A\x1b7")
    assert out.endswith("\x1b8\x1b[10B")
    if protocol is Protocol.SIXEL:
        assert decode_sixel(out[out.index("\x1bP"):out.index("\x1b8")]).shape == (160, 160, 3)
    else:
        keys, picture = kitty_picture(out)
        assert picture.shape == (160, 160)


def test_draw_half_blocks_through_the_console():
    con = console("256")
    placement = draw(np.zeros((50, 100), dtype=np.uint8), 1.0, Protocol.HALFBLOCK, con, 40,
                     None, CellShape())
    assert (placement.cols, placement.rows) == (40, 10)
    assert con.file.getvalue().count("\n") == 10
