"""Starting and stopping a peer program that listens on a TCP port."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

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
