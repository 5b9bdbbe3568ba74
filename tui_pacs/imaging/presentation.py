"""Photometric interpretation -> an 8-bit picture: L for grayscale, RGB for colour.

MONOCHROME2 shows low values dark, MONOCHROME1 shows them bright (it is
inverted after the VOI step). Colour frames skip the window: RGB is scaled to
8 bits, YBR_FULL (and YBR_FULL_422, which the decoder has already upsampled)
is converted to RGB, and PALETTE COLOR goes through the file's palette.
Planar Configuration is undone by the decoder: frames arrive interleaved.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, convert_color_space

from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.source import DecodedFrame

GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
_YBR = ("YBR_FULL", "YBR_FULL_422")


def is_grayscale(photometric: str) -> bool:
    return photometric in GRAYSCALE


def gray_to_8bit(intensities: np.ndarray, photometric: str) -> np.ndarray:
    """0..1 intensities -> uint8, bright = high unless MONOCHROME1. Reuses the input array."""
    if photometric == "MONOCHROME1":
        np.subtract(1.0, intensities, out=intensities)
    intensities *= 255.0
    intensities += 0.5
    return intensities.astype(np.uint8)


def color_to_rgb8(frame: DecodedFrame, ds: Dataset) -> np.ndarray:
    """A colour frame as (rows, columns, 3) uint8 RGB."""
    photometric = frame.photometric
    if photometric == "PALETTE COLOR":
        return _palette_to_rgb8(frame.pixels, ds)
    if frame.pixels.ndim != 3 or frame.pixels.shape[-1] != 3:
        raise UnsupportedImage(f"{photometric} with {_samples(frame.pixels)} sample(s) per "
                               "pixel is not a colour image tui-pacs can show")
    rgb = _to_8bit(frame.pixels, frame.bits_stored)
    if photometric == "RGB":
        return rgb
    if photometric in _YBR:
        return convert_color_space(rgb, "YBR_FULL", "RGB")
    raise UnsupportedImage(f"photometric interpretation {photometric} is not supported")


def _palette_to_rgb8(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    try:
        rgb = apply_color_lut(pixels, ds)
    except (AttributeError, ValueError, KeyError) as exc:
        raise UnsupportedImage(f"PALETTE COLOR without a usable palette ({exc})") from None
    if rgb.dtype == np.uint8:
        return rgb
    # 16-bit entries; some writers put 8-bit values in them (PS3.3 C.7.6.3.1.5).
    return rgb.astype(np.uint8) if int(rgb.max()) <= 255 else (rgb >> 8).astype(np.uint8)


def _to_8bit(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    shift = max(bits_stored - 8, 0)
    return (pixels.astype(np.uint32) >> shift).clip(0, 255).astype(np.uint8)


def _samples(pixels: np.ndarray) -> int:
    return pixels.shape[-1] if pixels.ndim == 3 else 1
