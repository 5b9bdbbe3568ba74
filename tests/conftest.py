"""Fixtures shared by every test: isolated config and data, test files, the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

REPO = Path(__file__).resolve().parents[1]
PYDICOM_DATA = Path(pydicom.__file__).parent / "data"


def pydicom_file(name: str) -> Path:
    """A file bundled in the pydicom wheel (never the download helpers: no internet)."""
    for folder in ("test_files", "charset_files"):
        path = PYDICOM_DATA / folder / name
        if path.exists():
            return path
    raise FileNotFoundError(f"{name} is not bundled with pydicom {pydicom.__version__}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real config or data directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("TUI_PACS_CONFIG", str(home / "config.toml"))
    return home


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """Write a config file (TOML text) and point TUI_PACS_CONFIG at it."""

    def write(text: str) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("TUI_PACS_CONFIG", str(path))
        return path

    return write


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "200")
    return env


def run_cli(*args: str | Path, timeout: float = 120, input: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tui_pacs`` as a user would (a subprocess)."""
    return subprocess.run(
        [sys.executable, "-m", "tui_pacs", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=cli_env(), input=input,
        cwd=cwd or REPO,
    )

# Real DICOM peers (Orthanc, DCMTK storescp) as fixtures for interop tests.
pytest_plugins = ["tests.peers.fixtures"]
