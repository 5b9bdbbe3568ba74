"""Hostile values for the terminal-injection tests (issue 17), and how to look for them.

Every hostile code point ``ch`` goes into a value between markers, ``Zq<ch>Zq``
(neighbours share a marker: ``Zq<a>Zq<b>Zq``), so that finding ``Zq<ch>Zq`` in
what a command or the app wrote means ``ch`` reached the terminal raw, and
finding ``Zq`` + its visible form (``\\x1b``) means the value was shown, made
harmless. The code points are split into small chunks, one per study, so that
no table column cuts a value short of the code points it carries.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from tests.conftest import REPO, cli_env
from tests.dicom_factory import make_dataset, write_instance

MARK = "Zq"
C0 = [chr(c) for c in range(0x00, 0x20)] + ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
HOSTILE = C0 + C1 + BIDI
# Values shorter than a narrow column's width even in their visible form
# (``Zq\u202eZq\u2066Zq`` is 26 characters).
CHUNK = 4

PRIVATE_GROUP = 0x0011
PRIVATE_CREATOR = "ZQ HOSTILE"


def visible(ch: str) -> str:
    """How tui_pacs.core.text.printable shows one code point."""
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def hostile_value(chars: Sequence[str]) -> str:
    return MARK + MARK.join(chars) + MARK


def chunks(chars: Sequence[str] = HOSTILE, size: int = CHUNK) -> list[list[str]]:
    return [list(chars[i:i + size]) for i in range(0, len(chars), size)]


def as_text(output: bytes | str) -> str:
    if isinstance(output, str):
        return output
    return output.decode("utf-8", errors="surrogateescape")


def raw_hits(output: bytes | str, chars: Iterable[str] = HOSTILE) -> list[str]:
    """The hostile code points that ``output`` holds raw between markers: as
    UTF-8, and for C1 also as the single 8-bit byte a terminal acts on."""
    text = as_text(output)
    data = output if isinstance(output, bytes) else text.encode("utf-8", "surrogateescape")
    hits = []
    for ch in chars:
        if f"{MARK}{ch}{MARK}" in text:
            hits.append(ch)
        elif 0x80 <= ord(ch) < 0xA0 and b"Zq" + bytes([ord(ch)]) + b"Zq" in data:
            hits.append(ch)
    return hits


def shown_visibly(output: bytes | str, chars: Iterable[str]) -> list[str]:
    """The code points whose visible form, between markers, ``output`` shows."""
    text = as_text(output)
    return [ch for ch in chars if f"{MARK}{visible(ch)}{MARK}" in text]


def describe(hits: Iterable[str]) -> str:
    return ", ".join(f"U+{ord(ch):04X}" for ch in hits)


def assert_no_raw(output: bytes | str, where: str, chars: Iterable[str] = HOSTILE) -> None:
    hits = raw_hits(output, chars)
    if hits:
        text = as_text(output)
        first = text.find(f"{MARK}{hits[0]}{MARK}")
        context = text[max(0, first - 120):first + 120] if first >= 0 else text[-400:]
        raise AssertionError(f"{where}: raw control/bidi characters reached the terminal: "
                             f"{describe(hits)}; around the first: {context!r}")


# --- hostile DICOM files ------------------------------------------------------------


def hostile_dataset(chars: Sequence[str], number: int, *, series: int = 1,
                    instance: int = 1) -> Dataset:
    """A tiny CT whose PatientName, StudyDescription, SeriesDescription and a
    private LO element hold ``chars`` between markers (UTF-8 character set)."""
    value = hostile_value(chars)
    ds = make_dataset(patient_id=f"ZQPAT{number:02d}", patient_name=value, study=900 + number,
                      series=series, instance=instance, description=value, rows=8, columns=8,
                      charset="ISO_IR 192", accession=f"ZQACC{number:02d}")
    ds.SeriesDescription = value
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", value)
    return ds


def write_hostile_files(folder: Path, chars: Sequence[str] = HOSTILE,
                        size: int = CHUNK) -> list[Path]:
    """One study (one series, one instance) per chunk of ``chars``."""
    return [write_instance(folder / f"hostile{number:02d}.dcm", hostile_dataset(chunk, number))
            for number, chunk in enumerate(chunks(chars, size), start=1)]


@pytest.fixture(scope="session")
def hostile_files(tmp_path_factory) -> list[Path]:
    return write_hostile_files(tmp_path_factory.mktemp("hostile"))


# --- commands through a pseudo-terminal ----------------------------------------------


def spawn_in_pty(args: Sequence[str], env: dict[str, str] | None = None, *,
                 rows: int = 50, cols: int = 200, raw_output: bool = True) -> tuple[int, int]:
    """``python -m tui_pacs ARGS`` on a new pseudo-terminal. With ``raw_output``
    the terminal does not turn \\n into \\r\\n, so bytes read are bytes written."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if raw_output:
                attrs = termios.tcgetattr(1)
                attrs[1] &= ~termios.OPOST
                termios.tcsetattr(1, termios.TCSANOW, attrs)
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "tui_pacs", *args],
                      env or pty_env())
        finally:
            os._exit(127)
    fcntl_winsize(fd, rows, cols)
    return pid, fd


