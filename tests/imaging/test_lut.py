"""The LUT pipeline against pydicom's own apply_modality_lut / apply_voi_lut, on real files."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from tests.conftest import pydicom_file
from tests.imaging.helpers import bundled
from tui_pacs.imaging.attributes import frame_attributes
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.pipeline import picture, prepare
from tui_pacs.imaging.source import DicomImage
from tui_pacs.imaging.voi import (
    auto_window,
    modality_values,
    voi_lut_intensities,
    window_intensities,
)
from tui_pacs.imaging.window import VoiFunction, Window, WindowSource, manual_window

_FAR = 1e9  # sentinel values far outside any window: pydicom maps them to its y_min / y_max


def pydicom_8bit(ds: Dataset, values: np.ndarray, index: int = 0, *,
                 prefer_lut: bool = True) -> np.ndarray:
    """pydicom's VOI output, scaled to 0..255 by the output range it used."""
    padded = np.concatenate([values.ravel().astype(np.float64), [-_FAR, _FAR]])
    out = apply_voi_lut(padded, ds, index=index, prefer_lut=prefer_lut)
    low, high = out[-2], out[-1]
    return ((out[:-2] - low) / (high - low) * 255).reshape(values.shape)


def ours_8bit(intensities: np.ndarray) -> np.ndarray:
    return intensities * 255


def read(name: str) -> tuple[Dataset, DicomImage]:
    path = pydicom_file(name)
    return dcmread(path), DicomImage.open(path)


@pytest.mark.parametrize("name", ["CT_small.dcm", "693_J2KI.dcm", "MR_small.dcm",
                                  "examples_overlay.dcm", "JPGExtended.dcm"])
def test_modality_lut_matches_pydicom(name):
    ds, image = read(name)
    frame = image.decode(0)
    ours = modality_values(frame.pixels, image.attributes(0), image.dataset)
    theirs = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("name, index", [
    ("693_J2KI.dcm", 0),            # CT, signed, BitsStored 14 of 16, rescaled
    ("MR_small.dcm", 0),            # signed 16-bit, no rescale
    ("examples_overlay.dcm", 0),    # two windows with explanations, 12 of 16 bits
    ("examples_overlay.dcm", 1),
])
def test_file_windows_match_pydicom(name, index):
    ds, image = read(name)
    prepared = prepare(image, 0)
    choice = prepared.windows.file_choices[index]
    ours = picture(prepared, choice).astype(np.float64)
    theirs = pydicom_8bit(ds, apply_modality_lut(ds.pixel_array, ds), index)
    assert np.abs(ours - theirs).max() <= 1.0


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")  # pydicom's SIGMOID
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("center, width", [(40, 400), (-600, 1500), (1000, 1), (35.5, 2.5)])
def test_voi_functions_match_pydicom(function, center, width):
    if function == "LINEAR" and width < 1:
        pytest.skip("LINEAR needs a width of at least 1")
    ds, image = read("CT_small.dcm")
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    values = apply_modality_lut(ds.pixel_array, ds)
    window = Window(center, width, VoiFunction(function))
    ours = ours_8bit(window_intensities(values.astype(np.float32), window))
    theirs = pydicom_8bit(ds, values)
    assert np.abs(ours - theirs).max() <= 0.5


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_the_files_voi_function_is_used():
    ds = dcmread(pydicom_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 400, "SIGMOID"
    prepared = prepare(DicomImage(ds, "ct"), 0)
    assert prepared.windows.current.window == Window(40, 400, VoiFunction.SIGMOID)
    ours = picture(prepared).astype(np.float64)
    theirs = pydicom_8bit(ds, apply_modality_lut(ds.pixel_array, ds))
    assert np.abs(ours - theirs).max() <= 1.0


def ct_with_voi_luts() -> Dataset:
    """CT_small with two VOI LUTs: one as US numbers, one as OW bytes, 12-bit output."""
    ds = dcmread(pydicom_file("CT_small.dcm"))
    ramp = Dataset()
    ramp.LUTDescriptor = [2048, -1024, 12]
    ramp.LUTData = [min(4095, 2 * i) for i in range(2048)]
    ramp.LUTExplanation = "RAMP"
    ow = Dataset()
    ow.LUTDescriptor = [1024, 0, 12]
    ow.add_new("LUTData", "OW", (np.arange(1024, dtype="<u2") * 4).tobytes())
    ds.VOILUTSequence = [ramp, ow]
    return ds


@pytest.mark.parametrize("index", [0, 1])
def test_voi_lut_sequence_matches_pydicom(index):
    ds = ct_with_voi_luts()
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.int64)
    lut = frame_attributes(ds, 0).voi_luts[index]
    ours = voi_lut_intensities(values.astype(np.float32), lut) * 4095
    theirs = apply_voi_lut(values, ds, index=index)
    np.testing.assert_allclose(ours, theirs, atol=0.01)


