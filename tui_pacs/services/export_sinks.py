"""Where an export goes: a directory, or a zip file written as it goes.

The destination is the user's; the names inside it are ours (generated file
IDs, never a value from a file). A destination already in use is refused:
a directory must be new or empty, a zip file new or empty. An export that
fails or is cancelled takes back what it wrote, so no half export is left
looking like a whole one; the zip file gets its name only once complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from tui_pacs.store.files import sync_directories

CHUNK = 1 << 20
# Deflate's fastest level: uncompressed pixels gain little from harder work.
ZIP_LEVEL = 1


class DestinationError(Exception):
    """The destination cannot be used; the message is one line for the user."""


class Sink(Protocol):
    def add(self, name: str, source: BinaryIO, compress: bool) -> None:
        """Write ``source`` (read to its end) as ``name`` (``/``-separated)."""

    def finish(self) -> None:
        """Make everything written durable and complete."""

    def discard(self) -> None:
        """Take back what was written (failure or cancellation)."""


def open_sink(destination: Path, zipped: bool) -> Sink:
    """A sink for ``destination``; raises DestinationError when it is in use."""
    return ZipSink(destination) if zipped else DirectorySink(destination)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


class DirectorySink:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._created_root = False
        if root.is_dir():
            if any(root.iterdir()):
                raise DestinationError(f"{root}: the directory is not empty")
        elif root.exists() or root.is_symlink():
            raise DestinationError(f"{root}: exists and is not a directory")
        else:
            try:
                root.mkdir(parents=True)
            except OSError as exc:
                raise DestinationError(f"{root}: cannot create: {_reason(exc)}") from None
            self._created_root = True
        self._written: list[Path] = []
        self._directories: list[Path] = []

    def add(self, name: str, source: BinaryIO, compress: bool) -> None:
        path = self._root.joinpath(*name.split("/"))
        self._make_parents(path.parent)
        # "x": never over a file, whatever the destination held a moment ago.
        with open(path, "xb") as out:
            self._written.append(path)
            shutil.copyfileobj(source, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while directory != self._root and not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            path.mkdir()
            self._directories.append(path)

    def finish(self) -> None:
        sync_directories([*self._directories, self._root])

    def discard(self) -> None:
        for path in self._written:
            path.unlink(missing_ok=True)
        for directory in reversed(self._directories):
            _remove_empty(directory)
        if self._created_root:
            _remove_empty(self._root)


class ZipSink:
    def __init__(self, destination: Path) -> None:
        self._destination = destination
        if destination.is_dir():
            raise DestinationError(f"{destination}: is a directory; give the zip file's name")
        if destination.exists() and destination.stat().st_size:
            raise DestinationError(f"{destination}: the file exists and is not empty")
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial",
                                        dir=destination.parent)
        except OSError as exc:
            raise DestinationError(f"{destination}: cannot create: {_reason(exc)}") from None
        self._partial = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self._zip = zipfile.ZipFile(self._file, "w", allowZip64=True, compresslevel=ZIP_LEVEL)

    def add(self, name: str, source: BinaryIO, compress: bool) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        now = datetime.now()
        info = zipfile.ZipInfo(name, (now.year, now.month, now.day, now.hour, now.minute,
                                      now.second))
        info.compress_type = method
        info.external_attr = 0o644 << 16
        # Streamed: force_zip64 because the size is not known before it is read.
        with self._zip.open(info, "w", force_zip64=True) as entry:
            shutil.copyfileobj(source, entry, CHUNK)

    def finish(self) -> None:
        self._zip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self._destination)
        sync_directories([self._destination.parent])

    def discard(self) -> None:
        self._zip.close()
        self._file.close()
        self._partial.unlink(missing_ok=True)


def _remove_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty (someone else's files), or gone
