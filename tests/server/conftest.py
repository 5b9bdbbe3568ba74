"""Fixtures for server tests: `tui-pacs serve` and DCMTK programs as real peers.

Everything listens on 127.0.0.1 and a free port, lives in the test's temp
directory and is stopped by the fixture's finalizer.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, free_port
from tests.server.programs import compiled_program

START_TIMEOUT = 30.0


def dcmtk(name: str) -> str:
    """DCMTK's program ``name``; the test is skipped when it is not installed."""
    return compiled_program(name) or pytest.skip(f"DCMTK's {name} is not installed")


def run(*args: str | Path, timeout: float = 120, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a program (a DCMTK tool) and capture what it prints."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


@dataclass
class RunningNode:
    port: int
    aet: str
    data: Path
    config: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {timeout} s; log:\n{self.log()}")

    def wait_for_count(self, text: str, count: int, timeout: float = 20.0) -> str:
        """The log once ``text`` is in it ``count`` times (a line about a peer
        served by an ingest worker process comes a moment after the peer is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if log.count(text) >= count:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged {count} times within {timeout} s; "
                             f"log:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator:
    """Start ``tui-pacs serve`` with a config (TOML text); stopped at the end."""
    nodes: list[RunningNode] = []

    def start(config: str = "", *args: str, aet: str = "TUIPACS", data: Path | None = None,
              port: int | None = None, wait: bool = True,
              env: dict[str, str] | None = None) -> RunningNode:
        number = len(nodes)
        config_path = tmp_path / f"node{number}.toml"
        config_path.write_text(config, encoding="utf-8")
        data = data or tmp_path / f"node{number}-data"
        port = port or free_port()
        log_path = tmp_path / f"node{number}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tui_pacs", "serve", "--config", str(config_path),
                 "--data", str(data), "--port", str(port), "--bind", "127.0.0.1",
                 "--aet", aet, *args],
                stdout=log, stderr=subprocess.STDOUT, env={**cli_env(), **(env or {})},
                # A group of its own, as at a terminal: a test may signal it whole.
                cwd=REPO, process_group=0)
        node = RunningNode(port, aet, data, config_path, log_path, process)
        nodes.append(node)
        if wait:
            deadline = time.monotonic() + START_TIMEOUT
            while "listening on" not in node.log():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the node did not start:\n{node.log()}")
                time.sleep(0.05)
        return node

    yield start
    for node in nodes:
        node.stop()


def wait_for(condition, what: str, timeout: float = 60.0, poll: float = 0.05) -> None:
    """Wait until ``condition()`` holds; AssertionError saying ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(poll)


def modalities_config(*entries: tuple[str, int], **access: list[str]) -> str:
    """TOML: [[modalities]] on 127.0.0.1 named after their AE titles, and [access]."""
    lines = []
    if access:
        lines.append("[access]")
        lines += [f"{service} = {value!r}".replace("'", '"') for service, value in access.items()]
    for aet, port in entries:
        lines += ["[[modalities]]", f'name = "{aet.lower()}"', f'aet = "{aet}"',
                  'host = "127.0.0.1"', f"port = {port}"]
    return "\n".join(lines) + "\n"


def copy_tree(paths: list[Path], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, directory / p.name)) for p in paths]