def test_voi_luts_are_offered_with_their_explanations():
    prepared = prepare(DicomImage(ct_with_voi_luts(), "ct"), 0)
    luts = [c for c in prepared.windows.file_choices if c.source is WindowSource.VOI_LUT]
    assert [c.label for c in luts] == ["RAMP", "VOI LUT 2"]
    assert prepared.windows.current == luts[0]  # no window in the file: its first VOI LUT
    assert picture(prepared).max() > 0


def test_a_malformed_voi_lut_is_left_out_and_the_others_remain():
    ds = ct_with_voi_luts()
    broken = Dataset()
    broken.LUTDescriptor = [16, 0]  # two values where three belong
    broken.LUTData = list(range(16))
    no_data = Dataset()
    no_data.LUTDescriptor = [16, 0, 12]
    ds.VOILUTSequence = [broken, ds.VOILUTSequence[0], no_data]
    prepared = prepare(DicomImage(ds, "ct"), 0)
    luts = [c.label for c in prepared.windows.file_choices if c.source is WindowSource.VOI_LUT]
    assert luts == ["RAMP"]
    assert picture(prepared).max() > 0


def test_a_malformed_modality_lut_is_a_clear_refusal():
    ds = dcmread(pydicom_file("MR_small.dcm"))
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.ModalityLUTType = "US"  # and no LUT Data
    ds.ModalityLUTSequence = [item]
    with pytest.raises(UnsupportedImage, match="the Modality LUT Sequence is malformed"):
        prepare(DicomImage(ds, "mr"), 0)


def test_modality_lut_sequence_then_window_matches_pydicom():
    ds = dcmread(pydicom_file("MR_small.dcm"))
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = [min(65535, 16 * i) for i in range(4096)]
    item.ModalityLUTType = "US"
    ds.ModalityLUTSequence = [item]
    ds.WindowCenter, ds.WindowWidth = 20000, 30000
    ours = picture(prepare(DicomImage(ds, "mr"), 0)).astype(np.float64)
    theirs = pydicom_8bit(ds, apply_modality_lut(ds.pixel_array, ds))
    assert np.abs(ours - theirs).max() <= 1.0


def test_monochrome1_is_inverted():
    path = bundled("test_files/dicomdirtests/77654033/CR1/6154")
    ds = dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    ours = picture(prepare(DicomImage.open(path), 0)).astype(np.float64)
    theirs = pydicom_8bit(ds, apply_modality_lut(ds.pixel_array, ds))
    assert np.abs(ours - (255 - theirs)).max() <= 1.0


def test_auto_window_spans_the_values():
    prepared = prepare(read("CT_small.dcm")[1], 0)
    auto = prepared.windows.auto
    assert auto.source is WindowSource.AUTO and auto.window.function is VoiFunction.LINEAR_EXACT
    low, high = np.percentile(prepared.values, [0.5, 99.5])
    assert auto.window.center == pytest.approx((low + high) / 2, abs=1)
    assert auto.window.width == pytest.approx(high - low, abs=1)


def test_auto_window_ignores_pixel_padding():
    raw = read("CT_small.dcm")[1].decode(0).pixels.copy()
    raw[:40] = -2000  # a third of the frame is padding, outside the scanned circle
    values = raw.astype(np.float32) - 1024
    with_padding = auto_window(values, raw, padding_value=-2000)
    assert with_padding.center - with_padding.width / 2 > -3000
    assert auto_window(values, raw, None).center - auto_window(values, raw, None).width / 2 \
        == pytest.approx(-3024)


def test_auto_window_of_a_flat_or_binary_frame():
    flat = np.full((8, 8), 7, dtype=np.float32)
    assert auto_window(flat, flat, None).width == 1
    binary = np.zeros((8, 8), dtype=np.float32)
    binary[::2] = 1
    window = auto_window(binary, binary, None)
    assert (window.center, window.width) == (0.5, 1)
    shown = window_intensities(binary, window)
    assert set(np.unique(shown)) == {0.0, 1.0}


def test_manual_window_and_adjustment():
    prepared = prepare(read("693_J2KI.dcm")[1], 0)
    state = prepared.windows
    assert state.current.describe() == "C 40 W 100 (file: window 1)"
    moved = state.adjusted(center_step=10, width_step=-200)
    assert moved.current.window == Window(50, 1)  # never below the smallest usable width
    assert moved.current.source is WindowSource.MANUAL
    brighter = picture(prepared, manual_window(-100, 400))
    darker = picture(prepared, manual_window(300, 400))
    assert brighter.mean() > darker.mean()


def test_presets_are_offered_for_hounsfield_units_only():
    ct = prepare(read("693_J2KI.dcm")[1], 0).windows
    mr = prepare(read("MR_small.dcm")[1], 0).windows
    assert "lung" in [choice.label for choice in ct.presets]
    assert mr.presets == ()
    lung = next(choice for choice in ct.presets if choice.label == "lung")
    assert lung.describe() == "C -600 W 1500 (preset: lung)"
