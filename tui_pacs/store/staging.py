"""Where files wait before they are renamed into storage/: the archive's tmp/.

Each receiving thread writes into a directory of its own, a *lane*
(``tmp/<process>.<n>/``), not into tmp/ itself. Creating a file locks its
directory; two associations creating files in one directory at once spend
more CPU waiting for that lock than creating them (on ext4, four times as
much per file with two processes, and half the files per second). A lane
is taken by a thread when it first writes, and given back to the process's
pool when the thread ends; lanes stay until the process is done with the
archive (or has ended, or a lone start's recovery clears tmp/), so that
none is removed under a thread that is about to write into it.

A staged file's name within tmp/ (``lane/file``, what an index row's
``pending`` keeps) is all recovery needs to find it again.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path

from tui_pacs.store.files import remove_quietly, sync_directories

# Names of staged files and lanes: a token unique to the process (a pid
# alone can come back after a crash), then a serial number.
PROCESS = f"{os.getpid()}-{secrets.token_hex(4)}"
_serial = itertools.count()

_lock = threading.Lock()
_free: list[int] = []  # lane numbers given back by threads that ended
_numbers = itertools.count()
_made: set[Path] = set()  # lanes this process created (and made durable)
_thread = threading.local()


class _Lane:
    """A thread's lane number, given back to the pool when the thread ends
    (its thread-local data is dropped then)."""

    def __init__(self) -> None:
        with _lock:
            self.number = _free.pop() if _free else next(_numbers)
        weakref.finalize(self, _give_back, self.number)


def _give_back(number: int) -> None:
    with _lock:
        _free.append(number)


def lane(tmp_dir: Path) -> Path:
    """This thread's lane in ``tmp_dir``, created (durably) on first use."""
    taken = getattr(_thread, "lane", None)
    if taken is None:
        taken = _thread.lane = _Lane()
    path = tmp_dir / f"{PROCESS}.{taken.number}"
    if path not in _made:
        path.mkdir(exist_ok=True)
        sync_directories([tmp_dir])  # the lane's own name, before any file in it counts
        with _lock:
            _made.add(path)
    return path


def create(tmp_dir: Path) -> tuple[Path, int]:
    """A new file in this thread's lane of ``tmp_dir``: its path, and a file
    descriptor open for writing."""
    try:
        return _create_in(lane(tmp_dir))
    except FileNotFoundError:
        # The lane went (tmp/ cleared by hand): make it again.
        with _lock:
            _made.discard(lane(tmp_dir))
        return _create_in(lane(tmp_dir))


def _create_in(directory: Path) -> tuple[Path, int]:
    path = directory / f".incoming-{PROCESS}-{next(_serial)}.part"
    return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)


def write(tmp_dir: Path, chunks: Iterable[bytes | memoryview]) -> Path:
    """Write chunks to a new file in this thread's lane and fsync it; return
    its path.

    The caller renames it into place (:func:`files.move_into_place`) or
    removes it. A failure removes the partial file before raising.
    """
    path, fd = create(tmp_dir)
    try:
        with os.fdopen(fd, "wb", closefd=True) as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        remove_quietly(path)
        raise
    return path


def name_in(tmp_dir: Path, path: Path) -> str:
    """``path``'s name within ``tmp_dir`` (``lane/file``)."""
    return path.relative_to(tmp_dir).as_posix()


def is_staged(tmp_dir: Path, path: Path) -> bool:
    """Whether ``path`` names a file in ``tmp_dir`` or in one of its lanes."""
    return path.parent == tmp_dir or path.parent.parent == tmp_dir


def staged_by(tmp_dir: Path, process: str) -> list[Path]:
    """The files that the process whose PROCESS is ``process`` left in ``tmp_dir``."""
    pattern = f".incoming-{process}-*.part"
    return [*tmp_dir.glob(pattern), *tmp_dir.glob(f"{process}.*/{pattern}")]


def remove_lanes_of(tmp_dir: Path, process: str) -> None:
    """Remove the (emptied) lanes of a process that has ended."""
    for path in tmp_dir.glob(f"{process}.*"):
        try:
            path.rmdir()
        except OSError:
            pass  # not empty: what is left there waits for the next start's recovery


def release(tmp_dir: Path) -> None:
    """This process is done with ``tmp_dir``: remove its lanes there (those
    emptied) and forget them."""
    remove_lanes_of(tmp_dir, PROCESS)
    with _lock:
        _made.difference_update([path for path in _made if path.parent == tmp_dir])


def staged_files(tmp_dir: Path) -> list[Path]:
    """Every file waiting in ``tmp_dir`` and its lanes."""
    if not tmp_dir.is_dir():
        return []
    return [path for entry in tmp_dir.iterdir()
            for path in (entry.iterdir() if entry.is_dir() else [entry])]


def clear(tmp_dir: Path) -> int:
    """Remove everything in ``tmp_dir`` (no process is writing there); how
    many files there were."""
    removed = 0
    for entry in tmp_dir.iterdir():
        if entry.is_dir():
            removed += sum(1 for _ in entry.iterdir())
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
            removed += 1
    with _lock:
        _made.difference_update([path for path in _made if path.parent == tmp_dir])
    return removed
