"""``tui-pacs show`` as a user runs it: a subprocess, its output, its exit status."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, cli_env, pydicom_file, run_cli
from tests.dicom_factory import make_dataset, write_instance
from tui_pacs.imaging.pipeline import picture, prepare
from tui_pacs.imaging.source import DicomImage
from tui_pacs.imaging.window import manual_window

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def show(*args, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:
        return run_cli("show", *args)
    return subprocess.run([sys.executable, "-m", "tui_pacs", "show", *map(str, args)],
                          capture_output=True, text=True, timeout=120,
                          env=cli_env() | env, cwd=REPO)


def picture_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "▀" in line]


def test_piped_output_is_half_blocks_with_colour_and_a_caption():
    result = show(pydicom_file("CT_small.dcm"), "--width", "40",
                  env={"COLORTERM": "truecolor", "TERM": "xterm-256color"})
    assert result.returncode == 0, result.stderr
    lines = picture_lines(result.stdout)
    assert len(lines) == 20  # 128x128 square pixels, 40 columns: 40 rows of pixels
    assert all(len(ANSI.sub("", line)) == 40 for line in lines)
    assert "\x1b[38;2;" in result.stdout
    caption = result.stdout.splitlines()[-1]
    assert caption.startswith("CT_small.dcm · CT 128x128 · C ")
    assert "(auto)" in caption and "Explicit VR Little Endian" in caption
    assert result.stderr == ""


def test_256_colour_terminals_get_256_colours():
    result = show(pydicom_file("MR_small.dcm"), "--width", "20",
                  env={"COLORTERM": "", "TERM": "xterm-256color"})
    assert "\x1b[38;5;" in result.stdout and "\x1b[38;2;" not in result.stdout


def test_no_color_gets_a_character_ramp():
    result = show(pydicom_file("MR_small.dcm"), "--width", "20", env={"NO_COLOR": "1"})
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout and "▀" not in result.stdout
    assert len(result.stdout.splitlines()) == 11  # 10 rows and the caption


def test_png_is_the_windowed_picture(tmp_path):
    out = tmp_path / "ct.png"
    result = show(pydicom_file("693_J2KI.dcm"), "--window=-600,1500", "--png", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"wrote {out} (512x512 grayscale, "
                                     "C -600 W 1500 (manual))")
    written = np.asarray(Image.open(out))
    expected = picture(prepare(DicomImage.open(pydicom_file("693_J2KI.dcm")), 0),
                       manual_window(-600, 1500))
    assert written.dtype == np.uint8
    np.testing.assert_array_equal(written, expected)


def test_png_of_a_colour_frame_to_stdout(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tui_pacs", "show", str(pydicom_file("examples_ybr_color.dcm")),
         "--frame", "30", "--png", "-"], capture_output=True, timeout=120, env=cli_env(),
        cwd=REPO)
    assert result.returncode == 0
    (tmp_path / "frame.png").write_bytes(result.stdout)
    with Image.open(tmp_path / "frame.png") as png:
        assert (png.mode, png.size) == ("RGB", (320, 240))


def test_file_windows_presets_and_auto():
    overlay = pydicom_file("examples_overlay.dcm")
    second = show(overlay, "--window", "2", "--width", "20")
    assert "C 200 W 443 (file: WINDOW2)" in second.stdout
    assert "windows in the file: 1 WINDOW1 (C 450 W 790), 2 WINDOW2 (C 200 W 443)" in \
        second.stdout
    auto = show(overlay, "--window", "auto", "--width", "20")
    assert "LINEAR_EXACT (auto)" in auto.stdout
    lung = show(pydicom_file("693_J2KI.dcm"), "--preset", "Lung", "--width", "20")
    assert "C -600 W 1500 (preset: lung)" in lung.stdout and lung.stderr == ""


def test_notes_when_a_window_cannot_apply():
    mr = show(pydicom_file("MR_small.dcm"), "--preset", "bone", "--width", "10")
    assert mr.returncode == 0
    assert mr.stderr.strip() == ("tui-pacs: note: presets are CT windows in Hounsfield "
                                 "units; this image's values are not")
    rgb = show(pydicom_file("examples_rgb_color.dcm"), "--window", "40,400", "--width", "10")
    assert rgb.returncode == 0
    assert "RGB is a colour image: windows do not apply" in rgb.stderr


@pytest.mark.parametrize("name, words", [
    ("MR_truncated.dcm", "the pixel data is truncated"),
    ("JPEG2000-embedded-sequence-delimiter.dcm", "JPEG 2000 Image Compression: the pixel "
                                                  "data could not be decoded"),
])
def test_unsupported_images_one_line_exit_1(name, words):
    result = show(pydicom_file(name))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tui-pacs: {pydicom_file(name)}: ")
    assert words in result.stderr


def test_a_broken_file(tmp_path):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff")
    result = show(broken)
    assert result.returncode == 1
    assert result.stderr.startswith(f"tui-pacs: {broken}: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["--frame", "2"], "--frame 2: "),
    (["--window", "3"], "--window 3: the file's windows are none"),
    (["--window", "40"], "--window 40: the file's windows are none"),
    (["--window", "0,0"], "the window width must be at least 1"),
    (["--window", "a,b"], "expected CENTER,WIDTH as two numbers"),
    (["--preset", "kidney"], "'kidney' is not a preset; presets: brain, subdural"),
    (["--width", "0"], "'0': must be 1 or more"),
])
def test_bad_options_exit_2(args, message):
    result = show(pydicom_file("CT_small.dcm"), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_archived_instance_by_its_sop_instance_uid(tmp_path):
    ds = make_dataset(rows=32, columns=32)
    path = write_instance(tmp_path / "in" / "one.dcm", ds)
    data = tmp_path / "data"
    assert run_cli("import", path, "--data", data).returncode == 0
    result = show(ds.SOPInstanceUID, "--data", data, "--width", "16")
    assert result.returncode == 0, result.stderr
    assert len(picture_lines(result.stdout)) == 8
    assert result.stdout.splitlines()[-1].startswith(f"{ds.SOPInstanceUID} · CT 32x32")
    missing = show("1.2.3.4.5", "--data", data)
    assert missing.returncode == 1
    assert "no instance with this SOPInstanceUID in the archive" in missing.stderr


@pytest.mark.parametrize("protocol, start", [("kitty", "\x1b_Ga=T,f=100"), ("sixel", "\x1bPq")])
def test_forced_graphics_protocols(protocol, start):
    result = show(pydicom_file("CT_small.dcm"), "--protocol", protocol, "--width", "20")
    assert result.returncode == 0
    assert start in result.stdout
    assert result.stdout.startswith("\n" * 10 + "\x1b[10A")


def test_imaging_loads_neither_textual_nor_pynetdicom():
    modules = ["tui_pacs.imaging." + name for name in sorted(
        path.stem for path in (REPO / "tui_pacs" / "imaging").glob("*.py")
        if path.stem != "__init__")]
    code = (f"import sys\nfor name in {modules!r}: __import__(name)\n"
            "import tui_pacs.cli.show\n"
            "loaded = sorted(m for m in ('textual', 'pynetdicom') if m in sys.modules)\n"
            "print(','.join(loaded))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=cli_env(), cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    assert "service" in " ".join(modules) and len(modules) > 10
