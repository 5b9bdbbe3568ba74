"""A received dataset written to disk as its fragments arrive.

A C-STORE's dataset comes in P-DATA fragments of the size the peer chose
(often 16 KiB to 1 MiB). Held in memory until the last one, a 1 GiB image
took 1 GiB of memory per association. Instead, the wire layer writes each
fragment here as it is read: into a temporary file of the archive's staging
directory, behind the Part 10 header made from the request's command set,
so that once complete the file only needs its header checked, an fsync and
a rename (:meth:`tui_pacs.store.archive.Archive.store_incoming`). Memory per
association stays at one PDU, whatever the dataset's size (small datasets
are also kept in memory until their header is checked, which spares
opening and mapping the file again). The CRC-32 of what is written is
kept: the file may be committed while it is still being fsynced
(:class:`tui_pacs.store.writer.StagedInstance`).

Whatever goes wrong while the fragments arrive (the dataset grows past
``[limits] max_dataset_mb``, the disk fills) is noted, and the remaining
fragments are read and dropped: the association goes on, and the request
gets a failure status once it is complete.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from tui_pacs.store import files, staging

# Datasets up to this size are also kept in memory as they arrive.
HOLD_LIMIT = 256 * 1024


class IncomingFile:
    """A temporary file taking a dataset's fragments (a writable binary file
    for :class:`~tui_pacs.net.wire.messages.MessageAssembler`)."""

    def __init__(self, tmp_dir: Path, sop_class: str, sop_instance: str, prefix: bytes,
                 limit: int, space: files.SpaceGuard) -> None:
        # Where it goes (tmp/ itself until a name in the thread's lane is had:
        # making the lane can fail too).
        self.path = tmp_dir
        # The SOP class and instance the Part 10 header names (the request's).
        self.sop_class = sop_class
        self.sop_instance = sop_instance
        self.prefix_length = len(prefix)
        self.limit = limit
        # Dataset bytes received (written or not).
        self.size = 0
        # CRC-32 of what was written (see StagedInstance.checksum).
        self.checksum = 0
        # The dataset's bytes while they are few: read back for its header
        # check without opening and mapping the file again.
        self._held: bytearray | None = bytearray()
        self.too_large = False
        self.error: OSError | None = None
        self._fd: int | None = None
        try:
            space.claim(0)  # under the reserve already: do not write at all
            self.path, self._fd = staging.create(tmp_dir)
        except OSError as exc:
            self.error = exc
            return
        self._write(prefix)

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def file_size(self) -> int:
        return self.prefix_length + self.size

    def write(self, data: bytes | memoryview) -> int:
        count = len(data)
        self.size += count
        if self.error is not None or self.too_large:
            return count
        if self.size > self.limit:
            self.too_large = True
            self._give_space_back()
            return count
        self._write(data)
        if self._held is not None and self.size <= HOLD_LIMIT:
            self._held += data
        else:
            self._held = None
        return count

    @contextlib.contextmanager
    def dataset(self) -> Iterator[memoryview]:
        """The dataset's bytes as written: from memory when they are few, else
        mapped from the file."""
        if self._held is not None:
            with memoryview(self._held) as held:
                yield held
            return
        with open(self.path, "rb") as fp, \
                mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as data, \
                memoryview(data) as whole, whole[self.prefix_length:] as dataset:
            yield dataset

    def flush(self) -> None:
        """Nothing is buffered: each fragment went to the kernel as it came."""

    def sync(self) -> None:
        """Make what was written durable (before it is acknowledged)."""
        os.fsync(self._require_fd())

    def close(self) -> None:
        self._held = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and remove: nothing of it will be kept."""
        self.close()
        if self.path.is_file():
            files.remove_quietly(self.path)

    def _write(self, data: bytes | memoryview) -> None:
        fd = self._require_fd()
        self.checksum = zlib.crc32(data, self.checksum)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            self.error = exc
            self._give_space_back()

    def _give_space_back(self) -> None:
        """Drop what was written of the dataset (it will not be kept)."""
        with contextlib.suppress(OSError):
            os.ftruncate(self._require_fd(), self.prefix_length)

    def _require_fd(self) -> int:
        if self._fd is None:
            raise ValueError("I/O operation on a closed incoming file")
        return self._fd
