"""A 2 GB multi-frame is shown a frame at a time: only that frame is read and decoded.

The files are sparse (see tests/large_datasets.py): a thousand 1024x1024
16-bit frames, of which the first, the middle and the last hold a value of
their own and the others are zeros. ``show`` runs as a subprocess and its
peak resident memory is read from the kernel; on a file read whole it would
pass 2 GB.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import pixel_array

from tests.conftest import pydicom_file
from tests.large_datasets import run_cli_measured, write_sparse_multiframe, write_sparse_rle
from tui_pacs.imaging import source
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.pipeline import picture, prepare
from tui_pacs.imaging.source import DicomImage
from tui_pacs.imaging.window import manual_window

FRAMES, SIDE = 1000, 1024
VALUES = {0: 1024, 500: 2048, 999: 3072}
# Through the window C 2048 W 4096 (linear), the stored values are these greys;
# a frame of zeros is black.
WINDOW = (2048, 4096)
GREY = {1024: 64, 2048: 128, 3072: 191, 0: 0}
PEAK_MB = 200
GB = 10**9


@pytest.fixture(scope="module")
def native_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("large") / "native.dcm"
    write_sparse_multiframe(path, frames=FRAMES, rows=SIDE, columns=SIDE, values=VALUES)
    assert path.stat().st_size > 2 * GB
    return path


@pytest.fixture(scope="module", params=["basic", "none", "extended"])
def rle_file(request, tmp_path_factory):
    """The same frames in RLE Lossless; the frame is found through a Basic Offset
    Table, through its fragments' item headers, or through an Extended Offset Table."""
    path = tmp_path_factory.mktemp("large") / f"rle-{request.param}.dcm"
    write_sparse_rle(path, frames=FRAMES, rows=SIDE, columns=SIDE, values=VALUES,
                     offsets=request.param)
    assert path.stat().st_size > 2 * GB
    return path


def shown_grey(path, frame: int, tmp_path) -> tuple[int, float]:
    """The one grey of frame ``frame`` (1-based) as ``show`` writes it, and show's peak MB."""
    out = tmp_path / f"frame{frame}.png"
    result, peak = run_cli_measured("show", path, "--frame", frame, "--png", out,
                                    "--window", ",".join(map(str, WINDOW)))
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(out))
    assert pixels.shape == (SIDE, SIDE)
    assert pixels.min() == pixels.max(), "a frame of one value is one grey"
    return int(pixels[0, 0]), peak


@pytest.mark.parametrize("frame", [1, 2, 501, 1000])
def test_show_reads_one_frame_of_a_2gb_native_file(native_file, frame, tmp_path):
    grey, peak = shown_grey(native_file, frame, tmp_path)
    assert grey == GREY[VALUES.get(frame - 1, 0)]
    assert peak < PEAK_MB, f"show peaked at {peak:.0f} MB"


@pytest.mark.parametrize("frame", [1, 501, 1000])
def test_show_reads_one_frame_of_a_2gb_encapsulated_file(rle_file, frame, tmp_path):
    grey, peak = shown_grey(rle_file, frame, tmp_path)
    assert grey == GREY[VALUES[frame - 1]]
    assert peak < PEAK_MB, f"show peaked at {peak:.0f} MB"


def test_opening_reads_the_header_and_each_frame_reads_its_own_bytes(native_file,
                                                                   monkeypatch):
    image = DicomImage.open(native_file)
    assert "PixelData" not in image.dataset  # the header alone is in memory
    assert image.frames == FRAMES and image.pixels is not None
    assert image.pixels.length == FRAMES * SIDE * SIDE * 2
    reads = []
    real_read = source.read_frame

    def counting(pixels, header, decoder, index):
        reads.append(index)
        return real_read(pixels, header, decoder, index)

    monkeypatch.setattr(source, "read_frame", counting)
    for index, value in [(999, 3072), (0, 1024), (500, 2048)]:
        prepared = prepare(image, index)
        assert prepared.values.shape == (SIDE, SIDE)
        assert np.all(prepared.values == value)
        assert picture(prepared, manual_window(*WINDOW))[0, 0] == GREY[value]
    assert reads == [999, 0, 500]


@pytest.mark.parametrize("offsets", ["basic", "none", "extended"])
def test_a_bundled_encapsulated_file_reframed(offsets, tmp_path):
    """pydicom's rtdose_rle.dcm (15 RLE frames written by another program), its
    frames put back in reverse order under each kind of offset table: frame n
    read from the file is the original's frame 14 - n."""
    original = dcmread(pydicom_file("rtdose_rle.dcm"))
    count = int(original.NumberOfFrames)
    expected = pixel_array(original)
    encoded = list(generate_frames(original.PixelData, number_of_frames=count))[::-1]
    if offsets == "extended":
        pixels, table, lengths = encapsulate_extended(encoded)
        original.ExtendedOffsetTable, original.ExtendedOffsetTableLengths = table, lengths
    else:
        pixels = encapsulate(encoded, has_bot=offsets == "basic")
    original.PixelData = pixels
    original["PixelData"].is_undefined_length = True
    path = tmp_path / "reversed.dcm"
    original.save_as(path)

    image = DicomImage.open(path)
    assert image.pixels is not None and image.pixels.length is None  # encapsulated
    for index in range(count):
        assert np.array_equal(image.decode(index).pixels, expected[count - 1 - index])


def test_a_truncated_native_file_names_both_sizes(native_file, tmp_path):
    cut = tmp_path / "cut.dcm"
    with open(native_file, "rb") as whole, open(cut, "wb") as out:
        out.write(whole.read(4096))
        out.truncate(native_file.stat().st_size - 1000)  # a sparse file, cut short
    needed = FRAMES * SIDE * SIDE * 2
    with pytest.raises(UnsupportedImage, match=f"{needed - 1000} bytes where .* "
                                                       f"need {needed}"):
        prepare(DicomImage.open(cut), 0)
