"""Every file with pixel data bundled with pydicom renders, or says clearly why it cannot."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.imaging.helpers import bundled, bundled_pixel_files, console
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.pipeline import halfblock, picture, prepare
from tui_pacs.imaging.source import DicomImage

GDCM_INSTALLED = importlib.util.find_spec("gdcm") is not None

# File -> words its one-line reason must contain. Each is damaged or incomplete,
# not a transfer syntax we fail to decode.
EXPECTED_UNSUPPORTED = {
    # A 12-bit JPEG stream with a marker libjpeg rejects; GDCM is lenient with it.
    "test_files/JPEG-lossy.dcm": ("JPEG Extended (Process 2 and 4)", "could not be decoded",
                                  "python-gdcm"),
    # The J2K codestream is cut by an embedded sequence delimiter.
    "test_files/JPEG2000-embedded-sequence-delimiter.dcm": (
        "JPEG 2000 Image Compression", "could not be decoded"),
    "test_files/MR_truncated.dcm": ("truncated", "8130", "8192"),
    "test_files/badVR.dcm": ("NumberOfFrames '1A' is not a number",),
    # Two bytes of Pixel Data and no Image Pixel module at all.
    "test_files/meta_missing_tsyntax.dcm": ("Image Pixel module is incomplete", "Rows"),
    "test_files/nested_priv_SQ.dcm": ("Image Pixel module is incomplete", "Rows"),
}
if GDCM_INSTALLED:
    del EXPECTED_UNSUPPORTED["test_files/JPEG-lossy.dcm"]

# Many of these files are odd on purpose; pydicom warns about each oddity.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FILES = bundled_pixel_files()


def test_the_listing_finds_the_bundled_images():
    assert len(FILES) > 100
    assert set(EXPECTED_UNSUPPORTED) <= set(FILES)


@pytest.mark.parametrize("relative", [f for f in FILES if f not in EXPECTED_UNSUPPORTED])
def test_renders(relative):
    image = DicomImage.open(bundled(relative))
    for index in range(image.frames):
        prepared = prepare(image, index)
        pixels = picture(prepared)
        assert pixels.dtype == np.uint8
        assert pixels.shape[:2] == (image.info.rows, image.info.columns)
        assert pixels.ndim == (2 if prepared.windows.applies else 3)  # L, or RGB
        renderable = halfblock(pixels, prepared.attributes.pixel_aspect, 60, 20)
        assert 1 <= renderable.width <= 60 and 1 <= renderable.height <= 20
        con = console("256")
        con.print(renderable)
        lines = con.file.getvalue().splitlines()
        assert len(lines) == renderable.height
        assert all("▀" in line for line in lines)


@pytest.mark.parametrize("relative", sorted(EXPECTED_UNSUPPORTED))
def test_unsupported_gives_one_clear_line(relative):
    with pytest.raises(UnsupportedImage) as caught:
        image = DicomImage.open(bundled(relative))
        for index in range(image.frames):
            picture(prepare(image, index))
    reason = str(caught.value)
    assert "\n" not in reason and len(reason) < 300
    for words in EXPECTED_UNSUPPORTED[relative]:
        assert words in reason
