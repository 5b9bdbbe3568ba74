"""The preview in real pixels: textual-image's Kitty and Sixel widgets, chosen before the app
starts (the command line, ``[ui] images``); half blocks stay the default."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from tests.conftest import REPO, cli_env, pydicom_file, run_cli
from tests.dicom_factory import make_dataset, write_instance
from tests.ui.conftest import TODAY, make_app, screen_text, seed, settle
from tests.ui.test_ui_cli import read_until, spawn, wait_exit
from tui_pacs.cli.app import _image_protocol
from tui_pacs.config import ConfigError, load_settings
from tui_pacs.imaging.halfblock import HalfBlockImage
from tui_pacs.imaging.terminal import Protocol
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.screens.preview import ImageView, PreviewScreen
from tui_pacs.ui.widgets.picture_view import PictureView

# 96 x 32 pixels, each twice as tall as wide: 48 x 32 mm on the patient.
WIDE_COLUMNS, WIDE_ROWS, WIDE_SPACING = 96, 32, [1.0, 0.5]


@pytest.fixture
def truecolor(monkeypatch):
    """A terminal whose colours reach it unchanged, as Kitty graphics need."""
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def images(settings, tmp_path, truecolor):
    wide = make_dataset(modality="MR", rows=WIDE_ROWS, columns=WIDE_COLUMNS, study=7)
    wide.PixelSpacing = WIDE_SPACING
    broken = make_dataset(modality="US", study=8)
    broken.PixelData = broken.PixelData[:100]
    asyncio.run(seed(settings.node.data, [
        pydicom_file("CT_small.dcm"), pydicom_file("SC_rgb_rle_2frame.dcm"),
        write_instance(tmp_path / "wide.dcm", wide),
        write_instance(tmp_path / "broken.dcm", broken),
    ]))
    return settings


def graphics_app(settings, protocol: Protocol) -> PacsApp:
    return PacsApp(settings, listen=False, clock=lambda: TODAY, image_protocol=protocol)


async def open_preview(pilot, modality: str) -> PreviewScreen:
    app = pilot.app
    await settle(pilot)
    rows = app.screen.table.loaded_rows()
    app.screen.table.cursor_row = next(n for n, r in enumerate(rows)
                                       if modality in r["ModalitiesInStudy"])
    await pilot.press("v")
    await settle(pilot)
    assert isinstance(app.screen, PreviewScreen)
    return app.screen


def shown(screen: PreviewScreen):
    """The textual-image widget and the picture it holds, checked against its cells."""
    view = screen.query_one(PictureView)
    widget = view.picture
    cell = screen.app.graphics.cell
    box = widget.content_region
    assert widget.display and widget.image is not None
    assert widget.image.size == (box.width * cell.width, box.height * cell.height)
    assert view.region.contains_region(widget.region)
    return widget, widget.image


@pytest.mark.parametrize("protocol", [Protocol.KITTY, Protocol.SIXEL])
async def test_real_pixels_with_the_window_keys(images, protocol):
    app = graphics_app(images, protocol)
    from textual_image.widget import SixelImage, TGPImage  # loaded by the app, quietly

    assert app.graphics.widget is {Protocol.KITTY: TGPImage, Protocol.SIXEL: SixelImage}[protocol]
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_preview(pilot, "CT")
        assert not screen.query(ImageView)
        widget, picture = shown(screen)
        assert isinstance(widget, app.graphics.widget) and picture.mode == "L"
        view = screen.query_one(PictureView).size
        # A square image as large as the view allows: the full height, centred.
        assert widget.size.height == view.height
        assert abs(picture.width - picture.height) < app.graphics.cell.width
        first = picture.tobytes()
        await pilot.press("w")
        await settle(pilot)
        _, windowed = shown(screen)
        assert windowed.tobytes() != first
        await pilot.press("a", "right_square_bracket", "period")
        await settle(pilot)
        _, manual = shown(screen)
        assert manual.tobytes() != windowed.tobytes() and "manual" in screen_text(app)


@pytest.mark.parametrize("protocol", [Protocol.KITTY, Protocol.SIXEL])
async def test_the_physical_aspect_ratio_is_kept(images, protocol):
    async with graphics_app(images, protocol).run_test(size=(80, 24)) as pilot:
        screen = await open_preview(pilot, "MR")
        widget, picture = shown(screen)
        physical = (WIDE_COLUMNS * WIDE_SPACING[1]) / (WIDE_ROWS * WIDE_SPACING[0])
        assert picture.width / picture.height == pytest.approx(physical, rel=0.05)
        view = screen.query_one(PictureView).size
        assert view.height == widget.size.height  # as tall as it can be
        await pilot.press("escape")
        await settle(pilot)
        assert widget.image is None  # a Kitty picture is deleted from the terminal


async def test_colour_frames_in_real_pixels(images):
    async with graphics_app(images, Protocol.KITTY).run_test(size=(80, 24)) as pilot:
        screen = await open_preview(pilot, "OT")
        _, first = shown(screen)
        assert first.mode == "RGB"
        await pilot.press("right")
        await settle(pilot)
        _, second = shown(screen)
        assert screen.frame == 1 and "frame 2/2" in screen_text(pilot.app)
        assert second.tobytes() != first.tobytes()


async def test_an_image_that_cannot_be_shown_says_why(images):
    async with graphics_app(images, Protocol.SIXEL).run_test(size=(80, 24)) as pilot:
        screen = await open_preview(pilot, "US")
        view = screen.query_one(PictureView)
        assert not view.picture.display and view.picture.image is None
        assert "pixel data is truncated" in screen_text(pilot.app)


async def test_half_blocks_by_default(images):
    app = make_app(images)
    assert app.graphics is None
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_preview(pilot, "CT")
        assert not screen.query(PictureView)
        assert isinstance(screen.rendered.renderable, HalfBlockImage)
        assert screen.query_one("#image", ImageView)


@pytest.mark.parametrize("protocol", [Protocol.HALFBLOCK, Protocol.AUTO])
def test_no_graphics_protocol_means_half_blocks(settings, protocol):
    assert graphics_app(settings, protocol).graphics is None


def test_kitty_pictures_need_colours_unchanged(settings, monkeypatch):
    """textual-image finds a Kitty picture by its placeholders' colour: 256 colours or
    NO_COLOR would lose it, so those terminals keep half blocks. Sixel has no such need."""
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert graphics_app(settings, Protocol.KITTY).graphics is None
    assert graphics_app(settings, Protocol.SIXEL).graphics is not None
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.setenv("NO_COLOR", "1")
    assert graphics_app(settings, Protocol.KITTY).graphics is None


LOAD_IN_A_TERMINAL = """
import sys
from textual.app import App
from tui_pacs.imaging.terminal import Protocol
from tui_pacs.ui.graphics import load_graphics
graphics = load_graphics(Protocol.SIXEL, App())
print(graphics.widget.__module__, graphics.cell.width, graphics.cell.height, file=sys.stderr)
"""


def test_loading_the_widgets_asks_the_terminal_nothing():
    """Importing textual_image.widget would query a terminal on stdout; the app knows."""
    master, slave = pty.openpty()
    # 80x24 cells on 720x432 screen pixels: cells of 9x18, from the terminal driver.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 720, 432))
    try:
        result = subprocess.run([sys.executable, "-c", LOAD_IN_A_TERMINAL], stdin=slave,
                                stdout=slave, stderr=subprocess.PIPE, text=True, timeout=60,
                                env=cli_env(), cwd=REPO)
        os.set_blocking(master, False)
        try:
            written = os.read(master, 65536)
        except BlockingIOError:
            written = b""
    finally:
        os.close(master)
        os.close(slave)
    assert result.returncode == 0, result.stderr
    assert result.stderr.split() == ["textual_image.widget.sixel", "9", "18"]
    assert written == b""


def test_the_images_key(config_file):
    for value in ("auto", "halfblock", "kitty", "sixel"):
        assert load_settings(config_file(f'[ui]\nimages = "{value}"\n')).ui.images == value
    assert load_settings(config_file("[ui]\n")).ui.images == "auto"
    path = config_file('[ui]\nimages = "retina"\n')
    with pytest.raises(ConfigError, match=r"ui\.images: must be one of auto, halfblock, "
                                          r"kitty, sixel, not 'retina'"):
        load_settings(path)


def test_a_bad_images_value_is_one_line_and_status_2(config_file):
    path = config_file('[ui]\nimages = "retina"\n')
    result = run_cli("--config", path, "app")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"tui-pacs: {path}: ui.images: must be one of auto, "
                                     "halfblock, kitty, sixel, not 'retina'")


def test_the_command_line_passes_the_choice_on(monkeypatch):
    assert "--images" in run_cli("app", "--help").stdout
    assert _image_protocol("sixel") is Protocol.SIXEL
    assert _image_protocol("kitty") is Protocol.KITTY
    # Not a terminal: auto asks nothing and keeps half blocks.
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert _image_protocol("auto") is Protocol.HALFBLOCK


def test_sixel_pictures_reach_a_real_terminal(seeded, tmp_path):
    """The whole path in a pseudo-terminal: --images sixel, the app, v, the picture."""
    env = {**cli_env(), "TERM": "xterm-256color", "TUI_PACS_CONFIG": str(tmp_path / "c.toml")}
    pid, fd = spawn(["--no-listen", "--data", str(seeded.node.data), "--images", "sixel"], env)
    try:
        read_until(fd, b"DOE^JANE")
        os.write(fd, b"v")
        screen = read_until(fd, b'"1;1;')  # a Sixel picture's raster attributes
        assert b"\x1bP" in screen and b"\x1b[c" not in screen  # drawn, no protocol query
        os.write(fd, b"\x11")
        assert wait_exit(pid, fd) == 0
    finally:
        os.close(fd)
