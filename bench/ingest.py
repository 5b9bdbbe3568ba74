"""C-STORE ingest: CT-like 512x512 or small 64x64 16-bit instances from DCMTK's storescu.

One association, then four concurrent ones (a quarter of the instances
each), received by tui-pacs (durable and indexed before each success; as
configured by default, one process per CPU, and in one process), DCMTK's
storescp, Orthanc and pynetdicom's bundled storescp app, each fresh in a
temp directory, one after the other in the same run. Besides the rate,
the CPU time the receiver used (all its processes and threads) per 1,000
instances.

    python bench/ingest.py [--small] [--instances N] [--only tui-pacs --only Orthanc]
                           [--profile DIR [--gil]]

``--small``: 4,000 64x64 instances (SR, KOS and small MR images cost the
receiver per instance, not per byte) instead of 500 512x512 ones.
``--profile DIR``: py-spy samples tui-pacs while it receives (collapsed
stacks, one file per scenario, for flame graphs or grep).

tui-pacs is measured once all its ingest processes serve (`tui-pacs
status`); until a worker has started, the node serves every connection.
On ext4 without a journal, creating a file costs ten times the CPU for some
minutes after many files were deleted (a previous run's temp directory):
the allocator passes over recently freed inodes. Rounds run back to back
drift apart, and tui-pacs's more than Orthanc's (why is not known: a copy
of Orthanc's storage layout pays as much); the first on a rested disk is
the fair one. So before each receiver starts, the bench measures what
creating a file costs in its directory, and prints it under the table (tens
of microseconds on a rested disk). TMPDIR chooses the disk and directory the
runs use.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import (  # noqa: E402
    Peer,
    cpu_seconds,
    dcmtk_storescp,
    orthanc,
    pynetdicom_storescp,
    running,
    send,
    tui_pacs,
)
from tests.dicom_factory import make_dataset, write_instance  # noqa: E402

RECEIVERS = {
    "tui-pacs": tui_pacs,
    "tui-pacs, 1 process": partial(tui_pacs, config="[node]\nworkers = 1\n"),
    "DCMTK storescp": dcmtk_storescp,
    "Orthanc": orthanc,
    "pynetdicom storescp app": pynetdicom_storescp,
}
# py-spy as installed beside this Python (pip install py-spy), or on PATH.
PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
# (rows and columns, instances) of each kind of run.
SIZES = {"ct": (512, 500), "small": (64, 4000)}
# Empty files created to measure what creating one costs (creation_cost).
PROBE_FILES = 500


def make_files(directory: Path, count: int, size: int) -> list[Path]:
    return [write_instance(directory / f"im{n:05d}.dcm",
                           make_dataset(instance=n, rows=size, columns=size, seed=n))
            for n in range(1, count + 1)]


def creation_cost(directory: Path) -> float:
    """CPU microseconds to create an empty file in ``directory``, now. The
    files stay (until the run's temp directory goes): removing them would
    add to the recently freed inodes the next creations pass over."""
    start = time.process_time()
    for n in range(PROBE_FILES):
        os.close(os.open(directory / f"creation-probe-{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600))
    return (time.process_time() - start) / PROBE_FILES * 1e6


@contextmanager
def profiled(peer: Peer, output: Path | None, gil: bool) -> Iterator[None]:
    """py-spy sampling ``peer``'s processes into ``output`` (nothing without one);
    ``gil``: only the thread holding the GIL (where Python spends CPU)."""
    if output is None:
        yield
        return
    spy = subprocess.Popen([PY_SPY, "record", "--pid", str(peer.process.pid),
                            "--subprocesses", "--format", "raw", "--rate", "250",
                            *(["--gil"] if gil else []), "--output", str(output)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="64x64 instances (default: 512x512)")
    parser.add_argument("--instances", type=int,
                        help="how many (default: 500 CT, 4,000 small)")
    parser.add_argument("--only", choices=RECEIVERS, action="append",
                        help="measure only this receiver (repeatable)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy profiles of tui-pacs into DIR")
    parser.add_argument("--gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL")
    args = parser.parse_args()
    names = args.only or list(RECEIVERS)
    side, default_count = SIZES["small" if args.small else "ct"]
    count = args.instances or default_count
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        files = make_files(root / "files", count, side)
        size = sum(f.stat().st_size for f in files) / 1_048_576
        print(f"{len(files)} instances, {side}x{side} 16-bit, {size:.0f} MB; DCMTK and Orthanc "
              "run with TCP_NODELAY=1; pynetdicom's app cannot set it")
        quarter = (len(files) + 3) // 4
        scenarios = {"1 association": [files],
                     "4 associations": [files[i:i + quarter] for i in range(0, len(files),
                                                                              quarter)]}
        seconds: dict[str, dict[str, float]] = {name: {} for name in names}
        cpu: dict[str, dict[str, float]] = {name: {} for name in names}
        creation: dict[str, dict[str, float]] = {name: {} for name in names}
        for scenario, groups in scenarios.items():
            for name in names:
                work = root / f"{name}-{scenario}".replace(" ", "-")
                work.mkdir()
                creation[name][scenario] = creation_cost(work)
                profile = (args.profile / f"{side}-{scenario.replace(' ', '-')}.txt"
                           if args.profile and name == "tui-pacs" else None)
                with running(RECEIVERS[name](work)) as peer, profiled(peer, profile, args.gil):
                    before = cpu_seconds(peer.process.pid)
                    seconds[name][scenario] = send(peer, groups)
                    cpu[name][scenario] = cpu_seconds(peer.process.pid) - before
        print(f"\n{'receiver':<24}" + "".join(f"{s:>36}" for s in scenarios))
        for name in names:
            cells = "".join(
                f"{len(files) / seconds[name][s]:>8.0f} inst/s ({seconds[name][s]:6.2f} s, "
                f"{cpu[name][s] * 1000 / len(files):4.2f} CPU s/1k)"
                for s in scenarios)
            print(f"{name:<24}{cells}")
        print("\nCreating a file in the receiver's directory just before it started, CPU µs:")
        for name in names:
            print(f"{name:<24}" + "".join(f"{creation[name][s]:>36.0f}" for s in scenarios))
        print("\nThis machine is shared: figures move between runs; compare within a run.")


if __name__ == "__main__":
    main()
