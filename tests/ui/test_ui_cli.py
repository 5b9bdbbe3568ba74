"""``tui-pacs`` with no command: the app in a real pseudo-terminal, from the command line."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

import pytest

from tests.conftest import REPO, cli_env, free_port, run_cli
from tui_pacs.store.layout import RUNNING_MARKER


def spawn(args: list[str], env: dict[str, str]) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the app, or die trying
        try:
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "tui_pacs", *args], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    return pid, fd


def read_until(fd: int, wanted: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{wanted!r} not shown; got {seen[-300:]!r}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.1))
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def wait_exit(pid: int, fd: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        try:
            if ready:  # an idle app writes nothing: a bare read would block
                os.read(fd, 65536)
        except OSError:
            pass
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the app did not exit")


@pytest.fixture
def app_env(tmp_path) -> dict[str, str]:
    return {**cli_env(), "TERM": "xterm-256color", "TUI_PACS_CONFIG": str(tmp_path / "c.toml")}


def test_no_command_opens_the_app_and_ctrl_q_quits(app_env, tmp_path):
    data = tmp_path / "data"
    port = free_port()
    pid, fd = spawn(["--data", str(data), "--port", str(port), "--bind", "127.0.0.1"], app_env)
    try:
        screen = read_until(fd, f":{port}".encode())
        assert b"No studies" in read_until(fd, b"No studies") or b"No studies" in screen
        os.write(fd, b"\x11")  # ctrl+q
        assert wait_exit(pid, fd) == 0
    finally:
        os.close(fd)
    log = (data / "tui-pacs.log").read_text()
    assert f"listening on 127.0.0.1:{port}" in log


def test_hang_up_stops_the_node_and_exits(app_env, tmp_path):
    data = tmp_path / "data"
    pid, fd = spawn(["--data", str(data), "--port", str(free_port()), "--bind", "127.0.0.1"],
                    app_env)
    try:
        read_until(fd, b"No studies")
        os.kill(pid, signal.SIGHUP)
        assert wait_exit(pid, fd) == 0
    finally:
        os.close(fd)
    assert not (data / RUNNING_MARKER).exists()  # the archive was closed cleanly


def test_without_a_terminal_the_app_says_so():
    result = run_cli("--no-listen", input="")
    assert result.returncode == 1
    assert result.stderr.strip() == ("tui-pacs: the app needs a terminal; for a node without "
                                     "one, run tui-pacs serve")


def test_bad_ae_title_is_one_line():
    result = run_cli("app", "--aet", "FAR_TOO_LONG_AE_TITLE")
    assert result.returncode == 2
    assert "--aet" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_app_help_lists_the_node_options():
    result = run_cli("app", "--help")
    assert result.returncode == 0
    for option in ("--aet", "--port", "--bind", "--no-listen", "--data", "--config"):
        assert option in result.stdout


def test_256_colour_terminal_gets_256_colours(app_env, tmp_path):
    """tmux and many SSH setups say TERM=screen-256color and no COLORTERM."""
    env = {k: v for k, v in app_env.items() if k != "COLORTERM"}
    env["TERM"] = "screen-256color"
    pid, fd = spawn(["--no-listen", "--data", str(tmp_path / "data")], env)
    try:
        screen = read_until(fd, b"No studies")
        assert b"\x1b[38;5;" in screen and b"38;2;" not in screen
        os.write(fd, b"\x11")
        assert wait_exit(pid, fd) == 0
    finally:
        os.close(fd)
