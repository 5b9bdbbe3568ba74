"""From a decoded frame to a picture: the steps in order, for the CLI and the service.

    prepare(image, index)      decode; grayscale: Modality LUT values and the
                               windows that apply; colour: the RGB picture
    picture(prepared, window)  VOI LUT + photometric -> uint8 L or RGB, full size
    fit_picture(...)           scaled with a smoothing filter into a box of cells
    halfblock(...)             the rich renderable

Preparing is the slow part (decoding); a prepared frame can be shown with any
window again for the cost of the VOI step alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from tui_pacs.imaging.attributes import FrameAttributes
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.geometry import DEFAULT_CELL, CellShape, Placement, fit
from tui_pacs.imaging.halfblock import HalfBlockImage
from tui_pacs.imaging.presentation import color_to_rgb8, gray_to_8bit, is_grayscale
from tui_pacs.imaging.source import DicomImage, ImageInfo
from tui_pacs.imaging.voi import (
    AUTO_PERCENTILES,
    auto_window,
    modality_values,
    voi_lut_intensities,
    window_intensities,
)
from tui_pacs.imaging.window import (
    PRESET_CHOICES,
    WindowChoice,
    WindowSource,
    WindowState,
    default_choice,
)

# Enlarging by this much or more keeps pixels square-edged instead of blurring them.
_CRISP_UPSCALE = 2.0


@dataclass(frozen=True)
class PreparedFrame:
    """One decoded frame: modality values (grayscale) or its RGB picture (colour)."""

    info: ImageInfo
    index: int
    photometric: str
    attributes: FrameAttributes
    windows: WindowState
    values: np.ndarray | None = None
    rgb: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        array = self.values if self.values is not None else self.rgb
        assert array is not None
        return array.shape[0], array.shape[1]

    @property
    def nbytes(self) -> int:
        array = self.values if self.values is not None else self.rgb
        return 0 if array is None else array.nbytes


def prepare(image: DicomImage, index: int) -> PreparedFrame:
    """Decode frame ``index`` (0-based) and work out how it can be shown."""
    with image.exclusive() as dataset:
        frame = image.decode(index)
        attributes = image.attributes(index)
        if not is_grayscale(frame.photometric):
            rgb = color_to_rgb8(frame, dataset)
            return PreparedFrame(image.info, index, frame.photometric, attributes,
                                 WindowState(None), rgb=rgb)
        pixels = frame.pixels
        if pixels.ndim != 2:
            raise UnsupportedImage(f"{frame.photometric} with {pixels.shape[-1]} samples per "
                                   "pixel: a grayscale image has one")
        values = modality_values(pixels, attributes, dataset)
    return PreparedFrame(image.info, index, frame.photometric, attributes,
                         window_state(attributes, values, pixels), values=values)


def window_state(attributes: FrameAttributes, values: np.ndarray,
                 pixels: np.ndarray) -> WindowState:
    """The file's windows and VOI LUTs, the automatic window and, for CT, the presets."""
    file_choices = [
        WindowChoice(WindowSource.FILE, file_window.explanation or f"window {number}",
                     file_window.explanation, window=file_window.window)
        for number, file_window in enumerate(attributes.windows, start=1)
    ]
    file_choices += [
        WindowChoice(WindowSource.VOI_LUT, lut.explanation or f"VOI LUT {number}",
                     lut.explanation, lut_index=number - 1)
        for number, lut in enumerate(attributes.voi_luts, start=1)
    ]
    low, high = AUTO_PERCENTILES
    auto = WindowChoice(WindowSource.AUTO, "", f"{low:g}-{high:g} percentile of the pixel values",
                        window=auto_window(values, pixels, attributes.padding_value))
    presets = PRESET_CHOICES if attributes.hounsfield else ()
    return WindowState(default_choice(tuple(file_choices), auto), tuple(file_choices), auto,
                       presets)


def picture(prepared: PreparedFrame, choice: WindowChoice | None = None) -> np.ndarray:
    """The frame as uint8 (rows, columns) grayscale or (rows, columns, 3) RGB.

    ``choice`` is ignored for colour frames; None means the frame's default window.
    """
    if prepared.rgb is not None:
        return prepared.rgb
    assert prepared.values is not None
    choice = choice or prepared.windows.current
    assert choice is not None
    if choice.lut_index is not None:
        lut = prepared.attributes.voi_luts[choice.lut_index]
        intensities = voi_lut_intensities(prepared.values, lut)
    else:
        assert choice.window is not None
        intensities = window_intensities(prepared.values, choice.window)
    return gray_to_8bit(intensities, prepared.photometric)


def fit_picture(pixels: np.ndarray, pixel_aspect: float, max_cols: int, max_rows: int | None,
                cell: CellShape = DEFAULT_CELL,
                rows_per_cell: int = 2) -> tuple[np.ndarray, Placement]:
    """``pixels`` resized to fill the box of cells, keeping the physical aspect ratio."""
    placement = fit(pixels.shape[1], pixels.shape[0], pixel_aspect, max_cols, max_rows, cell,
                    rows_per_cell)
    return resize(pixels, placement.width, placement.height), placement


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    if (height, width) == pixels.shape[:2]:
        return pixels
    enlarging = (width >= pixels.shape[1] * _CRISP_UPSCALE
                 or height >= pixels.shape[0] * _CRISP_UPSCALE)
    method = Image.Resampling.NEAREST if enlarging else Image.Resampling.LANCZOS
    resized = Image.fromarray(pixels).resize((width, height), method, reducing_gap=2.0)
    return np.asarray(resized)


def halfblock(pixels: np.ndarray, pixel_aspect: float, max_cols: int, max_rows: int | None,
              cell: CellShape = DEFAULT_CELL) -> HalfBlockImage:
    """The picture as half blocks filling at most ``max_cols`` x ``max_rows`` cells."""
    fitted, _ = fit_picture(pixels, pixel_aspect, max_cols, max_rows, cell, rows_per_cell=2)
    return HalfBlockImage(fitted)
