"""How fast the app answers a key while its node receives 500 instances.

Runs ``tui-pacs`` for real, in a pseudo-terminal (80x24, truecolor), with the
node listening on loopback and an archive of a few hundred studies. DCMTK's
storescu (with TCP_NODELAY=1) sends 500 CT images (512x512, 16-bit) in one
association; meanwhile the script presses keys and times each one until its
effect is on the terminal:

* ``j``/``k``: until the row the cursor moves to is drawn with the cursor's
  colours (the colours are learnt from the first press);
* ``?``: until the help screen's title is drawn (a screen composed and
  painted; ``q`` closes it, untimed).

The same probes run before the transfer (idle) and during it. Target: under
100 ms. Other programs on the machine disturb the figures; run it on a quiet
machine and take the median of several runs.

    python bench/ui_responsiveness.py [--instances 500] [--studies 300]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from datetime import date, timedelta
from pathlib import Path

from _common import NODELAY_ENV, REPO, make_study, summary

from tests.conftest import free_port
from tests.dicom_factory import write_study

COLUMNS, LINES = 80, 24
# Seeded studies are named BENCH^0000...; the first rows of the list.
SEED_NAME = "BENCH^{:04d}"
KEY_TIMEOUT = 5.0


class Terminal:
    """The app in a pseudo-terminal: write keys, wait for bytes on the screen."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the app
            try:
                os.execvpe(command[0], command, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.output = bytearray()

    def read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.output += os.read(self.fd, 1 << 16)
            except OSError:  # the app exited: its side of the terminal is gone
                pass

    def wait_for(self, pattern: re.Pattern[bytes], start: int, timeout: float = KEY_TIMEOUT
                 ) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            found = pattern.search(self.output, start)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                tail = bytes(self.output[-400:])
                raise TimeoutError(f"{pattern.pattern!r} did not appear; last output: {tail!r}")
            self.read(min(left, 0.01))

    def settle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.read(0.01)

    def press(self, key: bytes) -> int:
        """Write a key; the output offset after which its effect is looked for."""
        self.settle(0)
        mark = len(self.output)
        os.write(self.fd, key)
        return mark

    def close(self) -> None:
        os.write(self.fd, b"\x11")  # ctrl+q
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.read(0.05)
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


class Probes:
    """Timed key presses and their results, in seconds."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.cursor_style = b""
        self.row = 0
        self.moves: list[float] = []
        self.helps: list[float] = []

    def learn_cursor_style(self) -> None:
        """Press j once and note the escape sequence drawn before the highlighted row."""
        mark = self.terminal.press(b"j")
        name = SEED_NAME.format(1).encode()
        found = self.terminal.wait_for(re.compile(rb"(\x1b\[[0-9;]*m)" + re.escape(name)),
                                       mark)
        self.cursor_style = found.group(1)
        self.row = 1
        self.terminal.settle(0.3)

    def move(self) -> None:
        key, row = (b"k", self.row - 1) if self.row else (b"j", self.row + 1)
        pattern = re.compile(re.escape(self.cursor_style)
                             + re.escape(SEED_NAME.format(row).encode()))
        started = time.perf_counter()
        mark = self.terminal.press(key)
        self.terminal.wait_for(pattern, mark)
        self.moves.append(time.perf_counter() - started)
        self.row = row

    def help(self) -> None:
        started = time.perf_counter()
        mark = self.terminal.press(b"?")
        self.terminal.wait_for(re.compile(rb"Keys: studies"), mark)
        self.helps.append(time.perf_counter() - started)
        self.terminal.press(b"q")  # closes help; escape alone would wait for a sequence
        self.terminal.settle(0.25)

    def round(self) -> None:
        self.move()
        self.move()
        self.help()


async def seed_archive(data: Path, studies: int, scratch: Path) -> None:
    from tui_pacs.store.archive import Archive

    files = []
    newest = date(2024, 6, 30)
    for number in range(studies):
        # BENCH^0000 is the newest: the first row of the list.
        day = (newest - timedelta(days=number)).strftime("%Y%m%d")
        files += write_study(scratch, study=1000 + number, series=1, instances=1,
                             patient_id=f"B{number:04d}", patient_name=SEED_NAME.format(number),
                             study_date=day, rows=16, columns=16)
    archive = await Archive.open(data)
    try:
        await archive.store_files(files)
    finally:
        await archive.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--studies", type=int, default=300)
    args = parser.parse_args()
    if not shutil.which("storescu"):
        raise SystemExit("storescu (DCMTK) is needed: apt-get install dcmtk")

    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    cache = Path(tempfile.gettempdir()) / "tui-pacs-bench-ct"
    try:
        print(f"seeding {args.studies} studies; writing {args.instances} CT images…",
              flush=True)
        asyncio.run(seed_archive(work / "data", args.studies, work / "seed"))
        # Dated 2024-01-15: it sorts below the first rows, which the probes use.
        images = make_study(cache, args.instances)
        port = free_port()
        config = work / "config.toml"
        config.write_text("")
        env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color",
                   COLORTERM="truecolor", TUI_PACS_CONFIG=str(config))
        terminal = Terminal([sys.executable, "-m", "tui_pacs", "--data", str(work / "data"),
                             "--port", str(port), "--bind", "127.0.0.1"], env)
        try:
            listening = rb"\xe2\x97\x8f(?:\x1b\[[0-9;]*m)* :" + str(port).encode()
            terminal.wait_for(re.compile(listening), 0, 30)
            terminal.wait_for(re.compile(re.escape(SEED_NAME.format(0).encode())), 0, 30)
            terminal.settle(0.5)
            probes = Probes(terminal)
            probes.learn_cursor_style()
            for _ in range(10):
                probes.round()
            idle_moves, idle_helps = probes.moves, probes.helps
            probes.moves, probes.helps = [], []

            print(f"sending {len(images)} instances with storescu (TCP_NODELAY=1)…",
                  flush=True)
            started = time.perf_counter()
            sender = subprocess.Popen(["storescu", "-aec", "TUIPACS", "127.0.0.1", str(port),
                                       *map(str, images)], env=NODELAY_ENV,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while sender.poll() is None:
                probes.round()
            sent = time.perf_counter() - started
            if sender.returncode:
                raise SystemExit(f"storescu failed: {sender.stderr.read().decode()}")
        finally:
            terminal.close()

        print()
        print(f"terminal {COLUMNS}x{LINES}, {args.studies} studies in the archive")
        print(f"idle       cursor move  {summary(idle_moves)}; max {max(idle_moves) * 1000:.1f} ms")
        print(f"idle       help screen  {summary(idle_helps)}; max {max(idle_helps) * 1000:.1f} ms")
        print(f"receiving  cursor move  {summary(probes.moves)}; "
              f"max {max(probes.moves) * 1000:.1f} ms")
        print(f"receiving  help screen  {summary(probes.helps)}; "
              f"max {max(probes.helps) * 1000:.1f} ms")
        print(f"{len(images)} instances received in {sent:.1f} s "
              f"({len(images) / sent:.0f} instances/s) while the keys were pressed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
