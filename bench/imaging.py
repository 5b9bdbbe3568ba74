"""Imaging benchmarks: one slice to half blocks, and paging through a series.

    python bench/imaging.py [--runs 200] [--slices 300]

1. A 512x512 16-bit CT slice (uncompressed), decode + window + half blocks at
   120x40 cells, ANSI text included: target median < 30 ms.
2. The same for a 512x512 JPEG 2000 slice: target median < 80 ms.
   Both start from the file on disk (page cache warm) and end with the
   escape sequences a terminal would receive; rich-pixels is timed on the
   same windowed picture for comparison.
3. Paging a series of synthetic 512x512 CT slices through ImagingService as
   a UI does: render the page, prefetch the next ones, at key-repeat pace and
   flat out. Reports the time to the first frame, the wait per page and cache hits.
4. CLI to PNG, one process per image: ``tui-pacs show --png`` next to DCMTK's
   ``dcmj2pnm`` (when installed), both writing the windowed 8-bit PNG.

Figures depend on the machine and on whatever else runs on it: rerun before
quoting them. No network is involved, so TCP_NODELAY does not apply.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from rich.console import Console

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tui_pacs.imaging.pipeline import halfblock, picture, prepare  # noqa: E402
from tui_pacs.imaging.service import FrameRequest, ImagingService  # noqa: E402
from tui_pacs.imaging.source import DicomImage  # noqa: E402

J2K_CT = Path(pydicom.__file__).parent / "data" / "test_files" / "693_J2KI.dcm"
CELLS = (120, 40)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (f"median {statistics.median(ordered) * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms   "
            f"first {samples[0] * 1000:7.2f} ms   (n={len(samples)})")


def uncompressed_ct(directory: Path) -> Path:
    """The JPEG 2000 CT slice decoded and written as Explicit VR Little Endian."""
    ds = dcmread(J2K_CT)
    ds.PixelData = ds.pixel_array.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds["PixelData"].VR = "OW"
    path = directory / "ct_uncompressed.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def one_slice(path: Path) -> str:
    """File -> ANSI half blocks at 120x40 cells, as ``tui-pacs show`` does."""
    prepared = prepare(DicomImage.open(path), 0)
    renderable = halfblock(picture(prepared), prepared.attributes.pixel_aspect, *CELLS)
    console = Console(file=io.StringIO(), color_system="truecolor", width=CELLS[0],
                      force_terminal=True)
    console.print(renderable)
    return console.file.getvalue()


def time_runs(action, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def bench_slices(directory: Path, runs: int) -> None:
    ct = uncompressed_ct(directory)
    print(f"1. CT 512x512 16-bit, uncompressed -> half blocks {CELLS[0]}x{CELLS[1]}:")
    print("   " + percentiles(time_runs(lambda: one_slice(ct), runs)))
    print(f"2. CT 512x512 JPEG 2000 -> half blocks {CELLS[0]}x{CELLS[1]}:")
    print("   " + percentiles(time_runs(lambda: one_slice(J2K_CT), runs)))
    bench_rich_pixels(ct, max(20, runs // 5))


def bench_rich_pixels(ct: Path, runs: int) -> None:
    try:
        from PIL import Image
        from rich_pixels import Pixels
    except ImportError:
        return
    pixels = picture(prepare(DicomImage.open(ct), 0))
    image = Image.fromarray(pixels).convert("RGB")

    def render() -> None:
        console = Console(file=io.StringIO(), color_system="truecolor", width=CELLS[0],
                          force_terminal=True)
        console.print(Pixels.from_image(image, resize=(80, 80)))

    def ours() -> None:
        console = Console(file=io.StringIO(), color_system="truecolor", width=CELLS[0],
                          force_terminal=True)
        console.print(halfblock(pixels, 1.0, *CELLS))

    print("   render step alone (windowed picture -> ANSI, 80x40 cells):")
    print("     rich-pixels  " + percentiles(time_runs(render, runs)))
    print("     tui-pacs     " + percentiles(time_runs(ours, runs)))


def write_series(directory: Path, slices: int) -> list[Path]:
    """Distinct 512x512 CT slices: the real slice, shifted and with fresh noise each time."""
    base = dcmread(J2K_CT)
    anatomy = base.pixel_array
    base.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    base.SeriesInstanceUID = generate_uid()
    rng = np.random.default_rng(0)
    paths = []
    for number in range(slices):
        slice_pixels = np.roll(anatomy, number % 40, axis=0)
        slice_pixels = slice_pixels + rng.integers(-20, 20, anatomy.shape, dtype=np.int16)
        base.PixelData = slice_pixels.astype(np.int16).tobytes()
        base["PixelData"].VR = "OW"
        base.SOPInstanceUID = generate_uid()
        base.file_meta.MediaStorageSOPInstanceUID = base.SOPInstanceUID
        base.InstanceNumber = number + 1
        path = directory / f"slice{number:04d}.dcm"
        base.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


async def page_through(paths: list[Path], pause: float, ahead: int = 8,
                       behind: int = 2) -> tuple[float, list[float], ImagingService]:
    service = ImagingService()
    request = FrameRequest(paths[0], cols=CELLS[0], rows=CELLS[1])

    def prefetch_around(number: int) -> None:
        nearby = [*range(number + 1, min(number + 1 + ahead, len(paths))),
                  *range(number - 1, max(number - 1 - behind, -1), -1)]
        service.prefetch(request.at(paths[n]) for n in nearby)

    start = time.perf_counter()
    await service.render(request)
    first = time.perf_counter() - start
    prefetch_around(0)
    waits = []
    for number in range(1, len(paths)):
        if pause:
            await asyncio.sleep(pause)
        start = time.perf_counter()
        await service.render(request.at(paths[number]))
        waits.append(time.perf_counter() - start)
        prefetch_around(number)
    service.close()
    return first, waits, service


def bench_paging(directory: Path, slices: int) -> None:
    paths = write_series(directory, slices)
    print(f"3. Paging {slices} slices (512x512 CT) at {CELLS[0]}x{CELLS[1]} cells, "
          "prefetching 8 ahead and 2 behind:")
    for label, pause in (("at 30 pages/s (key repeat)", 1 / 30), ("flat out", 0.0)):
        first, waits, service = asyncio.run(page_through(paths, pause))
        stats = service.stats
        waited = sum(1 for wait in waits if wait > 0.005)
        print(f"   {label}: first frame {first * 1000:.1f} ms; per page "
              f"{percentiles(waits)}")
        print(f"      hits {stats.hits}, joined {stats.joined} (prefetch still running), "
              f"misses {stats.misses}, pages that waited > 5 ms: {waited}")


def bench_cli_png(directory: Path, runs: int) -> None:
    ct = uncompressed_ct(directory)
    out = directory / "out.png"
    commands = {"tui-pacs show --png": [sys.executable, "-m", "tui_pacs", "show", str(ct),
                                        "--png", str(out)]}
    if shutil.which("dcmj2pnm"):
        commands["dcmj2pnm --write-png (DCMTK)"] = [
            "dcmj2pnm", "--write-png", "--use-window", "1", str(ct), str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    print("4. One process per image, CT 512x512 -> windowed PNG:")
    for label, command in commands.items():
        samples = time_runs(lambda command=command: subprocess.run(
            command, check=True, env=env, capture_output=True), runs)
        print(f"   {label:30} {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--slices", type=int, default=300)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, pydicom {pydicom.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        bench_slices(directory, args.runs)
        bench_paging(directory, args.slices)
        bench_cli_png(directory, max(5, args.runs // 20))


if __name__ == "__main__":
    main()
