"""Starting and stopping a peer program that listens on a TCP port."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.peers.ports import free_port

POLL = 0.05


def start_listening(command: list[str], port: int, log_path: Path, *, cwd: Path,
                    timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """``command`` started with its output in ``log_path``, once it accepts
    connections on ``port``; RuntimeError with its log if it exits or does
    not listen within ``timeout`` seconds."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited at start-up:\n{log_tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(POLL)
    stop(process)
    raise RuntimeError(f"{command[0]} did not listen in {timeout} s:\n{log_tail(log_path)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ListeningProgram:
    """A peer program of a test: its AE title, a free loopback port, its log."""

    def __init__(self, workdir: Path, *, aet: str, log_name: str) -> None:
        self.workdir = workdir
        self.aet = aet
        self.port = free_port()
        self.log_path = workdir / log_name
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.port}"

    def _start(self, command: list[str]) -> None:
        self._process = start_listening(command, self.port, self.log_path, cwd=self.workdir)

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None

    def log_tail(self) -> str:
        return log_tail(self.log_path)
