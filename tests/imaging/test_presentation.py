"""Photometric interpretations, multi-frame images and pixel formats, on real files."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, pixel_array
from pydicom.uid import ExplicitVRLittleEndian

from tests.conftest import pydicom_file
from tests.dicom_factory import make_dataset
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.pipeline import picture, prepare
from tui_pacs.imaging.source import DicomImage
from tui_pacs.imaging.window import Window, manual_window


def shown(ds_or_name, index: int = 0) -> np.ndarray:
    if isinstance(ds_or_name, str):
        image = DicomImage.open(pydicom_file(ds_or_name))
    else:
        image = DicomImage(ds_or_name, "test")
    return picture(prepare(image, index))


def test_palette_color_goes_through_the_palette():
    ds = dcmread(pydicom_file("examples_palette.dcm"))
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    expected = apply_color_lut(ds.pixel_array, ds)
    expected = (expected >> 8) if expected.dtype != np.uint8 and expected.max() > 255 else expected
    np.testing.assert_array_equal(shown("examples_palette.dcm"), expected.astype(np.uint8))


@pytest.mark.parametrize("name", [
    "SC_ybr_full_422_uncompressed.dcm",  # YBR_FULL_422, uncompressed: we convert
    "SC_rgb_jpeg_dcmtk.dcm",             # YBR_FULL in a JPEG stream
    "examples_ybr_color.dcm",            # YBR_FULL_422, JPEG, 30 frames
])
def test_ybr_is_converted_to_rgb(name):
    ds = dcmread(pydicom_file(name))
    assert ds.PhotometricInterpretation.startswith("YBR_FULL")
    expected = pixel_array(ds, index=0)  # pydicom converts YBR to RGB by default
    ours = shown(name).astype(np.int16)
    assert np.abs(ours - expected).max() <= 1


def test_planar_configuration_is_undone():
    ds = dcmread(pydicom_file("ExplVR_BigEnd.dcm"))
    assert ds.PlanarConfiguration == 1 and ds.PhotometricInterpretation == "RGB"
    np.testing.assert_array_equal(shown("ExplVR_BigEnd.dcm"), ds.pixel_array)


@pytest.mark.parametrize("name, bits", [("SC_rgb_rle_16bit.dcm", 16), ("SC_rgb_rle_32bit.dcm", 32)])
def test_deep_rgb_is_scaled_to_8_bits(name, bits):
    ds = dcmread(pydicom_file(name))
    expected = (ds.pixel_array.astype(np.uint64) >> (bits - 8)).astype(np.uint8)
    np.testing.assert_array_equal(shown(name), expected)


def test_every_frame_of_a_cine_loop():
    image = DicomImage.open(pydicom_file("examples_ybr_color.dcm"))
    assert image.frames == 30
    first, last = picture(prepare(image, 0)), picture(prepare(image, 29))
    assert first.shape == last.shape == (240, 320, 3)
    assert not np.array_equal(first, last)
    with pytest.raises(IndexError):
        prepare(image, 30)


def enhanced_ct() -> Dataset:
    """Three frames of CT_small as an enhanced multi-frame image: rescale, window
    and pixel spacing live in functional groups, per frame and shared."""
    source = dcmread(pydicom_file("CT_small.dcm"))
    frames = np.stack([source.pixel_array, source.pixel_array // 2, source.pixel_array // 4])
    ds = Dataset()
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        setattr(ds, keyword, source[keyword].value)
    ds.Modality = "CT"
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    measures = Dataset()
    measures.PixelSpacing = [0.5, 1.0]  # rows 0.5 mm apart, columns 1 mm: pixels half as tall
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -1024, "HU"
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for center, width in ((40, 400), (-600, 1500), (400, 1800)):
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        voi.WindowCenterWidthExplanation = f"C{center}"
        group = Dataset()
        group.FrameVOILUTSequence = [voi]
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def test_enhanced_multi_frame_reads_functional_groups():
    ds = enhanced_ct()
    image = DicomImage(ds, "enhanced")
    for index, (center, width) in enumerate(((40, 400), (-600, 1500), (400, 1800))):
        prepared = prepare(image, index)
        assert prepared.attributes.rescale_intercept == -1024
        assert prepared.attributes.hounsfield
        assert prepared.attributes.pixel_aspect == 0.5
        assert prepared.windows.current.window == Window(center, width)
        assert prepared.windows.current.label == f"C{center}"
        raw = ds.pixel_array[index].astype(np.float32)
        np.testing.assert_allclose(prepared.values, raw - 1024)


@pytest.mark.parametrize("keyword, bits, dtype", [("FloatPixelData", 32, np.float32),
                                                   ("DoubleFloatPixelData", 64, np.float64)])
def test_float_pixel_data(keyword, bits, dtype):
    ds = Dataset()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 4, 8, 1
    ds.BitsAllocated, ds.PhotometricInterpretation = bits, "MONOCHROME2"
    ramp = np.linspace(-1.5, 2.5, 32, dtype=dtype).reshape(4, 8)
    setattr(ds, keyword, ramp.tobytes())
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    prepared = prepare(DicomImage(ds, "float"), 0)
    np.testing.assert_allclose(prepared.values, ramp)
    pixels = picture(prepared, manual_window(0.5, 4))
    assert pixels[0, 0] == 0 and pixels[-1, -1] == 255
    assert np.all(np.diff(pixels.ravel().astype(int)) >= 0)


def test_unsigned_bits_stored_below_bits_allocated_and_one_bit():
    overlay = DicomImage.open(pydicom_file("examples_overlay.dcm"))
    assert (overlay.info.bits_allocated, overlay.info.bits_stored) == (16, 12)
    assert picture(prepare(overlay, 0)).max() == 255
    liver = DicomImage.open(pydicom_file("liver_1frame.dcm"))
    assert liver.info.bits_allocated == 1
    assert set(np.unique(picture(prepare(liver, 0)))) == {0, 255}


def test_a_dataset_without_a_transfer_syntax_is_read_as_it_was_encoded():
    ds = make_dataset(rows=8, columns=8)  # never written: no file meta at all
    assert picture(prepare(DicomImage(ds, "memory"), 0)).shape == (8, 8)


@pytest.mark.parametrize("photometric, samples, message", [
    ("CMYK", 4, "photometric interpretation CMYK is not supported"),
    ("MONOCHROME2", 3, "MONOCHROME2 with 3 samples per pixel"),
])
def test_unknown_photometric_interpretations_are_refused(photometric, samples, message):
    ds = make_dataset(rows=4, columns=4)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = samples, photometric
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PlanarConfiguration = 7, 0
    ds.PixelData = bytes(4 * 4 * samples)
    with pytest.raises(UnsupportedImage, match=message):
        picture(prepare(DicomImage(ds, "odd"), 0))


def test_no_pixel_data():
    ds = make_dataset()
    del ds.PixelData
    with pytest.raises(UnsupportedImage, match="no pixel data in CT Image Storage"):
        DicomImage(ds, "header only")
