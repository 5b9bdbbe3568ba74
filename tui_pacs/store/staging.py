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

A lane's files are made ahead of need, MADE_AHEAD at a time, and the lane
fsynced once for them all: the name of a file received into one is durable
before a byte is written, so that making the file durable takes its own
fsync alone, where syncing the lane for each file was a second flush of
the disk per instance. Files made ahead and not used are empty; only files
with content count as staged (:func:`staged_files`).

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
# How many files a lane gets at a time, made ahead (empty, their names durable).
MADE_AHEAD = 32

_lock = threading.Lock()
_free: list[int] = []  # lane numbers given back by threads that ended
_numbers = itertools.count()
_made: set[Path] = set()  # lanes this process created (and made durable)
_ahead: dict[Path, list[Path]] = {}  # by lane: its files made ahead, not yet taken
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
    """A new, empty file in this thread's lane of ``tmp_dir``, its name
    durable already: its path, and a file descriptor open for writing."""
    try:
        return _open_next(lane(tmp_dir))
    except FileNotFoundError:
        # The lane went (tmp/ cleared by hand): make it again.
        _forget([lane(tmp_dir)])
        return _open_next(lane(tmp_dir))


def _open_next(directory: Path) -> tuple[Path, int]:
    with _lock:
        ahead = _ahead.get(directory)
        path = ahead.pop() if ahead else None
    if path is None:
        path = _make_ahead(directory)
    return path, os.open(path, os.O_WRONLY)


def _make_ahead(directory: Path) -> Path:
    """Make MADE_AHEAD files in ``directory`` and sync it; return one of them
    (the others wait in ``_ahead``)."""
    made: list[Path] = []
    try:
        for _ in range(MADE_AHEAD):
            path = directory / f".incoming-{PROCESS}-{next(_serial)}.part"
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            made.append(path)
        sync_directories([directory])
    except BaseException:
        for path in made:
            remove_quietly(path)
        raise
    first, *rest = made
    with _lock:
        _ahead[directory] = rest[::-1]  # taken from the end, in the order made
    return first


def _forget(lanes: Iterable[Path]) -> list[Path]:
    """Forget these lanes (made again on next use); the files they had ahead."""
    with _lock:
        ahead = []
        for path in lanes:
            _made.discard(path)
            ahead += _ahead.pop(path, [])
        return ahead


def write(tmp_dir: Path, chunks: Iterable[bytes | memoryview]) -> Path:
    """Write chunks to a new file in this thread's lane and fsync it (its
    name is durable already); return its path.

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
    """This process is done with ``tmp_dir``: remove the files it made ahead
    there, and its lanes (those emptied), and forget them."""
    for path in _forget(_lanes_in(tmp_dir)):
        remove_quietly(path)
    remove_lanes_of(tmp_dir, PROCESS)


def staged_files(tmp_dir: Path) -> list[Path]:
    """Every file waiting in ``tmp_dir`` and its lanes (not those made ahead
    and never written)."""
    if not tmp_dir.is_dir():
        return []
    return with_content([path for entry in tmp_dir.iterdir()
                         for path in (entry.iterdir() if entry.is_dir() else [entry])])


def with_content(paths: Iterable[Path]) -> list[Path]:
    """The files among ``paths`` that something was written to."""
    found = []
    for path in paths:
        try:
            if path.stat().st_size:
                found.append(path)
        except FileNotFoundError:
            pass
    return found


def clear(tmp_dir: Path) -> int:
    """Remove everything in ``tmp_dir`` (no process is writing there); how
    many files with content there were."""
    removed = len(staged_files(tmp_dir))
    for entry in tmp_dir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    _forget(_lanes_in(tmp_dir))
    return removed


def _lanes_in(tmp_dir: Path) -> list[Path]:
    # Files made ahead are listed under their lane even when a clear forgot
    # the lane while a thread was making them.
    with _lock:
        return [path for path in _made | _ahead.keys() if path.parent == tmp_dir]
