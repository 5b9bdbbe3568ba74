"""The attributes that say how to show one frame, wherever the file keeps them.

Classic images keep Rescale Slope/Intercept, Window Center/Width and Pixel
Spacing at the top of the dataset. Enhanced multi-frame images (Enhanced CT,
MR, ...) keep them per frame in functional groups: the frame's item of the
Per-Frame Functional Groups Sequence first, then the Shared one, PS3.3 C.7.6.16.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from tui_pacs.imaging.window import VoiFunction, Window

# Beyond this a "pixel aspect" is a broken attribute, not a real pixel shape.
_ASPECT_LIMITS = (0.2, 5.0)


@dataclass(frozen=True)
class FileWindow:
    window: Window
    explanation: str


@dataclass(frozen=True, eq=False)
class VoiLut:
    """An item of the VOI LUT Sequence, its table read once (PS3.3 C.11.2.1.1)."""

    first_mapped: int
    bits: int
    table: np.ndarray = field(repr=False)  # float32
    explanation: str


@dataclass(frozen=True)
class FrameAttributes:
    """What the Modality LUT, VOI LUT and geometry steps need for one frame."""

    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    rescale_type: str = ""
    modality: str = ""
    has_modality_lut: bool = False
    windows: tuple[FileWindow, ...] = ()
    voi_luts: tuple[VoiLut, ...] = ()
    pixel_aspect: float = 1.0
    padding_value: int | None = None

    @property
    def hounsfield(self) -> bool:
        """True when values after the Modality LUT are Hounsfield units."""
        if self.rescale_type:
            return self.rescale_type.upper() == "HU"
        return self.modality == "CT" and self.rescale_slope is not None


def frame_attributes(ds: Dataset, index: int) -> FrameAttributes:
    """The attributes of frame ``index`` (0-based) of ``ds``."""
    find = _FunctionalGroups(ds, index).find
    slope = _first_float(find("RescaleSlope", "PixelValueTransformationSequence"))
    intercept = _first_float(find("RescaleIntercept", "PixelValueTransformationSequence"))
    if slope is None or intercept is None:
        slope = intercept = None
    return FrameAttributes(
        rescale_slope=slope,
        rescale_intercept=intercept,
        rescale_type=str(find("RescaleType", "PixelValueTransformationSequence") or ""),
        modality=str(ds.get("Modality", "") or ""),
        has_modality_lut=bool(ds.get("ModalityLUTSequence")),
        windows=_file_windows(find),
        voi_luts=_voi_luts(ds),
        pixel_aspect=_pixel_aspect(find),
        padding_value=_padding(ds),
    )


class _FunctionalGroups:
    """Attribute lookup: per-frame group, then shared group, then the top level."""

    def __init__(self, ds: Dataset, index: int) -> None:
        self._ds = ds
        self._groups: list[Dataset] = []
        per_frame = ds.get("PerFrameFunctionalGroupsSequence") or ()
        if index < len(per_frame):
            self._groups.append(per_frame[index])
        shared = ds.get("SharedFunctionalGroupsSequence") or ()
        if shared:
            self._groups.append(shared[0])

    def find(self, keyword: str, macro: str | None = None) -> Any:
        """The value of ``keyword``, looked up in ``macro``'s functional groups first."""
        if macro:
            for group in self._groups:
                for item in group.get(macro) or ():
                    if keyword in item:
                        return item[keyword].value
        return self._ds.get(keyword)


def _file_windows(find) -> tuple[FileWindow, ...]:
    centers = _floats(find("WindowCenter", "FrameVOILUTSequence"))
    widths = _floats(find("WindowWidth", "FrameVOILUTSequence"))
    explanations = _strings(find("WindowCenterWidthExplanation", "FrameVOILUTSequence"))
    function = _voi_function(find("VOILUTFunction", "FrameVOILUTSequence"))
    windows = []
    for number, (center, width) in enumerate(zip(centers, widths, strict=False)):
        window = Window(center, width, function)
        if width < window.smallest_width:
            continue  # not a usable window; the others may be
        explanation = explanations[number] if number < len(explanations) else ""
        windows.append(FileWindow(window, explanation))
    return tuple(windows)


def _voi_luts(ds: Dataset) -> tuple[VoiLut, ...]:
    """The usable VOI LUTs of ``ds``; a malformed one is left out, as an unusable
    window is: the file's other windows and the automatic one remain."""
    luts = []
    for item in ds.get("VOILUTSequence") or ():
        try:
            luts.append(_voi_lut(item, ds))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return tuple(luts)


def _voi_lut(item: Dataset, ds: Dataset) -> VoiLut:
    entries, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
    data = item.LUTData
    if isinstance(data, (bytes, bytearray)):  # read as OW: bytes in the dataset's byte order
        table = np.frombuffer(data, dtype="<u2" if _is_little_endian(ds) else ">u2")
    else:
        table = np.atleast_1d(np.asarray(data))
    if table.size == 0 or table.dtype.kind not in "iuf":
        raise ValueError("no LUT Data")
    return VoiLut(first_mapped, bits, table[:entries or 1 << 16].astype(np.float32),
                  str(item.get("LUTExplanation", "") or ""))


def _is_little_endian(ds: Dataset) -> bool:
    file_meta = getattr(ds, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if syntax is not None:
        return bool(syntax.is_little_endian)
    return getattr(ds, "original_encoding", (None, True))[1] is not False


def _voi_function(value: Any) -> VoiFunction:
    try:
        return VoiFunction(str(value or "LINEAR").strip().upper())
    except ValueError:
        return VoiFunction.LINEAR  # PS3.3: LINEAR when absent; unknown values too


def _pixel_aspect(find) -> float:
    """Physical height / width of one pixel."""
    spacing = (_floats(find("PixelSpacing", "PixelMeasuresSequence"))
               or _floats(find("ImagerPixelSpacing")))
    if len(spacing) == 2 and spacing[0] > 0 and spacing[1] > 0:
        aspect = spacing[0] / spacing[1]  # row spacing (height) / column spacing (width)
    else:
        ratio = _floats(find("PixelAspectRatio"))  # vertical \ horizontal
        aspect = ratio[0] / ratio[1] if len(ratio) == 2 and ratio[0] > 0 and ratio[1] > 0 else 1.0
    low, high = _ASPECT_LIMITS
    return aspect if low <= aspect <= high else 1.0


def _padding(ds: Dataset) -> int | None:
    try:
        value = ds.get("PixelPaddingValue")
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _first_float(value: Any) -> float | None:
    values = _floats(value)
    return values[0] if values else None


def _floats(value: Any) -> tuple[float, ...]:
    """Numbers from a DS/IS/FD value of any multiplicity; () when there are none or junk."""
    if value is None or value == "":
        return ()
    iterable = hasattr(value, "__iter__") and not isinstance(value, (str, bytes))
    items: Iterable[Any] = value if iterable else (value,)
    numbers = []
    for item in items:
        try:
            number = float(item)
        except (TypeError, ValueError):
            return ()
        if not math.isfinite(number):
            return ()
        numbers.append(number)
    return tuple(numbers)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)
