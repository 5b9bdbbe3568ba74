"""The LUT steps of a grayscale frame: stored values -> modality values -> 0..1 intensities.

PS3.3 C.11: the Modality LUT (Rescale Slope/Intercept or the Modality LUT
Sequence) gives values in real units (HU for CT); the VOI LUT (a window with
its VOI LUT Function, or an item of the VOI LUT Sequence) picks the range to
see. Everything runs on whole float32 arrays: a 512x512 frame takes about a
millisecond per step.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut

from tui_pacs.imaging.attributes import FrameAttributes, VoiLut
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.window import VoiFunction, Window

# The automatic window spans these percentiles, so a few hot or dead pixels
# (or the air around a CT) do not wash the picture out.
AUTO_PERCENTILES = (0.5, 99.5)
# Percentiles over this many pixels are as good as over all of them, and faster.
_AUTO_SAMPLE = 1 << 16


def modality_values(pixels: np.ndarray, attrs: FrameAttributes, ds: Dataset) -> np.ndarray:
    """Stored values -> values in the modality's units, as float32."""
    if attrs.has_modality_lut:
        try:
            return apply_modality_lut(pixels, ds).astype(np.float32)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise UnsupportedImage(f"the Modality LUT Sequence is malformed ({exc})") from None
    values = pixels.astype(np.float32)
    if attrs.rescale_slope is not None and attrs.rescale_intercept is not None:
        if attrs.rescale_slope != 1:
            values *= np.float32(attrs.rescale_slope)
        if attrs.rescale_intercept != 0:
            values += np.float32(attrs.rescale_intercept)
    return values


def window_intensities(values: np.ndarray, window: Window) -> np.ndarray:
    """Modality values -> 0..1 through a window, PS3.3 C.11.2.1.2 and C.11.2.1.3."""
    center, width = window.center, window.width
    if window.function is VoiFunction.SIGMOID:
        with np.errstate(over="ignore"):  # exp -> inf far below the center: 1 / inf = 0
            return (1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))).astype(np.float32)
    if window.function is VoiFunction.LINEAR:
        center, width = center - 0.5, width - 1.0
    if width <= 0:
        # LINEAR with width 1: a threshold at the center.
        return (values > center).astype(np.float32)
    # ((x - c) / w + 0.5), clipped: the same line as the standard's if/else form.
    out = values - np.float32(center - width / 2.0)
    out *= np.float32(1.0 / width)
    np.clip(out, 0.0, 1.0, out=out)
    return out


def voi_lut_intensities(values: np.ndarray, lut: VoiLut) -> np.ndarray:
    """Modality values -> 0..1 through an item of the VOI LUT Sequence.

    The output range is the LUT's nominal one (2^bits - 1, PS3.3 C.11.2.1.1),
    or its largest entry when a writer put bigger values in it.
    """
    positions = np.rint(values) - lut.first_mapped
    np.clip(positions, 0, len(lut.table) - 1, out=positions)
    top = max(float(2 ** lut.bits - 1), float(lut.table.max()))
    return (lut.table[positions.astype(np.intp)] / np.float32(top)).astype(np.float32)


def auto_window(values: np.ndarray, pixels: np.ndarray, padding_value: int | None) -> Window:
    """A window over the frame's own values, ignoring Pixel Padding Value.

    LINEAR_EXACT so that the lower percentile is black and the upper white.
    """
    step = max(1, values.size // _AUTO_SAMPLE)
    sample = values.reshape(-1)[::step]
    keep = np.isfinite(sample)
    if padding_value is not None:
        keep &= pixels.reshape(-1)[::step] != padding_value
    if keep.any():
        sample = sample[keep]
    low, high = (float(v) for v in np.percentile(sample, AUTO_PERCENTILES))
    if not high > low:
        low, high = float(np.nanmin(sample)), float(np.nanmax(sample))
    if not high > low:
        high = low + 1.0  # a flat frame
    return Window(round((low + high) / 2, 2), round(high - low, 2), VoiFunction.LINEAR_EXACT)
