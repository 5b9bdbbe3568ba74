"""Which picture protocol a terminal speaks, and how big its cells are.

Half blocks work everywhere, so they are the answer unless the terminal shows
that it can do better:

* not a terminal (a pipe, a file), TERM=dumb or the Linux console: half blocks;
* inside tmux or screen: half blocks, since graphics do not pass through them
  unless configured to, and even then tmux reports no pixel sizes;
* Kitty, WezTerm and Ghostty announce themselves in the environment: Kitty graphics;
* otherwise one round trip asks the terminal: a Kitty graphics query followed
  by Primary Device Attributes (DA1), which every terminal answers. A Kitty
  reply before the DA1 reply means Kitty graphics; attribute 4 in the DA1
  reply means Sixel. No answer within the timeout means half blocks.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import termios
import time
import tty
from collections.abc import Mapping
from enum import StrEnum
from typing import TextIO

from tui_pacs.imaging.geometry import DEFAULT_CELL, CellShape


class Protocol(StrEnum):
    AUTO = "auto"
    HALFBLOCK = "halfblock"
    KITTY = "kitty"
    SIXEL = "sixel"


# A 1x1 RGB image the terminal is asked to check (a=q) without showing it.
KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
DEVICE_ATTRIBUTES_QUERY = "\x1b[c"
_KITTY_OK = re.compile(r"\x1b_Gi=31;OK\x1b\\")
_DEVICE_ATTRIBUTES = re.compile(r"\x1b\[\?([0-9;]*)c")
_SIXEL_ATTRIBUTE = "4"
QUERY_TIMEOUT = 0.5

_KITTY_TERMINALS = ("kitty", "wezterm", "ghostty")


def detect_protocol(env: Mapping[str, str], stdin: TextIO | None, stdout: TextIO,
                    timeout: float = QUERY_TIMEOUT) -> Protocol:
    """The best protocol for ``stdout``: env first, then a query if both ends are a terminal."""
    if not _isatty(stdout):
        return Protocol.HALFBLOCK
    term = env.get("TERM", "")
    if env.get("TMUX") or term.startswith(("screen", "tmux")) or term in ("dumb", "linux"):
        return Protocol.HALFBLOCK
    program = (env.get("TERM_PROGRAM", "") + " " + term).lower()
    if env.get("KITTY_WINDOW_ID") or any(name in program for name in _KITTY_TERMINALS):
        return Protocol.KITTY
    if stdin is None or not _isatty(stdin):
        return Protocol.HALFBLOCK
    return protocol_from_answer(query_terminal(stdin.fileno(), stdout.fileno(), timeout))


def protocol_from_answer(answer: str) -> Protocol:
    if _KITTY_OK.search(answer):
        return Protocol.KITTY
    match = _DEVICE_ATTRIBUTES.search(answer)
    if match and _SIXEL_ATTRIBUTE in match.group(1).split(";"):
        return Protocol.SIXEL
    return Protocol.HALFBLOCK


def query_terminal(fd_in: int, fd_out: int, timeout: float = QUERY_TIMEOUT) -> str:
    """Send the Kitty and DA1 queries; what the terminal answered until the DA1 reply."""
    saved = termios.tcgetattr(fd_in)
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)  # no echo, no line buffering
        os.write(fd_out, (KITTY_QUERY + DEVICE_ATTRIBUTES_QUERY).encode())
        return _read_until_device_attributes(fd_in, time.monotonic() + timeout)
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)


def _read_until_device_attributes(fd: int, deadline: float) -> str:
    answer = b""
    while not _DEVICE_ATTRIBUTES.search(answer.decode("latin-1")):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        answer += chunk
    return answer.decode("latin-1")


def cell_shape(stdout: TextIO) -> CellShape:
    """The cell size in screen pixels if the terminal reports it (TIOCGWINSZ), else 1:2."""
    if not _isatty(stdout):
        return DEFAULT_CELL
    try:
        packed = fcntl.ioctl(stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return DEFAULT_CELL
    rows, cols, width, height = struct.unpack("HHHH", packed)
    if not (rows and cols and width and height):
        return DEFAULT_CELL
    return CellShape(width / cols, height / rows)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