def fcntl_winsize(fd: int, rows: int, cols: int) -> None:
    import fcntl

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def home_env(home: Path) -> dict[str, str]:
    """Variables that keep a command away from the user's config and data, for
    fixtures wider than one test (the autouse isolated_home is per test)."""
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "TUI_PACS_CONFIG": str(home / "config.toml")}


def pty_env(**extra: str) -> dict[str, str]:
    env = {**cli_env(), "TERM": "xterm-256color", **extra}
    env.pop("COLUMNS", None)
    env.pop("NO_COLOR", None)
    return env


_CSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]")


class PtyReader:
    """Everything a process wrote on its pseudo-terminal, read as it comes."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.data = b""
        self.closed = False
        self.status: int | None = None

    def pump(self, wait: float) -> None:
        if self.closed:
            time.sleep(min(wait, 0.05))
            return
        ready, _, _ = select.select([self.fd], [], [], wait)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                self.data += chunk
            else:
                self.closed = True

    def until(self, wanted: bytes | str, timeout: float = 30, start: int = 0) -> bytes:
        """Wait until ``wanted`` is written after byte ``start`` (colours and cursor
        moves between its characters left out)."""
        wanted = wanted.encode() if isinstance(wanted, str) else wanted
        deadline = time.monotonic() + timeout
        while wanted not in _CSI.sub(b"", self.data[start:]):
            if time.monotonic() > deadline or (self.closed and self.exited()):
                raise AssertionError(f"{wanted!r} not written; last output: "
                                     f"{self.data[-600:]!r}")
            self.pump(0.1)
        return self.data

    def exited(self) -> bool:
        if self.status is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while not (self.closed and self.exited()):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                raise AssertionError(f"the process did not exit; output: {self.data[-600:]!r}")
            if self.closed:
                self.exited()
                time.sleep(0.02)
            else:
                self.pump(0.1)
        return self.status  # type: ignore[return-value]

    def kill(self) -> None:
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.status = -9
        try:
            os.close(self.fd)
        except OSError:
            pass


def run_in_pty(*args: str | Path, timeout: float = 60, rows: int = 50, cols: int = 200,
               env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Run a command to its end on a pseudo-terminal: exit status and every byte written
    (stdout and stderr both go to the terminal)."""
    pid, fd = spawn_in_pty([str(a) for a in args], env, rows=rows, cols=cols)
    reader = PtyReader(pid, fd)
    try:
        status = reader.wait(timeout)
    finally:
        reader.kill()
    return status, reader.data


def run_piped(*args: str | Path, timeout: float = 60,
              env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Run a command with stdout and stderr into a pipe: exit status and bytes."""
    result = subprocess.run([sys.executable, "-m", "tui_pacs", *map(str, args)],
                            capture_output=True, timeout=timeout, env=env or cli_env(),
                            cwd=REPO)
    return result.returncode, result.stdout + result.stderr
