"""Shared helpers for the benchmark scripts (run by hand, not by the test suite)."""

from __future__ import annotations

import os
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
