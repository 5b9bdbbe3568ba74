"""The one place that changes the archive: index rows and files moved into place,
committed in groups.

Every store and delete goes through a single queue. The writer takes what has
queued up while the previous group was committing (temporary files whose
names in tmp/ were durable before they were written, see staging.py, and
which are fsynced before they come or while their group commits), records
the group in the index in one transaction, renames the files into place, and
then tells each waiting caller that its instance is safe; it syncs the
directories the files went to later, once the stores pause (or a second
after). Many associations share one commit instead of paying for their own
(group commit), and many groups one directory fsync.

A group is one trip to the writer's own thread, which owns the index's only
writing connection (plain sqlite3) and takes its work from a thread-safe
queue, so that instances received by association threads reach it without
passing through the event loop. Going through aiosqlite statement by
statement costs a thread hand-off per statement, and each hand-off waits for
the GIL behind the threads that parse incoming files: measured, that made
the index the bottleneck of ingest.

Crash safety: a committed row names its temporary file in ``pending`` until
the rename into place is durable (the column is cleared in a later group's
transaction, at no extra cost). Until then the temporary file is durable,
name and content, before the acknowledgement: an acknowledged instance is
in one place or the other, whenever the power goes. Syncing the storage
directories before answering cost a second flush of the disk per group. A
delete first marks its rows ``DELETING``, then removes the files, then the
rows. After a crash, :meth:`_GroupCommitter.recover` looks only at marked
rows and at tmp/: it finishes the renames (a row whose file is in neither
place is dropped: it was never acknowledged), finishes the deletes, and
removes every other temporary file. An instance is either committed and in
place, or gone without ever having been acknowledged; no scan of the archive
is needed.

An instance to forward (``[[forward]]``) gets its forwarding queue entries
in the transaction that indexes it, and loses them with its row; the
queue's own bookkeeping comes as small changes in transactions of their
own (:meth:`IndexWriter.change`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from tui_pacs.core.matching import Matcher, fold
from tui_pacs.core.model import InstanceRecord, Level
from tui_pacs.store import db, files, forward_queue, holds, queries, staging
from tui_pacs.store.arrivals import Arrivals
from tui_pacs.store.layout import resolve, resolve_text
from tui_pacs.store.schema import received_at

log = logging.getLogger(__name__)

MAX_GROUP = 256
# Renames into place are made durable (their directories fsynced) when no
# store has come for SYNC_PAUSE, and at most SYNC_AT_MOST_AFTER after the
# first of them. Until then their rows stay pending: safe, as their files
# are durable in tmp/.
SYNC_PAUSE = 0.005
SYNC_AT_MOST_AFTER = 1.0
# ``pending`` of a row whose delete has begun; a slash is never in a file name.
DELETING = "/deleting"
# How long the writer waits for instances that association threads are
# still staging, or that other associations are due to send (arrivals.py),
# before it commits a group without them. Each group costs two flushes
# (index, directory) on top of each file's own, and a round of statements:
# with four associations, waiting a few milliseconds made groups of ~1.5
# instances into groups of ~4. A lone association never waits.
GROUP_LINGER = 0.005


class Outcome(enum.Enum):
    STORED = "stored"
    # The SOP Instance UID was already archived and the stored copy was kept.
    DUPLICATE = "duplicate"
    # The SOP Instance UID was already archived and overwriting is allowed.
    REPLACED = "replaced"


@dataclass(frozen=True)
class StoreResult:
    outcome: Outcome
    record: InstanceRecord
    path: str
    # The destinations the instance was queued for, in the same transaction.
    forwarded_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteResult:
    instances: int
    studies: int
    series: int
    patients: int


@dataclass
class StagedInstance:
    """A received instance on disk in tmp/, waiting to be committed.

    ``temporary`` is None for a file already at its place in storage/ that
    only needs its index row (archive repair). The file is fsynced before it
    is handed over, unless ``checksum`` (its CRC-32) is given: then it is
    being fsynced while its group commits, and the caller says when that is
    done (:meth:`IndexWriter.durable`); until then recovery checks the file
    against the checksum its row keeps.
    """

    record: InstanceRecord
    temporary: Path | None
    relpath: str
    checksum: int | None = None
    # Destinations to queue the instance for (forwarding) when it is indexed.
    forward_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recovery:
    """What opening the archive after an unclean shutdown did."""

    # Committed instances whose file was renamed into place only now.
    completed: int
    # Temporary files of instances never acknowledged, removed.
    removed_temporary: int
    # Committed rows whose file was in neither place, or not whole (lost in a
    # power cut while it was being fsynced; never acknowledged).
    dropped: int = 0
    # Instances whose interrupted delete was finished.
    deleted: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(self.completed or self.removed_temporary or self.dropped or self.deleted)


@dataclass
class _StoreJob:
    staged: StagedInstance
    # Who sent it (its association), when it sends instances one at a time;
    # and when it was queued.
    sender: Hashable | None = None
    queued: float = field(default_factory=time.monotonic)
    future: Future[StoreResult] = field(default_factory=Future, repr=False)


@dataclass
class _DeleteJob:
    level: Level
    matchers: dict[str, Matcher]
    # When given, studies under a hold are passed by (holds.py); this returns
    # the studies being received, asked on the writer thread as the delete runs.
    receiving: Callable[[], list[str]] | None = None
    future: Future[DeleteResult] = field(default_factory=Future, repr=False)


@dataclass
class _ProtectJob:
    study_uid: str
    protected: bool
    future: Future[bool] = field(default_factory=Future, repr=False)



@dataclass
class _ChangeJob:
    """A small change of the index made by a caller's function, in its own transaction."""

    change: Callable[[sqlite3.Connection], Any]
    future: Future[Any] = field(default_factory=Future, repr=False)


