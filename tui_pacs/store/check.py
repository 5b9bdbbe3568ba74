"""The archive check: do the index and the files under storage/ agree?

It finds four kinds of disagreement (:class:`Kind`): index rows whose file
is gone, files the index does not know, files whose identifiers or size
disagree with their row, and files that cannot be read as a DICOM instance
(truncated, malformed). SQLite's own ``quick_check`` covers the index file.
:func:`repair` then re-indexes the orphans that are sound and drops the rows
whose file is gone; everything else is reported and left as it is, for a
person to decide.

The check walks storage/ one directory (one study) at a time and reads the
index through its own read-only connection, so memory stays bounded by the
largest study, not by the archive. It is safe while a node is storing:
a stored instance's row is committed before its file is renamed into
place, and a delete marks its rows before it removes their files, so rows
still marked (a store or delete in progress) are counted apart, never
reported. It runs in a thread: everything here blocks.
"""

from __future__ import annotations

import enum
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tui_pacs.core.model import InstanceRecord, Level
from tui_pacs.store import ingest, staging
from tui_pacs.store.archive import Archive, Outcome, StoreFailure
from tui_pacs.store.layout import INDEX_FILE, STORAGE_DIR, TMP_DIR, instance_relpath, resolve
from tui_pacs.store.writer import DELETING

# Files read at once: reading overlaps the waits for the disk.
READERS = 4
# Rows looked up, or existence-checked, per statement.
BATCH = 500


class Kind(enum.Enum):
    MISSING = "missing"
    ORPHAN = "orphan"
    MISMATCH = "mismatch"
    UNREADABLE = "unreadable"

    @property
    def title(self) -> str:
        return {
            Kind.MISSING: "index rows whose file is gone",
            Kind.ORPHAN: "files in storage/ the index does not know",
            Kind.MISMATCH: "files whose identifiers or size disagree with the index",
            Kind.UNREADABLE: "files that cannot be read as the instance indexed",
        }[self]


@dataclass(frozen=True)
class Finding:
    kind: Kind
    # Relative to the data directory, with '/' separators.
    path: str
    # The row's SOP Instance UID; for an orphan, the one its file holds (if readable).
    sop_uid: str = ""
    # Why, in a few words ("" for an orphan that can be re-indexed).
    detail: str = ""


@dataclass
class CheckReport:
    instances: int = 0
    files: int = 0
    # Rows of stores or deletes in progress (or interrupted in a process
    # that another still running process outlived): not checked.
    unsettled: int = 0
    # Files in tmp/: instances being received, or left by a killed process.
    temporary: int = 0
    # SQLite quick_check's complaints ("ok" is not one).
    index_errors: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.index_errors

    def of(self, kind: Kind) -> list[Finding]:
        return [f for f in self.findings if f.kind is kind]


@dataclass(frozen=True)
class _Row:
    sop_uid: str
    sop_class_uid: str
    series_uid: str
    study_uid: str
    file_size: int
    pending: str


ProgressCallback = Callable[[int], None]


def check_archive(data_dir: Path, *, read_files: bool = True,
                  on_progress: ProgressCallback | None = None) -> CheckReport:
    """Compare the index with the files under ``data_dir``; blocks.

    ``read_files`` parses every file (structure and identifiers); without it
    only existence and size are compared, which is much quicker.
    ``on_progress(files_done)`` is called as files are checked.
    """
    return _Checker(data_dir, read_files, on_progress).run()


def count_rows(data_dir: Path) -> int:
    """How many instances the index holds (a progress bar's total)."""
    with _connect(data_dir) as conn:
        return conn.execute("SELECT count(*) FROM instances").fetchone()[0]


