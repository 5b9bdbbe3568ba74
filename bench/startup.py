"""Client start-up: `tui-pacs echo` and `tui-pacs --help` beside DCMTK's echoscu.

Each command runs ``--runs`` times (20 by default), the commands taking turns
so that a busy moment on this shared machine falls on all of them alike; the
table has the median wall time and the median CPU time (user + system) of the
process. Python's own start-up and the import of pynetdicom (which imports
pydicom, and pydicom numpy and Pillow) are measured the same way: below
them, echo cannot go.

    python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import NODELAY_ENV, dcmtk_storescp, program, running  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# Bytecode is written (and read) as for an installed package: a checkout run
# with PYTHONDONTWRITEBYTECODE would compile every module at every start.
ENV = {**{k: v for k, v in NODELAY_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPATH": str(REPO)}


def timed_run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; exits when the command fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=ENV)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode:
        raise SystemExit(f"bench: {' '.join(command)} exited {process.returncode}: {errors}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp, \
            running(dcmtk_storescp(Path(tmp))) as peer:
        target = f"{peer.aet}@127.0.0.1:{peer.port}"
        commands = {
            "tui-pacs echo": [python, "-m", "tui_pacs", "echo", target],
            "tui-pacs --help": [python, "-m", "tui_pacs", "--help"],
            "echoscu": [program("echoscu"), "-aec", peer.aet, "127.0.0.1", str(peer.port)],
            "python -c pass": [python, "-c", "pass"],
            "python -c 'import pynetdicom'": [python, "-c", "import pynetdicom"],
        }
        for command in commands.values():  # bytecode written, files in the page cache
            timed_run(command)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                samples[name].append(timed_run(command))
    print(f"\nstart-up, median of {args.runs} runs (storescp as the echo peer)")
    print(f"{'command':<32}{'wall':>10}{'CPU':>10}")
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:<32}{wall * 1000:>7.0f} ms{cpu * 1000:>7.0f} ms")
    print("\nThis machine is shared: compare within a run.")


if __name__ == "__main__":
    main()
