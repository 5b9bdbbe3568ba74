"""Durable, atomic file writes: temporary file, fsync, rename, fsync directory."""

from __future__ import annotations

import errno
import math
import os
import shutil
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

# Bytes read per step when a file is copied.
COPY_CHUNK = 1_048_576


class OutOfSpace(OSError):
    """The disk is full, or would eat into the configured reserve."""


def is_out_of_space(exc: OSError) -> bool:
    return isinstance(exc, OutOfSpace) or exc.errno in (errno.ENOSPC, errno.EDQUOT)


class SpaceGuard:
    """Refuses writes that would eat into the free-space reserve.

    statvfs for every instance is a system call per file on the hot path;
    the guard re-reads the free space at most every REFRESH seconds, and
    always when its estimate comes near the reserve.
    """

    REFRESH = 0.5
    # Below reserve + this margin, every claim looks at the disk again.
    MARGIN = 64 * 1_048_576

    def __init__(self, directory: Path, reserve: int) -> None:
        self._directory = directory
        self._reserve = reserve
        self._lock = threading.Lock()
        self._free = 0
        self._checked = -math.inf

    def claim(self, needed: int) -> None:
        """Raise OutOfSpace unless ``needed`` bytes fit above the reserve."""
        with self._lock:
            now = time.monotonic()
            close = self._free - needed < self._reserve + self.MARGIN
            if close or now - self._checked > self.REFRESH:
                self._free = shutil.disk_usage(self._directory).free
                self._checked = now
            if self._free - needed < self._reserve:
                kept = (f"{_size(self._reserve)} kept in reserve (storage.min_free_mb)"
                        if self._reserve else f"{_size(needed)} needed")
                raise OutOfSpace(errno.ENOSPC, f"{_size(self._free)} free, {kept}")
            self._free -= needed


def _size(count: int) -> str:
    if count < 1_048_576:
        return f"{count // 1024} KB"
    return f"{count / 1_048_576:.1f} MB"


def chunks_of(fp: BinaryIO, start: int) -> Iterator[bytes]:
    """The file from ``start`` to its end, a chunk at a time: copying it (through
    :func:`tui_pacs.store.staging.write`) takes the memory of one chunk, whatever its size."""
    fp.seek(start)
    while chunk := fp.read(COPY_CHUNK):
        yield chunk


def move_into_place(temporary: Path | str, final: Path | str) -> list[str]:
    """Atomically rename; return the directories whose entries changed.

    The caller fsyncs those (see :func:`sync_directories`), once for a whole
    group of renames. Directories created on the way count too: their own
    entry in their parent must be durable as well.
    """
    directory = os.path.dirname(final)
    try:
        os.replace(temporary, final)  # most files go to a study directory that exists
        return [directory]
    except FileNotFoundError:
        if not os.path.exists(temporary):
            raise
    created = _make_directories(Path(directory))
    os.replace(temporary, final)
    return [directory, *(str(made.parent) for made in created)]


def _make_directories(directory: Path) -> list[Path]:
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            pass  # another writer made it first
    return missing


def sync_directories(directories: Iterable[Path | str]) -> None:
    """fsync directories so that renames into them survive a power cut."""
    for directory in set(directories):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def crc32_of(path: Path) -> int:
    """The CRC-32 of a file's content."""
    checksum = 0
    with open(path, "rb") as source:
        for chunk in chunks_of(source, 0):
            checksum = zlib.crc32(chunk, checksum)
    return checksum


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
