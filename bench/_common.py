"""What the benchmark scripts share: test data, timing, peers' environment.

DCMTK and Orthanc leave Nagle's algorithm on unless TCP_NODELAY=1 is in
their environment; every peer and DCMTK tool here is started with it, as
tui-pacs sets TCP_NODELAY on every socket it opens.
"""

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

NODELAY_ENV = dict(os.environ, TCP_NODELAY="1",
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def make_study(directory: Path, instances: int, study: int = 9) -> list[Path]:
    """A CT study of 512x512 16-bit images (about 0.5 MB each), written once."""
    from tests.dicom_factory import write_study

    existing = sorted(directory.glob("*.dcm")) if directory.exists() else []
    if len(existing) == instances:
        return existing
    return write_study(directory, study=study, series=1, instances=instances, rows=512,
                       columns=512)


def timed(command: list[str], *, env: dict[str, str] | None = None,
          expect: int = 0) -> tuple[float, str]:
    """Run a command; (wall-clock seconds, stdout). Fails loudly on an unexpected status."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env or NODELAY_ENV,
                            timeout=600)
    seconds = time.perf_counter() - started
    if result.returncode != expect:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n"
                         f"{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


def tui_pacs(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "tui_pacs", *map(str, args)]


def reported_seconds(output: str) -> float:
    """The operation's own duration, as the summary line of move/get/send prints it."""
    found = re.findall(r"(\d+\.\d+) s\b", output)
    if not found:
        raise ValueError(f"no duration in: {output!r}")
    return float(found[-1])


def median(values: list[float]) -> float:
    return statistics.median(values)


def line(label: str, seconds: list[float], count: int) -> str:
    middle = median(seconds)
    runs = ", ".join(f"{s:.2f}" for s in seconds)
    return f"{label:<44} median {middle:6.2f} s  {count / middle:7.1f} instances/s  ({runs})"
