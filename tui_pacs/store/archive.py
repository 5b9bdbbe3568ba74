"""The archive: DICOM files under the data directory and their SQLite index.

One object per process owns the writer. Async methods run on the event loop;
:meth:`Archive.store_incoming` and :meth:`Archive.store_received` are for
pynetdicom's association threads (:mod:`tui_pacs.store.intake`): they do the
blocking file work in the calling thread and wait for the writer thread's
group commit (the event loop is not on that path).
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import logging
import mmap
import os
import shutil
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tui_pacs.config import LimitsConfig, StorageConfig
from tui_pacs.core.loop_posts import LoopPosts
from tui_pacs.core.matching import exact
from tui_pacs.core.model import InstanceRecord, Level
from tui_pacs.store import db, files, ingest, staging
from tui_pacs.store.forward_queue import ForwardQueue
from tui_pacs.store.holds import Receiving
from tui_pacs.store.incoming import IncomingFile
from tui_pacs.store.index import Index, StoredFile
from tui_pacs.store.inflate import TooLarge
from tui_pacs.store.intake import (
    Intake,
    Router,
    StoreFailure,
    commit_failure,
    failure_from_os_error,
)
from tui_pacs.store.layout import (
    INDEX_FILE,
    RUNNING_MARKER,
    STORAGE_DIR,
    TMP_DIR,
    instance_relpath,
    resolve,
)
from tui_pacs.store.writer import (
    DeleteResult,
    IndexWriter,
    Outcome,
    Recovery,
    StagedInstance,
    StoreResult,
)

if TYPE_CHECKING:
    import aiosqlite

log = logging.getLogger(__name__)

__all__ = ["Archive", "ArchiveError", "DeleteResult", "Outcome", "Router", "StoreFailure",
           "StoreResult", "StoredFile"]

LOCK_FILE = "lock"
STAGING_THREADS = 8


class ArchiveError(Exception):
    """The data directory cannot be used; the message says why."""


class Archive:
    def __init__(self, data_dir: Path, storage: StorageConfig,
                 max_dataset_mb: int = LimitsConfig.max_dataset_mb) -> None:
        self.data_dir = data_dir
        self.storage = storage
        # [limits] max_dataset_mb: larger datasets, received or inflated, are refused.
        self.max_dataset_mb = max_dataset_mb
        self.index: Index
        self.forward_queue: ForwardQueue
        self.recovery: Recovery | None = None
        self._writer: IndexWriter
        self._read_conn: aiosqlite.Connection | None = None
        self._lock_fd: int | None = None
        self._loop: asyncio.AbstractEventLoop
        # Committed instances, from the threads that commit them to the listeners.
        self._posts: LoopPosts
        self._listeners: list[Callable[[StoreResult], None]] = []
        # Studies that associations are storing into: held from automatic deletion.
        self._receiving = Receiving()
        # Imports parse, copy and fsync files here; fsync waits overlap.
        self._stager = ThreadPoolExecutor(STAGING_THREADS, thread_name_prefix="archive-stage")

    @classmethod
    async def open(cls, data_dir: Path, storage: StorageConfig | None = None,
                   max_dataset_mb: int = LimitsConfig.max_dataset_mb) -> Archive:
        archive = cls(Path(data_dir).expanduser(), storage or StorageConfig(), max_dataset_mb)
        await archive._open()
        return archive

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._posts = LoopPosts(self._loop)
        try:
            for sub in (STORAGE_DIR, TMP_DIR):
                (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"{self.data_dir}: cannot create the data directory: "
                               f"{exc.strerror or exc}") from None
        alone, crashed = self._take_lock()
        index_path = self.data_dir / INDEX_FILE
        self._writer = IndexWriter(index_path, self.data_dir, self.data_dir / TMP_DIR,
                                   self.storage.overwrite_duplicates)
        self._intake = Intake(self.data_dir, self.storage, self.max_dataset_mb, self._writer,
                              self._committed_elsewhere, self._receiving.add)
        started = time.monotonic()
        try:
            # Alone, whatever is half done was left by a process that is gone
            # (the last one, or one killed while others ran): finish it. That
            # looks only at marked rows and at tmp/, so it is quick.
            recovery = await self._writer.open(recover=alone)
            if alone:
                assert self._lock_fd is not None  # _take_lock opened it
                fcntl.flock(self._lock_fd, fcntl.LOCK_SH)  # others may come in now
            read_conn = self._read_conn = await db.connect_reader(index_path)
        except Exception as exc:
            await self._writer.close()
            await self._close_connections()
            self._release_lock()
            if isinstance(exc, db.IndexVersionError):
                raise ArchiveError(str(exc)) from None
            raise ArchiveError(f"{index_path}: cannot open the index: {exc}") from None
        self.index = Index(read_conn, index_path)
        self.forward_queue = ForwardQueue(read_conn, self._writer)
        if recovery is not None and (crashed or recovery.changed_anything):
            self.recovery = recovery
            _log_recovery(recovery, crashed, time.monotonic() - started)

    async def close(self) -> None:
        """Finish pending writes, close the index, and mark a clean shutdown."""
        await self._writer.close()
        self.notify_now()
        await self._close_connections()
        staging.release(self.data_dir / TMP_DIR)
        self._release_lock()
        self._stager.shutdown(wait=False)

    async def __aenter__(self) -> Archive:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- listening to new instances -----------------------------------------

    def add_listener(self, callback: Callable[[StoreResult], None]) -> None:
        """Call ``callback`` on the event loop after each instance is committed."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[StoreResult], None]) -> None:
        self._listeners.remove(callback)

    def notify_now(self) -> None:
        """Tell the listeners now about the instances association threads
        committed (otherwise they hear within loop_posts.COALESCE)."""
        self._posts.flush()

    def _notify(self, result: StoreResult) -> None:
        for listener in list(self._listeners):
            try:
                listener(result)
            except Exception:
                log.exception("archive listener failed")

    # --- storing ------------------------------------------------------------

    async def store_file(self, path: Path, source_aet: str = "") -> StoreResult:
        """Import one file. Raises NotDicom or StoreFailure."""
        [result] = await self.store_files([path], source_aet)
        if isinstance(result, Exception):
            raise result
        return result

    async def store_files(self, paths: list[Path], source_aet: str = ""
                          ) -> list[StoreResult | ingest.NotDicom | StoreFailure]:
        """Import several files; each gets its result or its NotDicom/StoreFailure.

        The files are read and staged in one trip to a staging thread, then
        committed together: per-file hand-offs between threads and the event
        loop cost more than reading a small file.
        """
        loop = asyncio.get_running_loop()
        staged = await loop.run_in_executor(self._stager, self._stage_files, paths, source_aet)

        async def commit(item: StagedInstance | Exception) -> StoreResult:
            if isinstance(item, Exception):
                raise item
            return await self._commit(item)

        results = await asyncio.gather(*map(commit, staged), return_exceptions=True)
        outcomes: list[StoreResult | ingest.NotDicom | StoreFailure] = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                    result, (ingest.NotDicom, StoreFailure)):
                raise result
            outcomes.append(result)
        return outcomes

    def _stage_files(self, paths: list[Path], source_aet: str
                     ) -> list[StagedInstance | ingest.NotDicom | StoreFailure]:
        staged: list[StagedInstance | ingest.NotDicom | StoreFailure] = []
        for path in paths:
            try:
                staged.append(self._stage_file(path, source_aet))
            except (ingest.NotDicom, StoreFailure) as exc:
                staged.append(exc)
        return staged

    def receive(self, sop_class: str, sop_instance: str, transfer_syntax: str,
                source_aet: str) -> IncomingFile:
        """A file for a C-STORE dataset about to arrive (:meth:`Intake.receive`)."""
        return self._intake.receive(sop_class, sop_instance, transfer_syntax, source_aet)

    def store_incoming(self, incoming: IncomingFile, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult:
        """Store a dataset that arrived into ``incoming``; blocks the calling
        (association) thread until it is durable and indexed
        (:meth:`Intake.store_incoming`). Raises StoreFailure. ``route`` names
        the destinations to forward it to; they are queued in the transaction
        that indexes it."""
        return self._intake.store_incoming(incoming, transfer_syntax, source_aet, route)

    def store_received(self, dataset: bytes | memoryview, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult:
        """As :meth:`store_incoming`, for a dataset in memory."""
        return self._intake.store_received(dataset, transfer_syntax, source_aet, route)

    def commit_staged(self, staged: StagedInstance, holder: Hashable) -> Future[StoreResult]:
        """Commit an instance an ingest worker process staged in tmp/ (from any
        thread); the future's exception is the StoreFailure to answer with.
        Its study is held from automatic deletion for ``holder`` (its
        association) until :meth:`release`.

        The worker's word is checked: its file must be in tmp/, and the place
        the instance goes is worked out again from its UIDs.
        """
        temporary = staged.temporary
        if temporary is None or not staging.is_staged(self.data_dir / TMP_DIR, temporary):
            raise ValueError(f"not a staging file: {temporary}")
        staged.relpath = _relpath(staged.record)
        self._receiving.hold(holder, staged.record.study_uid)
        commit: Future[StoreResult] = Future()
        self._writer.expect()
        try:
            written = self._writer.submit(staged, sender=holder)
        except Exception as exc:
            commit.set_exception(commit_failure(exc))
            return commit

        def settled(done: Future[StoreResult]) -> None:
            try:
                result = done.result()
            except Exception as exc:
                commit.set_exception(commit_failure(exc))
                return
            if result.outcome is not Outcome.DUPLICATE:
                self._committed_elsewhere(result)
            commit.set_result(result)

        written.add_done_callback(settled)
        return commit

    def durable(self, sop_uid: str) -> None:
        """An instance from :meth:`commit_staged` is fsynced now (IndexWriter.durable)."""
        self._writer.durable(sop_uid)

    def release(self, holder: Hashable) -> None:
        """The association that stored through :meth:`commit_staged` has ended."""
        self._receiving.release(holder)

    def remove_staged_by(self, process: str) -> int:
        """Remove the staging files an ingest worker process left when it ended
        (``process``: its staging.PROCESS); how many had content. Only once
        everything it handed over is settled."""
        tmp_dir = self.data_dir / TMP_DIR
        leftovers = staging.staged_by(tmp_dir, process)
        received = len(staging.with_content(leftovers))
        for path in leftovers:
            files.remove_quietly(path)
        staging.remove_lanes_of(tmp_dir, process)
        return received

    def _committed_elsewhere(self, result: StoreResult) -> None:
        """An association thread committed an instance: tell the listeners (on the loop)."""
        self._posts.post(self._notify, result)

    async def _commit(self, staged: StagedInstance) -> StoreResult:
        try:
            result = await self._writer.store(staged)
        except Exception as exc:
            raise commit_failure(exc) from None
        if result.outcome is not Outcome.DUPLICATE:
            self._notify(result)
        return result

    def _stage_file(self, path: Path, source_aet: str) -> StagedInstance:
        try:
            source = open(path, "rb")
        except OSError as exc:
            raise StoreFailure(f"cannot read: {exc.strerror or exc}") from None
        try:
            with source as fp:
                if os.fstat(fp.fileno()).st_size > self._intake.max_dataset:
                    raise self._intake.too_large("larger than")
                data = ingest.load(fp)
                try:
                    parsed = ingest.parse_file(data, self._intake.max_dataset)
                    size = len(data) - parsed.copy_from + len(parsed.new_prefix)
                    record = ingest.record_from_header(parsed.header, parsed.transfer_syntax,
                                                       size, source_aet)
                    self._intake.space.claim(size)
                    body = _body(data, fp, parsed.copy_from)
                    temporary = staging.write(self.data_dir / TMP_DIR,
                                              itertools.chain([parsed.new_prefix], body))
                finally:
                    if isinstance(data, mmap.mmap):
                        data.close()
        except ingest.InvalidInstance as exc:
            raise StoreFailure(str(exc), invalid=True) from None
        except TooLarge:
            raise self._intake.too_large("inflates past") from None
        except OSError as exc:
            raise failure_from_os_error(exc) from None
        return StagedInstance(record, temporary, _relpath(record))

    # --- deleting and reading -------------------------------------------------

    async def delete(self, level: Level, identifier: str) -> DeleteResult:
        """Remove a patient (every one with this PatientID), study, series or instance.

        The identifier matches exactly: no wildcards, and empty means empty.
        """
        return await self.delete_matching(level, {level.unique_key: identifier})

    async def delete_matching(self, level: Level, keys: dict[str, str], *,
                              spare_held: bool = False) -> DeleteResult:
        """Remove every ``level`` resource whose ``keys`` all match exactly (a patient
        by PatientID, issuer, name and birth date, say).

        With ``spare_held`` (automatic deletions), the instances of studies under
        a hold (protected, being received: see holds.py) are kept.
        """
        receiving = self._receiving.studies if spare_held else None
        return await self._writer.delete(level, exact(keys), receiving)

    async def set_protected(self, study_uid: str, protected: bool = True) -> bool:
        """Protect a study from automatic deletion (or end its protection);
        False when the archive has no such study."""
        return await self._writer.protect(study_uid, protected)

    def receiving_studies(self) -> list[str]:
        """The UIDs of the studies that running associations are storing into."""
        return self._receiving.studies()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the index lives on, for worker threads that ask it."""
        return self._loop

    def path_of(self, stored: StoredFile | str) -> Path:
        relpath = stored.path if isinstance(stored, StoredFile) else stored
        return resolve(self.data_dir, relpath)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.data_dir).free

    # --- start-up after a crash ---------------------------------------------

    async def reindex_in_place(self, relpath: str) -> StoreResult:
        """Index a file already under storage/ that the index does not know (repair).

        Raises StoreFailure when the file cannot be read as an instance or does
        not belong at its path; the file is left as it is.
        """
        path = self.path_of(relpath)
        try:
            record = await asyncio.to_thread(ingest.read_record, path)
        except (ingest.InvalidInstance, ingest.NotDicom) as exc:
            raise StoreFailure(f"{relpath}: {str(exc) or 'not DICOM'}", invalid=True) from None
        except OSError as exc:
            raise StoreFailure(f"{relpath}: cannot read: {exc.strerror or exc}") from None
        if _relpath(record) != relpath:
            raise StoreFailure(f"{relpath}: its identifiers belong at {_relpath(record)}",
                               invalid=True)
        return await self._writer.store(StagedInstance(record, None, relpath))

    # --- process lock -----------------------------------------------------------

    def _take_lock(self) -> tuple[bool, bool]:
        """Share the archive with other processes: (alone, crashed).

        Each process holds a shared lock while it has the archive open. When
        we are alone, the lock stays exclusive until the index is open, so
        that no one stores into tmp/ while recovery tidies it. The running
        marker survives a crash: if we are alone and it is there, the last
        process did not close.
        """
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        self._lock_fd = fd
        marker = self.data_dir / RUNNING_MARKER
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return False, False
        crashed = marker.exists()
        marker.touch()
        return True, crashed

    def in_use_elsewhere(self) -> bool:
        """Whether another process has this archive open (a running node, an import)."""
        if self._lock_fd is None:
            return False
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        return False

    def _release_lock(self) -> None:
        if self._lock_fd is None:
            return
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            files.remove_quietly(self.data_dir / RUNNING_MARKER)
        except BlockingIOError:
            pass  # another process still has the archive open
        os.close(self._lock_fd)
        self._lock_fd = None

    async def _close_connections(self) -> None:
        if self._read_conn is not None:
            await self._read_conn.close()
            self._read_conn = None


def _log_recovery(recovery: Recovery, crashed: bool, seconds: float) -> None:
    what = (f"{recovery.completed} committed instance(s) put in place, "
            f"{recovery.removed_temporary} unacknowledged temporary file(s) removed, "
            f"{recovery.deleted} instance(s) of interrupted deletes removed, "
            f"{recovery.dropped} index row(s) without a file dropped")
    if crashed:
        log.warning("the previous run did not shut down cleanly; quick check done in "
                    "%.2f s: %s (`tui-pacs check` compares every file with the index)",
                    seconds, what)
    else:
        log.warning("finished what an interrupted process left: %s", what)


def _body(data: bytes | mmap.mmap, fp: BinaryIO, start: int) -> Iterable[bytes | memoryview]:
    """What of an imported file is copied, from ``start``: the bytes already read
    when it was small; else chunks read from the file, since writing from its
    mapping would make every page of a multi-gigabyte file resident (parsing
    it touched only the header's)."""
    if isinstance(data, mmap.mmap):
        return files.chunks_of(fp, start)
    return [memoryview(data)[start:]]


def _relpath(record: InstanceRecord) -> str:
    return instance_relpath(record.study_uid, record.sop_uid)
