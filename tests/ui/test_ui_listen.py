"""Listen again: the port was busy at start; once it is free, L (or the palette) binds it.

Outcome checked: the node answers a real C-ECHO (DCMTK echoscu) afterwards,
in Pilot and in the installed app driven through a pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
import time

import pytest

from tests.conftest import cli_env
from tests.server.programs import compiled_program
from tests.ui.conftest import listening, make_app, screen_text, settle
from tests.ui.test_ui_app import run_from_the_palette
from tests.ui.test_ui_cli import read_until, spawn, wait_exit

pytestmark = pytest.mark.interop

ECHOSCU = compiled_program("echoscu")


def echo(port: int) -> subprocess.CompletedProcess[str]:
    if ECHOSCU is None:
        pytest.skip("DCMTK echoscu is not installed")
    return subprocess.run([ECHOSCU, "-aet", "PROBE", "-aec", "TUIPACS", "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30)


def occupy() -> socket.socket:
    """A listening socket on a port the system chose: the node's port, taken."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken


@pytest.mark.parametrize("how", ["key", "palette"])
async def test_listen_again_once_the_port_is_free(seeded, how):
    taken = occupy()
    port = taken.getsockname()[1]
    settings = listening(seeded).with_node(port=port)
    app = make_app(settings, listen=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "✗" in screen_text(app)
        assert any("Press L to listen again" in str(n.message) for n in app._notifications)
        await pilot.press("L")  # still taken: says so, and stays usable
        await settle(pilot)
        assert any(n.title == "Still not listening" for n in app._notifications)
        taken.close()
        if how == "key":
            await pilot.press("L")
        else:
            await run_from_the_palette(pilot, "listen again")
        await settle(pilot)
        assert f"● :{port}" in screen_text(app)
        result = await asyncio.to_thread(echo, port)
        assert result.returncode == 0, result.stderr
        assert not app.check_action("listen_again", ())  # nothing left to retry


def test_listen_again_in_the_installed_app(tmp_path):
    """At 80x24 in a real terminal: the key reaches the app and the node binds."""
    data = tmp_path / "data"
    env = {**cli_env(), "TERM": "xterm-256color", "TUI_PACS_CONFIG": str(tmp_path / "c.toml")}
    taken = occupy()
    port = taken.getsockname()[1]
    pid, fd = spawn(["--data", str(data), "--port", str(port), "--bind", "127.0.0.1"], env)
    try:
        read_until(fd, "✗".encode())
        taken.close()
        os.write(fd, b"L")
        read_until(fd, b"Listening on port")
        result = echo(port)
        assert result.returncode == 0, result.stderr
        # ctrl+q. The echo's association may still be ending in the node (its
        # thread outlives the release): then the app asks first, rightly.
        os.write(fd, b"\x11")
        if b"Quit tui-pacs?" in read_until_either(fd, b"Quit tui-pacs?", pid):
            os.write(fd, b"y")
        assert wait_exit(pid, fd) == 0
    finally:
        taken.close()
        os.close(fd)
    log = (data / "tui-pacs.log").read_text()
    assert f"listening on 127.0.0.1:{port}" in log


def read_until_either(fd: int, wanted: bytes, pid: int, timeout: float = 30) -> bytes:
    """What the app shows until ``wanted`` appears or the app exits."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
        elif os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
    return seen
