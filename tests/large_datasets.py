"""Large DICOM files that cost nothing on disk, and the peak memory of a command.

A native multi-frame of gigabytes is written sparsely: its header, then the
Pixel Data element's header, then a seek to the end. Only the frames given
values take disk blocks; the others read back as zeros. An encapsulated one
has every fragment's item header written, and only the chosen frames' data.
Peak memory is the command's own maximum resident set size, as the kernel
counts it.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.pixels.encoders import RLELosslessEncoder
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from tests.conftest import REPO, cli_env
from tests.dicom_factory import file_meta_for, make_dataset

MB = 1_048_576


def multiframe_header(*, frames: int, rows: int, columns: int, instance: int = 1,
                      window: tuple[int, int] | None = None) -> Dataset:
    """A 16-bit MONOCHROME2 multi-frame's attributes, without Pixel Data. No
    Rescale: the stored values are the values shown; a window (center, width)
    only when given."""
    ds = make_dataset(modality="OT", rows=rows, columns=columns, instance=instance)
    for keyword in ("PixelData", "RescaleIntercept", "RescaleSlope", "WindowCenter",
                    "WindowWidth"):
        delattr(ds, keyword)
    ds.BitsStored, ds.HighBit = 16, 15
    ds.NumberOfFrames = frames
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    return ds


def write_sparse_multiframe(path: Path, *, frames: int, rows: int, columns: int,
                            values: dict[int, int], instance: int = 1,
                            window: tuple[int, int] | None = None) -> Path:
    """A native multi-frame (explicit VR little endian, see multiframe_header) of
    ``frames`` frames; frame n is filled with ``values[n]``, every other one is
    zeros (a hole in the file)."""
    ds = multiframe_header(frames=frames, rows=rows, columns=columns, instance=instance,
                           window=window)
    frame_bytes = rows * columns * 2
    length = frame_bytes * frames
    assert length < 1 << 32, "Pixel Data of defined length holds less than 4 GiB"
    with open(path, "wb") as out:
        out.write(_part10_header(ds, ExplicitVRLittleEndian))
        out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, length))
        start = out.tell()
        for frame, value in values.items():
            out.seek(start + frame * frame_bytes)
            out.write(struct.pack("<H", value) * (rows * columns))
        out.truncate(start + length)
    return path


def write_sparse_rle(path: Path, *, frames: int, rows: int, columns: int,
                     values: dict[int, int], offsets: str, hole: int = 2 * MB) -> Path:
    """The same image encapsulated in RLE Lossless, with a Basic Offset Table
    (``offsets="basic"``), an Extended Offset Table (``"extended"``) or neither
    (``"none"``). Frame n is ``values[n]`` encoded by pydicom; every other
    fragment is ``hole`` bytes never written (not a valid RLE frame)."""
    ds = multiframe_header(frames=frames, rows=rows, columns=columns)
    encoded = {frame: _padded(rle_frame(np.full((rows, columns), value, np.uint16)))
               for frame, value in values.items()}
    lengths = [len(encoded.get(frame, b"")) or hole for frame in range(frames)]
    starts = [sum(lengths[:frame]) + 8 * frame for frame in range(frames)]
    table = b""
    if offsets == "basic":
        table = struct.pack(f"<{frames}L", *starts)
    elif offsets == "extended":
        ds.ExtendedOffsetTable = struct.pack(f"<{frames}Q", *starts)
        ds.ExtendedOffsetTableLengths = struct.pack(f"<{frames}Q", *lengths)
    with open(path, "wb") as out:
        out.write(_part10_header(ds, RLELossless))
        out.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        out.write(_item(len(table)) + table)
        first = out.tell()
        for frame in range(frames):
            out.seek(first + starts[frame])
            out.write(_item(lengths[frame]) + encoded.get(frame, b""))
        out.seek(first + starts[-1] + 8 + lengths[-1])
        out.write(struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    return path


def rle_frame(pixels: np.ndarray) -> bytes:
    """One 16-bit grayscale frame encoded by pydicom's own RLE encoder."""
    rows, columns = pixels.shape
    return RLELosslessEncoder.encode(
        pixels, rows=rows, columns=columns, samples_per_pixel=1, bits_allocated=16,
        bits_stored=16, pixel_representation=0, photometric_interpretation="MONOCHROME2",
        number_of_frames=1, encoding_plugin="pydicom")


def _part10_header(ds: Dataset, transfer_syntax: str) -> bytes:
    """Preamble, file meta and the dataset, in explicit VR little endian."""
    header = DicomBytesIO()
    header.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(header, file_meta_for(ds, transfer_syntax), enforce_standard=True)
    header.is_little_endian, header.is_implicit_VR = True, False
    write_dataset(header, ds)
    return header.getvalue()


def _item(length: int) -> bytes:
    return struct.pack("<HHL", 0xFFFE, 0xE000, length)


def _padded(fragment: bytes) -> bytes:
    return fragment + b"\x00" * (len(fragment) % 2)


def sha256(path: Path) -> str:
    """The file's digest, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def run_cli_measured(*args: str | Path, timeout: float = 300
                     ) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """``python -m tui_pacs ARGS`` as a subprocess, and its peak resident memory in MB."""
    command = [sys.executable, "-m", "tui_pacs", *map(str, args)]
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "peak"
        result = subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), *command],
                                capture_output=True, timeout=timeout, env=cli_env(), cwd=REPO)
        peak_kib = int(report.read_text())
    return result, peak_kib / 1024


# A child's peak starts at the peak of the process it was started from (Linux
# records the old address space's high-water mark at exec; with vfork that is
# the parent's), so a test process grown by earlier tests would inflate it.
# This small launcher starts the command and reports the peak of its one child.
_LAUNCHER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as report:
    report.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""
