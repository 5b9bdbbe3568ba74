"""A fault in the app is logged and shown, and neither the app nor its node stops.

Each test injects an exception where Textual would end the app (a key's
action, a screen's message handler, a worker, a timer, a palette command),
then checks the outcomes: the app still answers keys, the node inside it
still answers a real C-ECHO (DCMTK echoscu), and tui-pacs.log holds the
traceback.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess

import pytest
from textual.message import Message

from tests.server.programs import compiled_program
from tests.ui.conftest import listening, make_app, settle
from tests.ui.test_ui_app import run_from_the_palette
from tui_pacs import logs
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.commands import PaletteEntry
from tui_pacs.ui.screens.studies import StudiesScreen

pytestmark = pytest.mark.interop

ECHOSCU = compiled_program("echoscu")


class InjectedFault(RuntimeError):
    """Raised on purpose: easy to find in the log."""


class FaultProbe(Message):
    """A message whose handler the test makes fail."""


def fail(*args: object) -> None:
    raise InjectedFault("injected by the test")


@pytest.fixture
def log_file(tmp_path):
    """The app's log file, as ``tui-pacs`` configures it; ``read()`` flushes and reads it."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    path = tmp_path / "tui-pacs.log"
    logs.configure(file=path)

    def read() -> str:
        for handler in root.handlers[:]:
            if handler not in saved[0]:
                root.removeHandler(handler)
                handler.close()  # the writer thread finishes the file
        return path.read_text(encoding="utf-8")

    yield read
    read()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def echo(port: int) -> subprocess.CompletedProcess[str]:
    if ECHOSCU is None:
        pytest.skip("DCMTK echoscu is not installed")
    return subprocess.run([ECHOSCU, "-aet", "PROBE", "-aec", "TUIPACS", "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30)


async def still_serving(app: PacsApp, pilot) -> None:
    """The app answers keys (the screen's and the app's), and the node answers C-ECHO."""
    await pilot.press("4")
    await settle(pilot)
    assert app.current_mode == "activity"
    await pilot.press("1")
    await settle(pilot)
    assert app.current_mode == "local"
    result = await asyncio.to_thread(echo, app.settings.node.port)
    assert result.returncode == 0, result.stderr
    assert app.return_code is None


def assert_logged(text: str, where: str) -> None:
    assert f"{where} failed" in text
    assert "Traceback (most recent call last)" in text
    assert "InjectedFault: injected by the test" in text


async def test_a_failing_key_action_is_contained(seeded, log_file, faults, monkeypatch):
    monkeypatch.setattr(StudiesScreen, "action_next_date", fail)
    app = make_app(listening(seeded), listen=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("D")
        await settle(pilot)
        notes = [(n.title, n.severity, n.message) for n in app._notifications]
        assert ("Something went wrong", "error",
                "fail failed: InjectedFault: injected by the test. The app and the node keep "
                "running; tui-pacs.log has the traceback.") in notes
        await still_serving(app, pilot)
        faults.clear()
    assert_logged(log_file(), "fail")


async def test_a_failing_message_handler_keeps_its_screen_alive(seeded, log_file, faults,
                                                               monkeypatch):
    monkeypatch.setattr(StudiesScreen, "on_fault_probe", fail, raising=False)
    app = make_app(listening(seeded), listen=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        app.screen.post_message(FaultProbe())
        await settle(pilot)
        assert len(faults) == 1
        await pilot.press("D")  # handled by the screen that failed
        await settle(pilot)
        assert app.screen.filter.date == "today"
        await still_serving(app, pilot)
        faults.clear()
    assert "StudiesScreen handling FaultProbe" in log_file()


@pytest.mark.parametrize("exit_on_error", [True, False])
async def test_a_failing_worker_is_contained(seeded, log_file, faults, exit_on_error):
    app = make_app(listening(seeded), listen=True)

    async def work() -> None:
        fail()

    async with app.run_test() as pilot:
        await settle(pilot)
        app.run_worker(work, name="probe", exit_on_error=exit_on_error)
        await settle(pilot)
        assert len(faults) == 1  # reported once, whichever way Textual tells
        await still_serving(app, pilot)
        faults.clear()
    text = log_file()
    assert_logged(text, "fail")
    assert "(background work 'probe')" in text


async def test_a_failing_timer_is_contained(seeded, log_file, faults):
    app = make_app(listening(seeded), listen=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        fired = asyncio.Event()

        def tick() -> None:
            fired.set()
            fail()

        app.set_timer(0.01, tick)
        await fired.wait()
        await settle(pilot)
        assert len(faults) == 1
        await still_serving(app, pilot)
        faults.clear()
    assert_logged(log_file(), "fail")


async def test_a_failing_palette_command_is_contained(seeded, log_file, faults, monkeypatch):
    monkeypatch.setattr(PacsApp, "palette_entries",
                        lambda app: iter([PaletteEntry("Break things", "test", fail)]))
    app = make_app(listening(seeded), listen=True)
    async with app.run_test() as pilot:
        await run_from_the_palette(pilot, "break things")
        assert len(faults) == 1
        await still_serving(app, pilot)
        faults.clear()
    assert_logged(log_file(), "fail")
