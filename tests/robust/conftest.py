"""Fixtures for the robustness tests: a node to attack, and what must survive it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.server.conftest import (
    dcmtk,
    run,
    start_node,  # noqa: F401  (a fixture)
)
from tests.server.helpers import ready_workers
from tui_pacs.store.check import check_archive

# Short timeouts, so that connections left hanging are closed within a test.
HOSTILE_CONFIG = """
[limits]
acse_timeout = 2
network_timeout = 3
dimse_timeout = 5

[[modalities]]
name = "friend"
aet = "FRIEND"
host = "127.0.0.1"
port = {port}
"""
# Where an identifier that escaped the data directory would land.
ESCAPE_TARGET = Path("/tmp/tui-pacs-escape")


@pytest.fixture
def hostile_node(start_node, tmp_path):  # noqa: F811
    """`tui-pacs serve` with its data in a sandbox directory of its own."""
    node = start_node(HOSTILE_CONFIG.format(port=free_port()),
                      data=tmp_path / "sandbox" / "data")
    ready_workers(node)  # each process keeps its share of the waiting connections
    return node


@pytest.fixture
def unharmed(hostile_node, tmp_path) -> Callable[[], None]:
    """Call it after an attack: the node still answers C-ECHO, nothing was
    written outside its data directory, and the index is intact."""
    before = _outside(tmp_path, hostile_node)

    def check() -> None:
        echo = run(dcmtk("echoscu"), "-aec", hostile_node.aet, "127.0.0.1", hostile_node.port,
                   timeout=30)
        assert echo.returncode == 0, echo.stderr
        assert _outside(tmp_path, hostile_node) == before
        assert not ESCAPE_TARGET.exists()
        report = check_archive(hostile_node.data)
        assert report.ok, report
        log = hostile_node.log()
        assert "Traceback" not in log and "internal error" not in log, log

    return check


def _outside(tmp_path: Path, node) -> set[str]:
    """Every file and directory outside the node's data directory that it could
    reach: the test's directory (but its log) and the repository it runs in."""
    ours = {str(p) for p in tmp_path.rglob("*")
            if not p.is_relative_to(node.data) and p != node.log_path}
    untracked = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                               cwd=REPO, capture_output=True, text=True, timeout=30).stdout
    return ours | {f"repo:{line}" for line in untracked.splitlines()}
