"""Durable, atomic file writes: temporary file, fsync, rename, fsync directory."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

COPY_CHUNK = 1 << 20


class OutOfSpace(OSError):
    """The disk is full, or would eat into the configured reserve."""


def is_out_of_space(exc: OSError) -> bool:
    return isinstance(exc, OutOfSpace) or exc.errno in (errno.ENOSPC, errno.EDQUOT)


def check_free_space(directory: Path, needed: int, reserve: int) -> None:
    """Raise OutOfSpace when writing ``needed`` bytes would go below ``reserve``."""
    free = shutil.disk_usage(directory).free
    if free - needed < reserve:
        raise OutOfSpace(
            errno.ENOSPC,
            f"only {free // 1_048_576} MB free, {reserve // 1_048_576} MB are kept in reserve",
        )


def write_temporary(tmp_dir: Path, chunks: Iterable[bytes | memoryview]) -> Path:
    """Write chunks to a new file in ``tmp_dir`` and fsync it; return its path.

    The caller renames it into place (:func:`move_into_place`) or removes it.
    A failure removes the partial file before raising.
    """
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix=".incoming-", suffix=".part")
    try:
        with os.fdopen(fd, "wb", closefd=True) as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        remove_quietly(Path(name))
        raise
    return Path(name)


def copy_temporary(tmp_dir: Path, source: BinaryIO, prefix: bytes = b"") -> Path:
    """Like :func:`write_temporary`, streaming the rest of ``source`` after ``prefix``."""

    def chunks() -> Iterable[bytes]:
        if prefix:
            yield prefix
        while block := source.read(COPY_CHUNK):
            yield block

    return write_temporary(tmp_dir, chunks())


def move_into_place(temporary: Path, final: Path) -> None:
    """Atomically rename; the caller fsyncs the directory (see :func:`sync_directories`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, final)


def sync_directories(directories: Iterable[Path]) -> None:
    """fsync directories so that renames into them survive a power cut."""
    for directory in set(directories):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace a small file (journal, config) in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = write_temporary(path.parent, [data])
    os.replace(temporary, path)
    sync_directories([path.parent])


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
