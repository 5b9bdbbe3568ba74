"""Fixtures for server tests: `tui-pacs serve` and DCMTK programs as real peers.

Everything listens on 127.0.0.1 and a free port, lives in the test's temp
directory and is stopped by the fixture's finalizer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env, free_port

DCMTK_PROGRAMS = ("echoscu", "storescu", "findscu", "movescu", "getscu", "storescp")
START_TIMEOUT = 30.0


def dcmtk(name: str) -> str:
    """The DCMTK program ``name``: the first on PATH that is a compiled binary
    (pynetdicom installs Python scripts with the same names)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
        path = Path(folder) / name
        try:
            with open(path, "rb") as fp:
                if fp.read(4) == b"\x7fELF":
                    return str(path)
        except OSError:
            continue
    pytest.skip(f"DCMTK's {name} is not installed")


def wait_for_port(port: int, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


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
              port: int | None = None, wait: bool = True) -> RunningNode:
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
                stdout=log, stderr=subprocess.STDOUT, env=cli_env(), cwd=REPO)
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


@dataclass
class RunningStorescp:
    aet: str
    port: int
    directory: Path
    process: subprocess.Popen = field(repr=False)


@pytest.fixture
def start_storescp(tmp_path: Path) -> Iterator:
    """A DCMTK storescp accepting every transfer syntax (+xa) and writing what it
    receives bit for bit (+B)."""
    running: list[RunningStorescp] = []

    def start(aet: str = "STORESCP") -> RunningStorescp:
        directory = tmp_path / f"storescp-{aet}"
        directory.mkdir()
        port = free_port()
        process = subprocess.Popen(
            [dcmtk("storescp"), "-aet", aet, "+B", "+xa", "-od", str(directory), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        receiver = RunningStorescp(aet, port, directory, process)
        running.append(receiver)
        wait_for_port(port)
        return receiver

    yield start
    for receiver in running:
        receiver.process.terminate()
        try:
            receiver.process.wait(10)
        except subprocess.TimeoutExpired:
            receiver.process.kill()
            receiver.process.wait(10)


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
