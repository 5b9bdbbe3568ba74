"""A DICOM image opened for display: its Image Pixel module checked, frames decoded one at a time.

Opening a file reads its header only (``stop_before_pixels``; long values stay
in the file) and notes where its pixel data starts. Each frame is then read
from the file when it is asked for: pydicom's decoders seek to a native
frame, or find an encapsulated one through the offset tables or its
fragments' item headers, and read that frame's bytes alone. A 2 GB
multi-frame is paged through in the memory of one frame. (A deflated file
cannot be read from the middle: it is inflated whole, as pydicom does.)

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
from typing import Any, BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import Decoder
from pydicom.pixels.utils import as_pixel_options, get_expected_length
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from tui_pacs.core.dataset_walk import (
    UNDEFINED,
    FileStream,
    MalformedDataset,
    looks_like_vr,
    read_header,
)
from tui_pacs.imaging.attributes import FrameAttributes, frame_attributes
from tui_pacs.imaging.decoders import decode_failure, decoder_for
from tui_pacs.imaging.errors import UnsupportedImage

PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIXEL_DATA_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData",
                    0x7FE00009: "DoubleFloatPixelData"}
# Values longer than this stay in the file while the header is read (an
# overlay of a thousand frames, a private blob); none is needed for display.
DEFER_SIZE = 1_048_576

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
class PixelDataLocation:
    """Where a file keeps its pixel data, so that frames are read one at a time."""

    path: Path
    keyword: str
    vr: str | None     # as written in explicit VR (8-bit big endian OW is byte-swapped)
    offset: int        # of the value: the first frame, or the Basic Offset Table
    length: int | None  # bytes the file holds for it; None when encapsulated


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

    ``pixels`` says where in a file the pixel data is, when ``dataset`` is the
    file's header alone; None when the dataset holds its pixel data itself.

    Safe to share between threads: pydicom datasets convert elements lazily,
    so decoding and attribute reads take the image's lock, and whoever reads
    ``dataset`` directly holds ``exclusive()``.
    """

    def __init__(self, dataset: Dataset, name: str,
                 pixels: PixelDataLocation | None = None) -> None:
        self.dataset = dataset
        self.name = name
        self.pixels = pixels
        self._lock = threading.RLock()
        self.info = _image_info(dataset, pixels)

    @contextmanager
    def exclusive(self) -> Iterator[Dataset]:
        """The dataset, for this thread alone until the block ends."""
        with self._lock:
            yield self.dataset

    @classmethod
    def open(cls, path: Path) -> DicomImage:
        """The file's header, and where its frames are; UnsupportedImage if it has none."""
        dataset, pixels = _read(path)
        return cls(dataset, path.name, pixels)

    @property
    def frames(self) -> int:
        return self.info.frames

    def decode(self, index: int) -> DecodedFrame:
        """Frame ``index`` (0-based); UnsupportedImage when it cannot be decoded."""
        self._check_index(index)
        ts = self.info.transfer_syntax
        decoder = decoder_for(ts)
        with self._lock:
            _check_length(self.dataset, ts, self.pixels)
            try:
                if self.pixels is None:
                    pixels, meta = decoder.as_array(self.dataset, index=index, raw=True)
                else:
                    pixels, meta = read_frame(self.pixels, self.dataset, decoder, index)
            except OSError as exc:
                raise UnsupportedImage(f"cannot read the file: {exc.strerror or exc}") from None
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


