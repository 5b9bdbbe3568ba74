"""C-STORE ingest: CT-like 512x512 or small 64x64 16-bit instances from DCMTK's storescu.

One association, then four concurrent ones (a quarter of the instances
each), received by tui-pacs (durable and indexed before each success; as
configured by default, one process per CPU, and in one process), DCMTK's
storescp, Orthanc and pynetdicom's bundled storescp app, each fresh in a
temp directory, one after the other in the same run. Besides the rate,
the CPU time the receiver used (all its processes and threads) per 1,000
instances.

    python bench/ingest.py [--small] [--instances N] [--only tui-pacs --only Orthanc]
                           [--rounds N] [--profile DIR [--gil]]

``--small``: 4,000 64x64 instances (SR, KOS and small MR images cost the
receiver per instance, not per byte) instead of 500 512x512 ones.
``--rounds N``: each scenario N times, every receiver once per round (the
first of one round last in the next), and the medians; with Orthanc among
the receivers, each one's rate against Orthanc's in the same round, and
the median of those ratios. This machine is shared, and its speed moves by
a third within minutes: one run per receiver, one after the other,
compares two different machines. A ratio taken within a round, seconds
apart, is the one to read.
``--profile DIR``: py-spy samples tui-pacs while it receives (collapsed
stacks, one file per scenario, of the first round, for flame graphs or grep).

The receivers do not promise the same. tui-pacs answers a C-STORE once
the file and its index row are both durable (an fsync of the file, the
index's WAL synced at its group's commit). Orthanc 1.10, as run here,
fdatasyncs each stored file but syncs its SQLite index only at checkpoints
(strace, 400 instances: 400 fdatasyncs of stored files, 20 of the index's
WAL): an instance it acknowledged can be missing from its index after a
power cut. storescp and pynetdicom's app sync nothing.

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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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

RECEIVERS: dict[str, Callable[[Path], Peer]] = {
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
    parser.add_argument("--rounds", type=int, default=1,
                        help="each scenario this many times, receivers alternating; medians")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy profiles of tui-pacs into DIR")
    parser.add_argument("--gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
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
        # Per receiver and scenario, one figure per round.
        rates: dict[str, dict[str, list[float]]] = {n: {s: [] for s in scenarios} for n in names}
        cpu: dict[str, dict[str, list[float]]] = {n: {s: [] for s in scenarios} for n in names}
        creation: dict[str, dict[str, list[float]]] = {n: {s: [] for s in scenarios}
                                                       for n in names}
        for scenario, groups in scenarios.items():
            for round_number in range(args.rounds):
                # Who goes first changes each round: neither always follows the other.
                for name in names if round_number % 2 == 0 else names[::-1]:
                    work = root / f"{name}-{scenario}-{round_number}".replace(" ", "-")
                    work.mkdir()
                    creation[name][scenario].append(creation_cost(work))
                    profile = (args.profile / f"{side}-{scenario.replace(' ', '-')}.txt"
                               if args.profile and name == "tui-pacs" and round_number == 0
                               else None)
                    with running(RECEIVERS[name](work)) as peer, \
                            profiled(peer, profile, args.gil):
                        before = cpu_seconds(peer.process.pid)
                        seconds = send(peer, groups)
                        used = cpu_seconds(peer.process.pid) - before
                    rates[name][scenario].append(len(files) / seconds)
                    cpu[name][scenario].append(used * 1000 / len(files))
        _report(names, scenarios, rates, cpu, creation, args.rounds)


def _report(names: list[str], scenarios: dict, rates: dict, cpu: dict, creation: dict,
            rounds: int) -> None:
    median = statistics.median
    heading = f"median of {rounds} rounds" if rounds > 1 else "one round"
    table = {f"receiver ({heading})": list(scenarios)}
    for name in names:
        table[name] = [f"{median(rates[name][s]):.0f} inst/s ({median(cpu[name][s]):.2f} "
                       "CPU s/1k)" for s in scenarios]
    _print_table(table)
    if rounds > 1:
        print("\nRates round by round, instances per second:")
        _print_table({name: [" ".join(f"{rate:.0f}" for rate in rates[name][s])
                             for s in scenarios] for name in names})
    if rounds > 1 and "Orthanc" in names:
        print("\nAgainst Orthanc in the same round (median, and each round's ratio):")
        against: dict[str, list[str]] = {}
        for name in (n for n in names if n != "Orthanc"):
            against[name] = []
            for s in scenarios:
                ratios = [rate / orthanc for rate, orthanc in
                          zip(rates[name][s], rates["Orthanc"][s])]
                against[name].append(
                    f"{median(ratios):.2f}x ({' '.join(f'{r:.2f}' for r in ratios)})")
        _print_table(against)
    print("\nCreating a file in the receiver's directory just before it started, CPU µs"
          + (" (median, most)" if rounds > 1 else "") + ":")
    _print_table({name: [f"{median(creation[name][s]):.0f}"
                         + (f" ({max(creation[name][s]):.0f})" if rounds > 1 else "")
                         for s in scenarios] for name in names})
    print("\nThis machine is shared: figures move between runs; compare within a round.")


def _print_table(rows: dict[str, list[str]]) -> None:
    """Rows of a name and a cell per scenario, in columns wide enough for every cell."""
    first = max(len(name) for name in rows) + 2
    width = max(len(cell) for cells in rows.values() for cell in cells) + 3
    for name, cells in rows.items():
        print(f"{name:<{first}}" + "".join(f"{cell:>{width}}" for cell in cells))


if __name__ == "__main__":
    main()
