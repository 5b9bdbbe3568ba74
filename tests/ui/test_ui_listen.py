"""Listen again: the port was busy at start; once it is free, L (or the palette) binds it.

Outcome checked: the node answers a real C-ECHO (DCMTK echoscu) afterwards,
in Pilot and in the installed app driven through a pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

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
        os.write(fd, b"\x11")  # ctrl+q: nothing running, so no question
        assert wait_exit(pid, fd) == 0
    finally:
        taken.close()
        os.close(fd)
    log = (data / "tui-pacs.log").read_text()
    assert f"listening on 127.0.0.1:{port}" in log