_Job = _StoreJob | _DeleteJob | _ProtectJob | _ChangeJob


class WriterClosed(RuntimeError):
    """The archive is shutting down and takes no more work."""


class SeriesConflict(ValueError):
    """An instance whose SeriesInstanceUID the index holds under another study.

    Filed under its own study's directory but indexed under the series'
    study, it would make the index and the files disagree (and leave an
    empty study behind), so it is refused.
    """


class IndexWriter:
    """Queues stores and deletes; commits them in groups on the writer thread.

    The queue is thread-safe and the writer thread takes its work from it
    directly: an association thread hands over a received instance and waits
    for its commit (:meth:`submit`) without a detour through the
    event loop, which in the app is also busy drawing the screen. Coroutines
    on the loop await the same jobs (:meth:`store`, :meth:`delete`).
    """

    def __init__(self, index_path: Path, data_dir: Path, tmp_dir: Path,
                 overwrite: bool) -> None:
        self._index_path = index_path
        self._tmp_dir = tmp_dir
        self._data_dir = data_dir
        self._overwrite = overwrite
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._opened: Future[Recovery | None] = Future()
        self._closing = False
        self._lock = threading.Lock()
        # Instances being staged by association threads, on their way here.
        self._expected = 0
        # SOP Instance UIDs whose files became durable after their commit.
        self._durable: queue.SimpleQueue[str] = queue.SimpleQueue()
        # The pace of each association's instances (the writer's thread's).
        self._arrivals = Arrivals()

    async def open(self, recover: bool) -> Recovery | None:
        """Open the index for writing (applying migrations) and start taking work.

        With ``recover`` (the last process did not close the archive), first
        finish or undo what a crash interrupted; returns what that did.
        """
        self._thread = threading.Thread(target=self._run, args=(recover,),
                                        name="index-writer", daemon=True)
        self._thread.start()
        return await asyncio.wrap_future(self._opened)

    async def close(self) -> None:
        """Finish everything queued, then stop."""
        with self._lock:
            self._closing = True
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    async def store(self, staged: StagedInstance) -> StoreResult:
        """Commit a staged instance; returns once it is durable and indexed."""
        return await asyncio.wrap_future(self._submit(_StoreJob(staged)))

    def expect(self) -> None:
        """An instance is being staged and will follow (or :meth:`unexpect`)."""
        with self._lock:
            self._expected += 1

    def unexpect(self) -> None:
        """An expected instance will not come (it could not be staged)."""
        with self._lock:
            self._expected -= 1

    def submit(self, staged: StagedInstance, sender: Hashable | None = None
               ) -> Future[StoreResult]:
        """Queue an instance announced with :meth:`expect`, from any thread;
        the future has its result once it is committed. ``sender``: the
        association that sent it (by default, the calling thread's)."""
        if sender is None:
            sender = threading.get_ident()
        return self._submit(_StoreJob(staged, sender), expected=True)

    def durable(self, sop_uid: str) -> None:
        """The file of an instance committed with a ``checksum`` is fsynced now
        (from any thread): its row need not stay pending for that."""
        self._durable.put(sop_uid)

    async def delete(self, level: Level, matchers: dict[str, Matcher],
                     receiving: Callable[[], list[str]] | None = None) -> DeleteResult:
        """Delete what matches; with ``receiving``, pass by the studies under a hold."""
        return await asyncio.wrap_future(self._submit(_DeleteJob(level, matchers, receiving)))

    async def protect(self, study_uid: str, protected: bool) -> bool:
        """Set or clear a study's protection; False when there is no such study."""
        return await asyncio.wrap_future(self._submit(_ProtectJob(study_uid, protected)))

    async def change(self, change: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``change(connection)`` in a transaction of its own on the writer
        thread (the forwarding queue's bookkeeping); returns what it returns."""
        return await asyncio.wrap_future(self._submit(_ChangeJob(change)))

    def _submit(self, job: _Job, expected: bool = False) -> Future:
        with self._lock:
            if expected:
                self._expected -= 1
            if self._closing or self._thread is None:
                if isinstance(job, _StoreJob) and job.staged.temporary:
                    files.remove_quietly(job.staged.temporary)
                raise WriterClosed("the archive is closing")
            self._jobs.put(job)
        return job.future

    # --- the writer thread ----------------------------------------------------------

    def _run(self, recover: bool) -> None:
        try:
            committer = _GroupCommitter(self._index_path, self._data_dir, self._tmp_dir,
                                        self._overwrite)
        except BaseException as exc:
            self._opened.set_exception(exc)
            return
        try:
            self._opened.set_result(committer.recover() if recover else None)
        except BaseException as exc:
            committer.close()
            self._opened.set_exception(exc)
            return
        try:
            stopping = False
            while not stopping:
                try:
                    # Renames are made durable once the stores pause, or a
                    # second after the oldest: not between two instances
                    # of an association, whose next one would wait for it.
                    job = self._jobs.get(timeout=committer.sync_due())
                except queue.Empty:
                    committer.sync_placed()
                    continue
                if job is None:
                    break
                group, stopping = self._gather(job)
                committer.mark_durable(_drain(self._durable))
                for run in _runs(group):
                    first = run[0]
                    if isinstance(first, _DeleteJob):
                        _settle(run, partial(_as_list, committer.delete, first.level,
                                             first.matchers, first.receiving))
                    elif isinstance(first, _ProtectJob):
                        _settle(run, partial(_as_list, committer.protect, first.study_uid,
                                             first.protected))
                    elif isinstance(first, _ChangeJob):
                        _settle(run, partial(_as_list, committer.change, first.change))
                    else:
                        stores = [j for j in run if isinstance(j, _StoreJob)]  # all of them
                        _settle(run, partial(committer.store_group, [j.staged for j in stores]))
        finally:
            committer.close()

    def _gather(self, first: _Job) -> tuple[list, bool]:
        """The group that starts with ``first``: what is queued, plus what
        association threads are still staging and what other associations
        are due to send (for at most GROUP_LINGER).
        Returns (group, whether the stop mark came)."""
        group = [first]
        senders = set(self._arrived(first))
        start = time.monotonic()
        deadline = start + GROUP_LINGER
        self._arrivals.forget_silent(start)
        while len(group) < MAX_GROUP:
            try:
                nxt = self._jobs.get_nowait()
            except queue.Empty:
                now = time.monotonic()
                until = deadline if self._expected > 0 else self._arrivals.wait_until(
                    now, deadline, senders)
                if until <= now:
                    break
                try:
                    nxt = self._jobs.get(timeout=until - now)
                except queue.Empty:
                    break
            if nxt is None:
                return group, True
            group.append(nxt)
            senders.update(self._arrived(nxt))
        return group, False

    def _arrived(self, job: _Job) -> list[Hashable]:
        """Note when the sender of a stored instance sent it; its sender, if any."""
        if not isinstance(job, _StoreJob) or job.sender is None:
            return []
        self._arrivals.came(job.sender, job.queued)
        return [job.sender]


def _drain(jobs: queue.SimpleQueue[str]) -> list[str]:
    drained = []
    while True:
        try:
            drained.append(jobs.get_nowait())
        except queue.Empty:
            return drained


def _settle(jobs: list, work) -> None:
    """Run one group and answer every waiting caller (on the writer thread)."""
    try:
        results = work()
    except Exception as exc:
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(exc)
        return
    for job, result in zip(jobs, results):
        if not job.future.set_running_or_notify_cancel():
            continue
        if isinstance(result, Exception):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)


class _GroupCommitter:
    """The synchronous half of the writer; every method runs on the writer thread."""

    def __init__(self, index_path: Path, data_dir: Path, tmp_dir: Path,
                 overwrite: bool) -> None:
        self._conn = db.connect_writer(index_path)
        self._data_dir = data_dir
        self._data_root = str(data_dir)
        self._tmp_dir = tmp_dir
        self._overwrite = overwrite
        # SOP Instance UIDs whose rename is done but whose row still says pending.
        self._settled: list[str] = []
        # Renamed into place but not yet synced: their SOP Instance UIDs (and
        # whether their file's own fsync is still to be confirmed), and the
        # directories whose entries changed.
        self._placed: list[tuple[str, bool]] = []
        self._placed_since = 0.0
        self._unsynced: set[str] = set()
        # In place, waiting for their file's fsync (IndexWriter.durable); and
        # files said to be durable before their rename was synced.
        self._undurable: set[str] = set()
        self._durable: set[str] = set()

    def close(self) -> None:
        self.sync_placed()  # files still undurable stay pending: recovery checks them
        if self._settled:
            with self._transaction():
                self._clear_pending()
        # Fold the WAL back into the main file so the next start is quick.
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def recover(self) -> Recovery:
        """Finish the renames and deletes a crash interrupted; remove unacknowledged files."""
        marked = self._conn.execute(
            "SELECT i.id, i.path, i.pending, i.series_ref FROM instances i "
            "WHERE i.pending != ''").fetchall()
        directories: set[str] = set()
        completed = 0
        gone: list[tuple[int, int]] = []  # (row id, series id) of rows to delete
        deleted = 0
        for row_id, relpath, pending, series_ref in marked:
            final = self._absolute(relpath)
            if pending == DELETING:
                files.remove_quietly(final)
                gone.append((row_id, series_ref))
                deleted += 1
                continue
            name, _, checksum = pending.partition(" ")
            temporary = self._tmp_dir / name
            found = (temporary if staging.is_staged(self._tmp_dir, temporary) and temporary.exists()
                     else final if final.exists() else None)
            if found is not None and checksum and files.crc32_of(found) != int(checksum, 16):
                # Committed while its fsync ran, and lost to a power cut: it
                # was never acknowledged.
                files.remove_quietly(found)
                found = None
            if found is None:
                gone.append((row_id, series_ref))
            elif found == temporary:
                directories.update(files.move_into_place(temporary, final))
                completed += 1
        files.sync_directories(directories)
        with self._transaction():
            self._conn.execute("UPDATE instances SET pending = '' WHERE pending != ''")
            self._delete_rows(gone)
        removed = staging.clear(self._tmp_dir)
        return Recovery(completed, removed, dropped=len(gone) - deleted, deleted=deleted)

    # --- stores -----------------------------------------------------------------

    def store_group(self, staged: list[StagedInstance]
                    ) -> list[StoreResult | SeriesConflict]:
        actions, superseded = self._decide(staged)
        for item, action in zip(staged, actions):
            if action not in ("insert", "replace") and item.temporary:
                files.remove_quietly(item.temporary)
        keeping = [(item, action) for item, action in zip(staged, actions)
                   if action in ("insert", "replace")]
        if keeping:
            try:
                with self._transaction():
                    self._clear_pending()
                    self._index(keeping)
            except BaseException:
                _remove_all(item.temporary for item, _ in keeping if item.temporary)
                raise
            self._place_files(keeping)
        # A replacement whose study changed landed in another directory.
        _remove_all(superseded)
        outcomes = {"insert": Outcome.STORED, "replace": Outcome.REPLACED,
                    "discard": Outcome.DUPLICATE}
        return [action if isinstance(action, SeriesConflict)
                else StoreResult(outcomes[action], item.record, item.relpath,
                                 item.forward_to if action != "discard" else ())
                for item, action in zip(staged, actions)]

    def _decide(self, staged: list[StagedInstance]
                ) -> tuple[list[str | SeriesConflict], list[Path]]:
        """insert, replace, discard (a duplicate we keep), or the SeriesConflict
        that refuses it, for each instance."""
        known = self._existing({s.record.sop_uid for s in staged})
        owners = self._studies_of({s.record.series_uid for s in staged})
        actions: list[str | SeriesConflict] = []
        superseded: list[Path] = []
        for item in staged:
            sop, series, study = item.record.sop_uid, item.record.series_uid, item.record.study_uid
            if owners.setdefault(series, study) != study:
                actions.append(SeriesConflict(f"SeriesInstanceUID {series} is archived under "
                                              f"another study ({owners[series]})"))
                continue
            if sop not in known:
                actions.append("insert")
            elif self._overwrite:
                actions.append("replace")
                if known[sop] != item.relpath:
                    superseded.append(self._absolute(known[sop]))
            else:
                actions.append("discard")
            known[sop] = item.relpath
        return actions, superseded

    def _studies_of(self, series_uids: set[str]) -> dict[str, str]:
        """SeriesInstanceUID -> its StudyInstanceUID, for series already indexed."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(series_uids)):
            found.update(self._conn.execute(
                "SELECT se.series_uid, st.study_uid FROM series se "
                f"JOIN studies st ON st.id = se.study_ref WHERE se.series_uid IN ({_marks(chunk)})",
                chunk))
        return found

    def _existing(self, sop_uids: set[str]) -> dict[str, str]:
        """SOP Instance UID -> stored path, for those already in the index."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(sop_uids)):
            rows = self._conn.execute(
                f"SELECT sop_uid, path FROM instances WHERE sop_uid IN ({_marks(chunk)})", chunk)
            found.update(rows)
        return found

    def _place_files(self, keeping: list[tuple[StagedInstance, str]]) -> None:
        """Rename committed files into place (:meth:`sync_placed` makes that durable).

        Should a rename fail (a full disk can refuse a directory), the rows of
        the files not in place are taken back, so nothing is acknowledged that
        the archive does not hold.
        """
        placed: list[StagedInstance] = []
        try:
            for item, _ in keeping:
                if item.temporary:
                    self._unsynced.update(files.move_into_place(
                        item.temporary, resolve_text(self._data_root, item.relpath)))
                placed.append(item)
        except BaseException:
            self._take_back([item for item, _ in keeping if item not in placed])
            raise
        finally:
            if placed and not self._placed:
                self._placed_since = time.monotonic()
            self._placed += [(item.record.sop_uid, item.checksum is not None)
                             for item in placed]

    def sync_due(self) -> float | None:
        """How long the writer may wait for work before :meth:`sync_placed`
        is due (None: nothing to sync)."""
        if not self._placed:
            return None
        oldest = time.monotonic() - self._placed_since
        return max(0.0, min(SYNC_PAUSE, SYNC_AT_MOST_AFTER - oldest))

    def sync_placed(self) -> None:
        """Make the last group's renames durable, so that its rows' ``pending``
        can be cleared (once their files are durable too); after the callers
        have had their answer (their files were safe in tmp/ already). Should
        that fail, the rows stay pending and the next start finishes the renames."""
        directories, self._unsynced = self._unsynced, set()
        placed, self._placed = self._placed, []
        try:
            files.sync_directories(directories)
        except OSError as exc:
            log.warning("cannot sync the archive's directories (%s); the next start "
                        "checks the instances stored since", exc.strerror or exc)
            return
        for uid, confirm in placed:
            if confirm and uid not in self._durable:
                self._undurable.add(uid)
            else:
                self._durable.discard(uid)
                self._settled.append(uid)

    def mark_durable(self, uids: list[str]) -> None:
        """These files' own fsyncs are done (IndexWriter.durable)."""
        for uid in uids:
            if uid in self._undurable:
                self._undurable.remove(uid)
                self._settled.append(uid)
            else:
                self._durable.add(uid)  # its rename is not synced yet

    def _take_back(self, items: list[StagedInstance]) -> None:
        uids = [item.record.sop_uid for item in items]
        with self._transaction():
            self._delete_rows(self._conn.execute(
                f"SELECT id, series_ref FROM instances WHERE sop_uid IN ({_marks(uids)})",
                uids).fetchall())
        _remove_all(item.temporary for item in items if item.temporary)

    def _clear_pending(self) -> None:
        """The renames of the last group are done: say so in this transaction."""
        if self._settled:
            uids = self._settled
            self._conn.execute(
                f"UPDATE instances SET pending = '' WHERE sop_uid IN ({_marks(uids)})", uids)
            self._settled = []

    def _index(self, keeping: list[tuple[StagedInstance, str]]) -> None:
        conn = self._conn
        now = _now()
        patients: dict[tuple[str, str, str, str], int] = {}
        studies: dict[str, int] = {}
        series: dict[str, int] = {}
        # Series that only gained instances (counted up), and those a
        # replacement touched (counted again in full).
        added: Counter[int] = Counter()
        classes: dict[int, set[str]] = {}
        replaced: set[int] = set()
        vacated: set[int] = set()
        rows = []
        for item, action in keeping:
            r = item.record
            replacing = action == "replace"
            if r.study_uid not in studies:
                studies[r.study_uid] = self._study(r, patients, now, replacing, vacated)
            if r.series_uid not in series:
                series[r.series_uid] = self._series(r, studies[r.study_uid], replacing)
            if replacing:
                replaced.update(row[0] for row in conn.execute(
                    "SELECT series_ref FROM instances WHERE sop_uid = ?", (r.sop_uid,)))
                conn.execute("DELETE FROM instances WHERE sop_uid = ?", (r.sop_uid,))
                replaced.add(series[r.series_uid])
            else:
                added[series[r.series_uid]] += 1
                classes.setdefault(studies[r.study_uid], set()).add(r.sop_class_uid)
            rows.append((series[r.series_uid], r.sop_uid, r.sop_class_uid, r.instance_number,
                         r.transfer_syntax_uid, r.rows, r.columns, r.number_of_frames,
                         r.image_position, r.image_orientation, item.relpath,
                         r.file_size, now, r.source_aet, _pending(item, self._tmp_dir)))
        conn.executemany("""
            INSERT INTO instances (series_ref, sop_uid, sop_class_uid, instance_number,
                transfer_syntax, rows, columns, frames, image_position, image_orientation,
                path, file_size, received_at, source_aet, pending)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
        forwarding = [(destination, item.record.sop_uid)
                      for item, _ in keeping for destination in item.forward_to]
        if forwarding:
            forward_queue.enqueue(conn, forwarding, now)
        _count_added(conn, added, classes, now)
        _recount(conn, replaced)
        _recount_patients(conn, sorted(vacated))

    def _study(self, r: InstanceRecord, patients: dict[tuple[str, str, str, str], int],
               now: str, replacing: bool, vacated: set[int]) -> int:
        """The study row of ``r``. A study keeps the patient and the values it was
        first indexed with: a later instance that spells the patient's name
        differently joins it rather than making a patient of its own. An
        instance that replaces another (storage.overwrite_duplicates) brings
        its values, and the patient it names (``vacated``: the one it left)."""
        conn = self._conn
        known = conn.execute("SELECT id, patient_ref FROM studies WHERE study_uid = ?",
                             (r.study_uid,)).fetchone()
        if known is not None and not replacing:
            return int(known[0])  # its received_at is set with its counts (_count_added)
        pkey = (r.patient_id, r.issuer_of_patient_id, r.patient_name, r.patient_birth_date)
        if pkey not in patients:
            patients[pkey] = _returning_id(conn, f"""
                INSERT INTO patients (patient_id, issuer, patient_name, patient_name_fold,
                                      birth_date, sex)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (patient_id, issuer, patient_name, birth_date)
                DO UPDATE SET sex = {"excluded.sex" if replacing else "sex"}
                RETURNING id""",
                (*pkey[:3], fold(r.patient_name), r.patient_birth_date, r.patient_sex))
        values = (r.study_date, r.study_time, r.accession_number, r.study_id,
                  r.study_description, r.referring_physician_name,
                  fold(r.referring_physician_name), now)
        if known is None:
            return _returning_id(conn, """
                INSERT INTO studies (patient_ref, study_uid, study_date, study_time,
                    accession_number, study_id, description, referring, referring_fold,
                    received_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (patients[pkey], r.study_uid, *values))
        conn.execute("""
            UPDATE studies SET patient_ref = ?, study_date = ?, study_time = ?,
                accession_number = ?, study_id = ?, description = ?, referring = ?,
                referring_fold = ?, received_at = ?
            WHERE id = ?""", (patients[pkey], *values, known[0]))
        if known[1] != patients[pkey]:
            vacated.add(int(known[1]))
        return int(known[0])

    def _series(self, r: InstanceRecord, study_ref: int, replacing: bool) -> int:
        """The series row of ``r``: kept as first indexed, unless ``r`` replaces an
        instance (then its values win)."""
        # A no-op update when kept: RETURNING needs the conflict row "updated".
        update = _SERIES_FROM_NEW if replacing else "modality = modality"
        return _returning_id(self._conn, f"""
            INSERT INTO series (study_ref, series_uid, modality, series_number,
                description, body_part, series_date, series_time)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (series_uid) DO UPDATE SET {update}
            RETURNING id""",
            (study_ref, r.series_uid, r.modality, r.series_number, r.series_description,
             r.body_part_examined, r.series_date, r.series_time))

    # --- deletes ------------------------------------------------------------------

    def delete(self, level: Level, matchers: dict[str, Matcher],
               receiving: Callable[[], list[str]] | None = None) -> DeleteResult:
        conn = self._conn
        where, params = queries.where_clause(level, matchers)
        if receiving is not None:
            unheld, more = holds.unheld_condition(receiving())
            where = f"{where} AND {unheld}" if where else f" WHERE {unheld}"
            params += more
        rows = conn.execute(
            f"SELECT i.id, i.path, se.id FROM {queries.FROM[Level.IMAGE]}{where}", params
        ).fetchall()
        if not rows:
            return DeleteResult(0, 0, 0, 0)
        ids = [row[0] for row in rows]
        # Marked first: a crash while the files go leaves rows that recovery
        # (or the archive check) knows to finish deleting.
        with self._transaction():
            for chunk in _chunks(ids):
                conn.execute(f"UPDATE instances SET pending = ? WHERE id IN ({_marks(chunk)})",
                             [DELETING, *chunk])
        _remove_all(self._absolute(row[1]) for row in rows)
        with self._transaction():
            series, studies, patients = self._delete_rows([(row[0], row[2]) for row in rows])
        return DeleteResult(len(rows), studies, series, patients)

    def protect(self, study_uid: str, protected: bool) -> bool:
        with self._transaction():
            return self._conn.execute("UPDATE studies SET protected = ? WHERE study_uid = ?",
                                      (int(protected), study_uid)).rowcount > 0

    def _delete_rows(self, rows: list[tuple[int, int]]) -> tuple[int, int, int]:
        """Delete instance rows (id, series id) and bring the levels above up to date."""
        for chunk in _chunks([row[0] for row in rows]):
            forward_queue.forget_instances(self._conn, chunk)
            self._conn.execute(f"DELETE FROM instances WHERE id IN ({_marks(chunk)})", chunk)
        return _recount(self._conn, {row[1] for row in rows})

    # --- other changes ----------------------------------------------------------------

    def change(self, change: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._transaction():
            self._clear_pending()
            return change(self._conn)

    def _transaction(self):
        return _Transaction(self._conn)

    def _absolute(self, relpath: str) -> Path:
        return resolve(self._data_dir, relpath)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")


# The series values a replacing instance brings (column names, never input).
_SERIES_FROM_NEW = ", ".join(f"{column} = excluded.{column}" for column in (
    "modality", "series_number", "description", "body_part", "series_date", "series_time"))


def _runs(group: list[_Job]) -> Iterable[list[_Job]]:
    """Consecutive stores go together; each delete or change goes alone, in queue order."""
    run: list[_Job] = []
    for job in group:
        if not isinstance(job, _StoreJob):
            if run:
                yield run
                run = []
            yield [job]
        else:
            run.append(job)
    if run:
        yield run


def _pending(item: StagedInstance, tmp_dir: Path) -> str:
    """What a new row's ``pending`` says: its temporary file's name in tmp/,
    and the file's CRC-32 while its fsync may not be done ("" when already
    in place)."""
    if item.temporary is None:
        return ""
    name = staging.name_in(tmp_dir, item.temporary)
    if item.checksum is None:
        return name
    return f"{name} {item.checksum:08x}"


def _as_list(function, *args):
    return [function(*args)]


def _returning_id(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    return int(conn.execute(sql, params).fetchone()[0])


def _chunks(values: list, size: int = 500) -> Iterable[list]:
    """Pieces small enough for one statement's parameters."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _marks(values: list) -> str:
    return ", ".join("?" * len(values))


# A study's counts and ModalitiesInStudy, summed over its series (few rows).
_STUDY_TOTALS = """
    num_series = (SELECT count(*) FROM series WHERE study_ref = studies.id),
    num_instances = (SELECT coalesce(sum(num_instances), 0) FROM series
                     WHERE study_ref = studies.id),
    modalities = (SELECT coalesce(group_concat(modality, '\\'), '') FROM
                  (SELECT DISTINCT modality FROM series
                   WHERE study_ref = studies.id AND modality != ''
                   ORDER BY modality))"""


def _recount(conn: sqlite3.Connection, series_ids: set[int]) -> tuple[int, int, int]:
    """Bring derived counts, ModalitiesInStudy and SOPClassesInStudy up to date
    above these series, and remove the series, studies and patients left empty;
    returns how many of each."""
    if not series_ids:
        return 0, 0, 0
    ids = list(series_ids)
    parents = conn.execute(
        f"SELECT DISTINCT se.study_ref, st.patient_ref FROM series se "
        f"JOIN studies st ON st.id = se.study_ref WHERE se.id IN ({_marks(ids)})", ids
    ).fetchall()
    study_ids = sorted({row[0] for row in parents})
    patient_ids = sorted({row[1] for row in parents})
    conn.execute(f"""
        UPDATE series SET num_instances =
            (SELECT count(*) FROM instances WHERE series_ref = series.id)
        WHERE id IN ({_marks(ids)})""", ids)
    removed_series = _delete_empty(conn, "series", "num_instances", ids)
    conn.execute(f"""
        UPDATE studies SET {_STUDY_TOTALS},
            sop_classes = (SELECT coalesce(group_concat(sop_class_uid, '\\'), '') FROM
                           (SELECT DISTINCT i.sop_class_uid FROM instances i
                            JOIN series se ON se.id = i.series_ref
                            WHERE se.study_ref = studies.id ORDER BY i.sop_class_uid))
        WHERE id IN ({_marks(study_ids)})""", study_ids)
    removed_studies = _delete_empty(conn, "studies", "num_instances", study_ids)
    return removed_series, removed_studies, _recount_patients(conn, patient_ids)


def _count_added(conn: sqlite3.Connection, added: Counter[int],
                 classes: dict[int, set[str]], now: str) -> None:
    """Bring derived counts up to date above series that only gained instances
    (``added``: how many each; ``classes``: the SOP classes each study gained,
    received ``now``).

    :func:`_recount` counts every instance of the series and study again,
    which made each group commit into a large study slower than the last.
    Here the series add what they gained and the SOP classes of a study are
    merged; what sums over a study's series is cheap and summed again.
    """
    if not added:
        return
    conn.executemany("UPDATE series SET num_instances = num_instances + ? WHERE id = ?",
                     [(count, series_id) for series_id, count in added.items()])
    study_ids = sorted(classes)
    known = conn.execute(f"SELECT id, sop_classes, patient_ref FROM studies "
                         f"WHERE id IN ({_marks(study_ids)})", study_ids).fetchall()
    merged = [("\\".join(sorted(set(filter(None, listed.split("\\"))) | classes[study_id])),
               now, study_id) for study_id, listed, _ in known]
    conn.executemany(f"UPDATE studies SET {_STUDY_TOTALS}, sop_classes = ?, received_at = ? "
                     "WHERE id = ?", merged)
    # Their patients only gained: none is left without a study.
    _count_patients(conn, sorted({patient for _, _, patient in known}))


def _recount_patients(conn: sqlite3.Connection, patient_ids: list[int]) -> int:
    """Bring these patients' counts up to date; remove those left without a
    study, and return how many."""
    if not patient_ids:
        return 0
    _count_patients(conn, patient_ids)
    return _delete_empty(conn, "patients", "num_studies", patient_ids)


def _count_patients(conn: sqlite3.Connection, patient_ids: list[int]) -> None:
    """Bring these patients' counts up to date."""
    conn.execute(f"""
        UPDATE patients SET
            num_studies = (SELECT count(*) FROM studies WHERE patient_ref = patients.id),
            num_series = (SELECT coalesce(sum(num_series), 0) FROM studies
                          WHERE patient_ref = patients.id),
            num_instances = (SELECT coalesce(sum(num_instances), 0) FROM studies
                             WHERE patient_ref = patients.id)
        WHERE id IN ({_marks(patient_ids)})""", patient_ids)


def _delete_empty(conn: sqlite3.Connection, table: str, counter: str, ids: list[int]) -> int:
    # table and counter are constants of this module, never user input.
    return conn.execute(
        f"DELETE FROM {table} WHERE {counter} = 0 AND id IN ({_marks(ids)})", ids).rowcount


def _remove_all(paths: Iterable[Path]) -> None:
    for path in paths:
        files.remove_quietly(path)


def _now() -> str:
    return received_at(datetime.now(UTC))
