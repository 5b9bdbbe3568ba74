"""Shared helpers for the benchmark scripts (run by hand, not by the test suite)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def tui_pacs(*args: str | Path, env: dict | None = None, check: bool = True,
             capture: bool = True) -> subprocess.CompletedProcess:
    """Run the CLI of this checkout as a subprocess."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-m", "tui_pacs", *map(str, args)], env=full_env,
                          check=check, capture_output=capture, text=True)


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def summary(samples: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (f"median {statistics.median(ordered) * scale:.1f} {unit}, "
            f"p90 {p90 * scale:.1f} {unit}, n={len(ordered)}")


# --- talking to DCMTK and Orthanc (send.py, retrieve.py) ---------------------------

# DCMTK and Orthanc leave Nagle's algorithm on unless TCP_NODELAY=1 is in their
# environment; tui-pacs sets TCP_NODELAY on every socket it opens.
NODELAY_ENV = dict(os.environ, TCP_NODELAY="1", PYTHONPATH=str(REPO))


def make_study(directory: Path, instances: int, study: int = 9) -> list[Path]:
    """A CT series of 512x512 16-bit images (about 0.5 MB each), written once and kept."""
    from tests.dicom_factory import write_study

    existing = sorted(directory.glob("*.dcm")) if directory.exists() else []
    if len(existing) == instances:
        return existing
    return write_study(directory, study=study, series=1, instances=instances, rows=512,
                       columns=512)


def run_timed(command: list[str]) -> tuple[float, str]:
    """Run a program with TCP_NODELAY=1: (wall-clock seconds, stdout); exit on failure."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=NODELAY_ENV,
                            timeout=600)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n"
                         f"{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def reported_seconds(output: str) -> float:
    """The operation's own duration, as the summary line of move, get or send prints it."""
    found = re.findall(r"(\d+\.\d+) s\b", output)
    if not found:
        raise ValueError(f"no duration in: {output!r}")
    return float(found[-1])


def rate_line(label: str, seconds: list[float], count: int) -> str:
    middle = statistics.median(seconds)
    runs = ", ".join(f"{s:.2f}" for s in seconds)
    return f"{label:<30} median {middle:6.2f} s  {count / middle:7.1f} instances/s  ({runs})"