def read_frame(pixels: PixelDataLocation, header: Dataset, decoder: Decoder,
               index: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Frame ``index`` decoded from the file, reading that frame's bytes and no others;
    with the decoder's description of the array, as ``Decoder.as_array`` returns it."""
    options = as_pixel_options(header, pixel_keyword=pixels.keyword)
    if pixels.vr:
        options["pixel_vr"] = pixels.vr
    with open(pixels.path, "rb") as fp:
        fp.seek(pixels.offset)
        return decoder.as_array(fp, index=index, raw=True, **options)


def _read(path: Path) -> tuple[Dataset, PixelDataLocation | None]:
    try:
        fp = open(path, "rb")
    except FileNotFoundError:
        raise UnsupportedImage("no such file") from None
    except IsADirectoryError:
        raise UnsupportedImage("is a directory") from None
    except OSError as exc:
        raise UnsupportedImage(f"cannot read the file: {exc.strerror or exc}") from None
    with fp:
        forced = False
        try:
            ds = _read_header(fp, force=False)
        except InvalidDicomError:
            forced = True  # no preamble and "DICM": maybe a bare dataset
        except Exception as exc:
            raise UnsupportedImage(f"not readable as DICOM ({_short(exc)})") from None
        if forced:
            try:
                fp.seek(0)
                ds = _read_header(fp, force=True)
            except Exception as exc:
                raise UnsupportedImage(f"not a DICOM file ({_short(exc)})") from None
        if _is_deflated(ds):
            return _read_whole(fp), None
        pixels = _pixel_data_location(fp, ds, path)
    if forced and pixels is None:
        raise UnsupportedImage("not a DICOM file, or one without pixel data")
    return ds, pixels


def _read_header(fp: BinaryIO, force: bool) -> Dataset:
    """Everything before the pixel data; the file is left at the pixel data's header."""
    return dcmread(fp, defer_size=DEFER_SIZE, stop_before_pixels=True, force=force)


def _is_deflated(ds: Dataset) -> bool:
    file_meta = getattr(ds, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    return uid == DeflatedExplicitVRLittleEndian


def _read_whole(fp: BinaryIO) -> Dataset:
    try:
        fp.seek(0)
        return dcmread(fp, force=True)
    except Exception as exc:
        raise UnsupportedImage(f"not readable as DICOM ({_short(exc)})") from None


def _pixel_data_location(fp: BinaryIO, ds: Dataset, path: Path) -> PixelDataLocation | None:
    """Where the pixel data element that stopped the header's reading keeps its value."""
    implicit, little = ds.original_encoding  # as read: pydicom notices implicit in explicit
    stream = FileStream(fp)
    # Some writers put it in implicit VR under an explicit syntax; pydicom reads it so.
    implicit = bool(implicit) or not looks_like_vr(stream.peek(6)[4:6])
    try:
        element = read_header(stream, implicit, little is not False)
    except MalformedDataset:
        return None  # the end of the file, or not an element
    keyword = _PIXEL_DATA_TAGS.get(element.tag)
    if keyword is None:
        return None
    length = None
    if element.length != UNDEFINED:
        length = min(element.length, stream.size - element.value_offset)
    return PixelDataLocation(path, keyword, element.vr.decode("ascii") if element.vr else None,
                             element.value_offset, length)


def _image_info(ds: Dataset, pixels: PixelDataLocation | None) -> ImageInfo:
    if pixels is None and not any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
        what = getattr(ds.get("SOPClassUID"), "name", "") or "this dataset"
        raise UnsupportedImage(f"no pixel data in {what}")
    transfer_syntax = _transfer_syntax(ds, pixels)
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


def _transfer_syntax(ds: Dataset, pixels: PixelDataLocation | None) -> UID:
    """The file's transfer syntax; for uncompressed data without one, how it was read."""
    file_meta = getattr(ds, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if uid:
        return UID(uid)
    if pixels is not None:
        encapsulated = pixels.length is None
    else:
        element = ds.data_element("PixelData")
        encapsulated = element is not None and element.is_undefined_length
    if encapsulated:
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


def _check_length(ds: Dataset, ts: UID, pixels: PixelDataLocation | None) -> None:
    """Native pixel data shorter than the Image Pixel module says: name both sizes."""
    if ts not in _NATIVE_SYNTAXES:
        return
    if pixels is not None:
        if pixels.keyword != "PixelData" or pixels.length is None:
            return
        actual = pixels.length
    elif "PixelData" in ds:
        actual = len(ds.PixelData)
    else:
        return
    try:
        expected = get_expected_length(ds)
    except (AttributeError, TypeError, ValueError):
        return  # an incomplete module: the decoder's own check names what is missing
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
