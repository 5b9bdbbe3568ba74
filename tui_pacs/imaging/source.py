"""A DICOM image opened for display: its Image Pixel module checked, frames decoded one at a time.

Decoding goes through pydicom's decoders (see ``decoders``); every way a file
can fail, from "not DICOM" to a damaged JPEG stream, becomes an
``UnsupportedImage`` with a one-line reason.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from tui_pacs.imaging.attributes import FrameAttributes, frame_attributes
from tui_pacs.imaging.decoders import decode_failure, decoder_for
from tui_pacs.imaging.errors import UnsupportedImage

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

# What presentation can show; JPEG 2000 decoders turn YBR_ICT and YBR_RCT into RGB.
SHOWN_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422",
                      "PALETTE COLOR", "YBR_ICT", "YBR_RCT")
_NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                    DeflatedExplicitVRLittleEndian)


@dataclass(frozen=True)
class ImageInfo:
    """The Image Pixel module of an image, checked, plus what identifies it."""

    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    transfer_syntax: UID
    modality: str
    sop_instance_uid: str
    # Frame Time (0018,1063) in milliseconds: a cine's pace, when the file says.
    frame_time: float | None = None


@dataclass(frozen=True)
class DecodedFrame:
    """One frame as the decoder returns it: (rows, columns) or (rows, columns, samples).

    ``photometric`` describes the array, which may differ from the dataset's
    (decoders undo YBR_ICT/YBR_RCT and YBR_FULL_422 subsampling themselves).
    """

    pixels: np.ndarray
    photometric: str
    bits_stored: int


class DicomImage:
    """A dataset with pixel data, ready to decode any of its frames.

    Safe to share between threads: pydicom datasets convert elements lazily,
    so decoding and attribute reads take the image's lock, and whoever reads
    ``dataset`` directly holds ``exclusive()``.
    """

    def __init__(self, dataset: Dataset, name: str) -> None:
        self.dataset = dataset
        self.name = name
        self._lock = threading.RLock()
        self.info = _image_info(dataset)

    @contextmanager
    def exclusive(self) -> Iterator[Dataset]:
        """The dataset, for this thread alone until the block ends."""
        with self._lock:
            yield self.dataset

    @classmethod
    def open(cls, path: Path) -> DicomImage:
        return cls(_read(path), path.name)

    @property
    def frames(self) -> int:
        return self.info.frames

    def decode(self, index: int) -> DecodedFrame:
        """Frame ``index`` (0-based); UnsupportedImage when it cannot be decoded."""
        self._check_index(index)
        ts = self.info.transfer_syntax
        decoder = decoder_for(ts)
        with self._lock:
            _check_length(self.dataset, ts)
            try:
                pixels, meta = decoder.as_array(self.dataset, index=index, raw=True)
            except Exception as exc:  # decoders raise anything from ValueError to RuntimeError
                raise decode_failure(ts, decoder, exc) from None
        photometric = str(meta.get("photometric_interpretation", self.info.photometric))
        return DecodedFrame(pixels, photometric,
                            int(meta.get("bits_stored", self.info.bits_stored)))

    def attributes(self, index: int) -> FrameAttributes:
        self._check_index(index)
        with self._lock:
            return frame_attributes(self.dataset, index)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index + 1}: the image has {self.frames} frame(s)")


def _read(path: Path) -> Dataset:
    try:
        return dcmread(path)
    except InvalidDicomError:
        pass  # no preamble and "DICM": maybe a bare dataset
    except FileNotFoundError:
        raise UnsupportedImage("no such file") from None
    except IsADirectoryError:
        raise UnsupportedImage("is a directory") from None
    except Exception as exc:
        raise UnsupportedImage(f"not readable as DICOM ({_short(exc)})") from None
    try:
        ds = dcmread(path, force=True)
    except Exception as exc:
        raise UnsupportedImage(f"not a DICOM file ({_short(exc)})") from None
    if not any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
        raise UnsupportedImage("not a DICOM file, or one without pixel data")
    return ds


def _image_info(ds: Dataset) -> ImageInfo:
    if not any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
        what = getattr(ds.get("SOPClassUID"), "name", "") or "this dataset"
        raise UnsupportedImage(f"no pixel data in {what}")
    transfer_syntax = _transfer_syntax(ds)
    decoder_for(transfer_syntax)  # video or a missing decoder: say so before anything else
    rows = _required_int(ds, "Rows")
    columns = _required_int(ds, "Columns")
    bits_allocated = _required_int(ds, "BitsAllocated")
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if not photometric:
        raise UnsupportedImage("the Image Pixel module is incomplete: no "
                               "PhotometricInterpretation")
    if photometric not in SHOWN_PHOTOMETRICS:
        raise UnsupportedImage(f"photometric interpretation {photometric} is not supported")
    if rows == 0 or columns == 0:
        raise UnsupportedImage(f"the image is {rows}x{columns} pixels")
    return ImageInfo(
        rows=rows,
        columns=columns,
        frames=_frame_count(ds),
        samples_per_pixel=_optional_int(ds, "SamplesPerPixel", 1),
        photometric=photometric,
        bits_allocated=bits_allocated,
        bits_stored=_optional_int(ds, "BitsStored", bits_allocated),
        transfer_syntax=transfer_syntax,
        modality=str(ds.get("Modality", "") or ""),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        frame_time=_frame_time(ds),
    )


def _frame_time(ds: Dataset) -> float | None:
    """Frame Time in milliseconds when it is a usable positive number, else None."""
    try:
        value = float(ds.get("FrameTime"))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _transfer_syntax(ds: Dataset) -> UID:
    """The file's transfer syntax; for uncompressed data without one, how it was read."""
    file_meta = getattr(ds, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if uid:
        return UID(uid)
    element = ds.data_element("PixelData")
    if element is not None and element.is_undefined_length:
        raise UnsupportedImage("compressed pixel data without a Transfer Syntax UID")
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if little is False:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def _frame_count(ds: Dataset) -> int:
    value = ds.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    try:
        frames = int(value)
    except (TypeError, ValueError):
        raise UnsupportedImage(f"NumberOfFrames {str(value)!r} is not a number") from None
    return max(frames, 1)


def _check_length(ds: Dataset, ts: UID) -> None:
    """Native pixel data shorter than the Image Pixel module says: name both sizes."""
    if ts not in _NATIVE_SYNTAXES or "PixelData" not in ds:
        return
    try:
        expected = get_expected_length(ds)
    except (AttributeError, TypeError, ValueError):
        return  # an incomplete module: the decoder's own check names what is missing
    actual = len(ds.PixelData)
    if actual < expected:
        raise UnsupportedImage(f"the pixel data is truncated: {actual} bytes where Rows, "
                               f"Columns, BitsAllocated and the frame count need {expected}")


def _required_int(ds: Dataset, keyword: str) -> int:
    if ds.get(keyword) in (None, ""):
        raise UnsupportedImage(f"the Image Pixel module is incomplete: no {keyword}")
    return _optional_int(ds, keyword, 0)


def _optional_int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UnsupportedImage(f"{keyword} {str(value)!r} is not a number") from None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 100 else text[:99] + "…"