class _Checker:
    def __init__(self, data_dir: Path, read_files: bool,
                 on_progress: ProgressCallback | None) -> None:
        self.data_dir = data_dir
        self.read_files = read_files
        self.on_progress = on_progress
        self.report = CheckReport()

    def run(self) -> CheckReport:
        report = self.report
        with _connect(self.data_dir) as conn, ThreadPoolExecutor(READERS) as readers:
            report.index_errors = [row[0] for row in conn.execute("PRAGMA quick_check")
                                   if row[0] != "ok"]
            for relpaths in self._directories():
                self._check_files(conn, readers, relpaths)
            self._find_missing(conn)
        tmp = self.data_dir / TMP_DIR
        report.temporary = len(staging.staged_files(tmp))
        return report

    def _directories(self) -> Iterator[list[str]]:
        """The files under storage/, a directory at a time, as relative paths."""
        storage = self.data_dir / STORAGE_DIR
        for root, dirs, names in os.walk(storage):
            dirs.sort()
            if names:
                base = Path(root).relative_to(self.data_dir).as_posix()
                yield [f"{base}/{name}" for name in sorted(names)]

    def _check_files(self, conn: sqlite3.Connection, readers: ThreadPoolExecutor,
                     relpaths: list[str]) -> None:
        rows = _rows_at(conn, relpaths)
        self.report.files += len(relpaths)
        findings = readers.map(lambda relpath: self._check_file(relpath, rows.get(relpath)),
                               relpaths)
        for finding in findings:
            if finding is not None:
                self.report.findings.append(finding)
        if self.on_progress:
            self.on_progress(self.report.files)

    def _check_file(self, relpath: str, row: _Row | None) -> Finding | None:
        """The finding for one file under storage/, or None when it agrees."""
        if row is not None and self._unsettled(row.pending):
            return None  # being stored or deleted: counted with the rows
        path = self.data_dir / relpath
        if row is None:
            if not path.exists():
                return None  # deleted since the directory was listed
            if not self.read_files:
                return Finding(Kind.ORPHAN, relpath)
            record, problem = _read(path)
            if record is None:
                return Finding(Kind.ORPHAN, relpath, detail=problem)
            expected = instance_relpath(record.study_uid, record.sop_uid)
            detail = "" if expected == relpath else f"its identifiers belong at {expected}"
            return Finding(Kind.ORPHAN, relpath, record.sop_uid, detail)
        if not self.read_files:
            size = _size(path)
            if size is not None and size != row.file_size:
                return Finding(Kind.MISMATCH, relpath, row.sop_uid,
                               f"{size} bytes, the index says {row.file_size}")
            return None
        record, problem = _read(path)
        if record is None:
            return Finding(Kind.UNREADABLE, relpath, row.sop_uid, problem)
        disagreements = [
            f"{label} is {ours}, the index says {theirs}"
            for label, ours, theirs in (
                ("SOPInstanceUID", record.sop_uid, row.sop_uid),
                ("StudyInstanceUID", record.study_uid, row.study_uid),
                ("SeriesInstanceUID", record.series_uid, row.series_uid),
                ("SOPClassUID", record.sop_class_uid, row.sop_class_uid),
                ("the size", record.file_size, row.file_size),
            ) if ours != theirs]
        if disagreements:
            return Finding(Kind.MISMATCH, relpath, row.sop_uid, "; ".join(disagreements))
        return None

    def _find_missing(self, conn: sqlite3.Connection) -> None:
        """Rows whose file is not there, by walking the index in id order."""
        last = 0
        while True:
            rows = conn.execute(
                "SELECT id, path, sop_uid, pending FROM instances WHERE id > ? "
                "ORDER BY id LIMIT ?", (last, BATCH)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, relpath, sop_uid, pending in rows:
                self.report.instances += 1
                if self._unsettled(pending):
                    self.report.unsettled += 1
                elif not _is_file(self.data_dir, relpath) and self._still_settled(conn, relpath):
                    self.report.findings.append(Finding(Kind.MISSING, relpath, sop_uid,
                                                        "no such file"))

    def _unsettled(self, pending: str) -> bool:
        """A row's delete has begun, or its file is still in tmp/ waiting to be
        renamed into place. (``pending`` is cleared a group after the rename.)"""
        if not pending:
            return False
        name = pending.partition(" ")[0]  # after it, the CRC-32 of a file still being synced
        return pending == DELETING or (self.data_dir / TMP_DIR / name).exists()

    def _still_settled(self, conn: sqlite3.Connection, relpath: str) -> bool:
        """The row is still there and settled: no delete began since it was read."""
        row = conn.execute("SELECT pending FROM instances WHERE path = ?",
                           (relpath,)).fetchone()
        return row is not None and not self._unsettled(row[0])


def _connect(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection to the index, beside the archive's own."""
    uri = (data_dir / INDEX_FILE).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _rows_at(conn: sqlite3.Connection, relpaths: list[str]) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    for start in range(0, len(relpaths), BATCH):
        chunk = relpaths[start:start + BATCH]
        marks = ", ".join("?" * len(chunk))
        for path, *values in conn.execute(
                "SELECT i.path, i.sop_uid, i.sop_class_uid, se.series_uid, st.study_uid, "
                "i.file_size, i.pending FROM instances i "
                "JOIN series se ON se.id = i.series_ref JOIN studies st ON st.id = se.study_ref "
                f"WHERE i.path IN ({marks})", chunk):
            rows[path] = _Row(*values)
    return rows


def _is_file(data_dir: Path, relpath: str) -> bool:
    try:
        return resolve(data_dir, relpath).is_file()
    except ValueError:
        return False  # a path outside storage/ names no file of ours


def _read(path: Path) -> tuple[InstanceRecord | None, str]:
    """(the file's index record, "") or (None, why it cannot be read)."""
    try:
        return ingest.read_record(path), ""
    except ingest.InvalidInstance as exc:
        return None, str(exc)
    except ingest.NotDicom as exc:
        return None, f"not DICOM{': ' + str(exc) if str(exc) else ''}"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


# --- repair -------------------------------------------------------------------


@dataclass(frozen=True)
class RepairPlan:
    """What :func:`repair` will do with a report's findings, and what it leaves."""

    reindex: list[Finding]
    drop: list[Finding]
    leave: list[Finding]

    @classmethod
    def of(cls, report: CheckReport) -> RepairPlan:
        reindex = [f for f in report.of(Kind.ORPHAN) if not f.detail]
        drop = report.of(Kind.MISSING)
        leave = [f for f in report.findings if f not in reindex and f not in drop]
        return cls(reindex, drop, leave)

    @property
    def empty(self) -> bool:
        return not self.reindex and not self.drop


@dataclass
class RepairResult:
    reindexed: int = 0
    dropped: int = 0
    # (finding, why it could not be repaired)
    failed: list[tuple[Finding, str]] = field(default_factory=list)


async def repair(archive: Archive, plan: RepairPlan,
                 on_step: Callable[[Finding, str], None] | None = None) -> RepairResult:
    """Re-index the sound orphans and drop the rows whose file is gone.

    Each finding is looked at again just before it is repaired: a file that
    came back keeps its row, an orphan indexed meanwhile is left alone.
    ``on_step(finding, outcome)`` hears about each one.
    """
    result = RepairResult()

    def note(finding: Finding, outcome: str) -> None:
        if on_step is not None:
            on_step(finding, outcome)

    for finding in plan.reindex:
        try:
            stored = await archive.reindex_in_place(finding.path)
        except StoreFailure as exc:
            result.failed.append((finding, str(exc)))
            note(finding, f"not re-indexed: {exc}")
            continue
        if stored.outcome is Outcome.DUPLICATE:
            reason = "its SOPInstanceUID is already indexed at another path"
            result.failed.append((finding, reason))
            note(finding, f"not re-indexed: {reason}")
        else:
            result.reindexed += 1
            note(finding, "re-indexed")
    for finding in plan.drop:
        indexed = await archive.index.file_of(finding.sop_uid)
        if (indexed is None or indexed.path != finding.path
                or _is_file(archive.data_dir, indexed.path)):
            note(finding, "left: it changed since the check")
            continue
        await archive.delete(Level.IMAGE, finding.sop_uid)
        result.dropped += 1
        note(finding, "dropped from the index")
    return result
