"""mypy over tui_pacs is part of the test command.

The settings live in pyproject.toml's [tool.mypy]; the cache in .mypy_cache/
(ignored by git) makes a rerun take about a second instead of ten.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_passes_on_tui_pacs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, f"mypy found errors:\n{done.stdout}{done.stderr}"
