"""Protocol detection, against a fake terminal on a pseudo-terminal."""

from __future__ import annotations

import fcntl
import io
import os
import select
import struct
import termios
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tui_pacs.imaging.geometry import CellShape
from tui_pacs.imaging.terminal import (
    DEVICE_ATTRIBUTES_QUERY,
    KITTY_QUERY,
    Protocol,
    cell_shape,
    detect_protocol,
    protocol_from_answer,
    query_terminal,
)

KITTY_REPLY = "\x1b_Gi=31;OK\x1b\\"
VT340_REPLY = "\x1b[?63;1;2;4;6;9;15;22c"  # attribute 4: Sixel
XTERM_REPLY = "\x1b[?64;1;2;6;9;15;18;21;22c"


@contextmanager
def fake_terminal(reply: str | None) -> Iterator[tuple[int, list[str]]]:
    """A pty whose far end answers the queries with ``reply`` (or stays silent)."""
    terminal, program = os.openpty()
    received: list[str] = []
    stop = threading.Event()

    def answer() -> None:
        data = b""
        while DEVICE_ATTRIBUTES_QUERY.encode() not in data:
            if stop.is_set():
                return
            if select.select([terminal], [], [], 0.05)[0]:
                data += os.read(terminal, 1024)
        received.append(data.decode())
        if reply is not None:
            os.write(terminal, reply.encode())

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield program, received
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(program)
        os.close(terminal)


@pytest.mark.parametrize("reply, protocol", [
    (KITTY_REPLY + XTERM_REPLY, Protocol.KITTY),
    (VT340_REPLY, Protocol.SIXEL),
    (XTERM_REPLY, Protocol.HALFBLOCK),
    ("", Protocol.HALFBLOCK),
])
def test_protocol_from_answer(reply, protocol):
    assert protocol_from_answer(reply) is protocol


def test_the_query_reads_until_the_device_attributes_reply():
    with fake_terminal(KITTY_REPLY + VT340_REPLY) as (fd, received):
        answer = query_terminal(fd, fd, timeout=5)
    assert received == [KITTY_QUERY + DEVICE_ATTRIBUTES_QUERY]
    assert answer == KITTY_REPLY + VT340_REPLY


def test_a_silent_terminal_times_out_to_half_blocks():
    with fake_terminal(None) as (fd, _):
        assert protocol_from_answer(query_terminal(fd, fd, timeout=0.2)) is Protocol.HALFBLOCK


def test_the_terminal_mode_is_restored():
    with fake_terminal(XTERM_REPLY) as (fd, _):
        before = termios.tcgetattr(fd)
        query_terminal(fd, fd, timeout=5)
        assert termios.tcgetattr(fd) == before


@contextmanager
def tty_streams(fd: int) -> Iterator[tuple[io.TextIOWrapper, io.TextIOWrapper]]:
    stdin, stdout = os.fdopen(os.dup(fd), "r"), os.fdopen(os.dup(fd), "w")
    try:
        yield stdin, stdout
    finally:
        stdin.close()
        stdout.close()


@pytest.mark.parametrize("reply, protocol", [
    (KITTY_REPLY + XTERM_REPLY, Protocol.KITTY),
    (VT340_REPLY, Protocol.SIXEL),
    (XTERM_REPLY, Protocol.HALFBLOCK),
])
def test_detection_asks_a_terminal(reply, protocol):
    with fake_terminal(reply) as (fd, _), tty_streams(fd) as (stdin, stdout):
        assert detect_protocol({"TERM": "xterm-256color"}, stdin, stdout, timeout=5) is protocol


@pytest.mark.parametrize("env, protocol", [
    ({"TERM": "xterm-kitty"}, Protocol.KITTY),
    ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, Protocol.KITTY),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, Protocol.KITTY),
    ({"TERM": "xterm-ghostty"}, Protocol.KITTY),
    ({"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"}, Protocol.HALFBLOCK),
    ({"TERM": "screen-256color"}, Protocol.HALFBLOCK),
    ({"TERM": "linux"}, Protocol.HALFBLOCK),
    ({"TERM": "dumb"}, Protocol.HALFBLOCK),
])
def test_detection_from_the_environment_sends_no_query(env, protocol):
    # A terminal that would claim Sixel: the environment decides before any query.
    with fake_terminal(VT340_REPLY) as (fd, received), tty_streams(fd) as (stdin, stdout):
        assert detect_protocol(env, stdin, stdout, timeout=0.2) is protocol
        assert received == []


def test_a_pipe_gets_half_blocks():
    assert detect_protocol({"TERM": "xterm-kitty"}, None, io.StringIO()) is Protocol.HALFBLOCK


def test_cell_shape_from_the_window_size():
    with fake_terminal(None) as (fd, _), tty_streams(fd) as (_, stdout):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 800, 480))
        assert cell_shape(stdout) == CellShape(10, 20)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        assert cell_shape(stdout) == CellShape()  # tmux and many terminals: no pixel size
    assert cell_shape(io.StringIO()) == CellShape()
