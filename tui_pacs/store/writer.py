"""The one place that changes the archive: files moved into place and index rows,
committed in groups.

Every store and delete goes through a single queue. The writer takes what has
queued up while the previous group was committing, renames the fsynced
temporary files into place, records them in the index in one transaction,
and only then tells each waiting caller that its instance is safe. Many
associations share one fsync of the directories and one commit instead of
paying for their own (group commit).

Order matters for crash safety: files are renamed before the commit (a crash
in between leaves files the index does not know, listed in the journal and
indexed again at the next start), and deleted before their rows (a crash
leaves rows without files, which the archive check drops).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import aiosqlite

from tui_pacs.core.matching import Matcher, fold
from tui_pacs.core.model import InstanceRecord, Level
from tui_pacs.store import files, queries
from tui_pacs.store.layout import JOURNAL_FILE, resolve

log = logging.getLogger(__name__)

MAX_GROUP = 256


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
    path: PurePosixPath


@dataclass(frozen=True)
class DeleteResult:
    instances: int
    studies: int
    series: int
    patients: int


@dataclass
class StagedInstance:
    """A received instance on disk in tmp/, fsynced, waiting to be committed."""

    record: InstanceRecord
    temporary: Path
    relpath: PurePosixPath


@dataclass
class _StoreJob:
    staged: StagedInstance
    future: asyncio.Future[StoreResult]
    action: str = ""


@dataclass
class _DeleteJob:
    level: Level
    matchers: dict[str, Matcher]
    future: asyncio.Future[DeleteResult] = field(repr=False)


class WriterClosed(RuntimeError):
    """The archive is shutting down and takes no more work."""


class IndexWriter:
    def __init__(self, conn: aiosqlite.Connection, data_dir: Path, overwrite: bool) -> None:
        self._conn = conn
        self._data_dir = data_dir
        self._overwrite = overwrite
        self._queue: asyncio.Queue[_StoreJob | _DeleteJob | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="index-writer")

    async def close(self) -> None:
        """Finish everything queued, then stop."""
        self._closing = True
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def store(self, staged: StagedInstance) -> StoreResult:
        """Commit a staged instance; returns once it is durable and indexed."""
        if self._closing:
            files.remove_quietly(staged.temporary)
            raise WriterClosed("the archive is closing")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_StoreJob(staged, future))
        return await future

    async def delete(self, level: Level, matchers: dict[str, Matcher]) -> DeleteResult:
        if self._closing:
            raise WriterClosed("the archive is closing")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_DeleteJob(level, matchers, future))
        return await future

    # --- the writer task ------------------------------------------------------

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job is None:
                return
            group = [job]
            while len(group) < MAX_GROUP and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    # Put the stop mark back behind this group.
                    self._queue.put_nowait(None)
                    break
                group.append(nxt)
            for run in _runs(group):
                if isinstance(run[0], _DeleteJob):
                    await self._delete(run[0])  # type: ignore[arg-type]
                else:
                    await self._store_group(run)  # type: ignore[arg-type]

    async def _store_group(self, jobs: list[_StoreJob]) -> None:
        try:
            known = await self._existing({j.staged.record.sop_uid for j in jobs})
            for job in jobs:
                sop = job.staged.record.sop_uid
                if sop not in known:
                    job.action = "insert"
                    known.add(sop)
                else:
                    job.action = "replace" if self._overwrite else "discard"
            renamed = await asyncio.to_thread(self._place_files, jobs)
        except BaseException as exc:
            await asyncio.to_thread(_remove_all, [j.staged.temporary for j in jobs])
            _fail_all(jobs, exc)
            if not isinstance(exc, Exception):
                raise
            return

        try:
            await self._index_group([j for j in jobs if j.action != "discard"])
        except BaseException as exc:
            # Nothing is acknowledged: take back the new files so that the
            # index and the files keep agreeing.
            await self._rollback()
            fresh = [self._absolute(j.staged.relpath) for j in renamed if j.action == "insert"]
            await asyncio.to_thread(_remove_all, fresh)
            _fail_all(jobs, exc)
            if not isinstance(exc, Exception):
                raise
            return

        outcomes = {"insert": Outcome.STORED, "replace": Outcome.REPLACED,
                    "discard": Outcome.DUPLICATE}
        for job in jobs:
            if not job.future.done():
                job.future.set_result(
                    StoreResult(outcomes[job.action], job.staged.record, job.staged.relpath)
                )

    def _place_files(self, jobs: list[_StoreJob]) -> list[_StoreJob]:
        """Journal, rename into place, sync directories (runs in a thread)."""
        moving = [j for j in jobs if j.action != "discard"]
        for job in jobs:
            if job.action == "discard":
                files.remove_quietly(job.staged.temporary)
        if not moving:
            return []
        journal = "".join(f"{j.staged.relpath}\n" for j in moving).encode()
        files.write_file_atomically(self._data_dir / JOURNAL_FILE, journal)
        placed: list[Path] = []
        directories: set[Path] = set()
        try:
            for job in moving:
                final = self._absolute(job.staged.relpath)
                files.move_into_place(job.staged.temporary, final)
                directories.add(final.parent)
                if job.action == "insert":
                    placed.append(final)
            files.sync_directories(directories)
        except BaseException:
            _remove_all(placed)
            raise
        return moving

    async def _existing(self, sop_uids: set[str]) -> set[str]:
        found: set[str] = set()
        uids = list(sop_uids)
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            async with self._conn.execute(
                f"SELECT sop_uid FROM instances WHERE sop_uid IN ({marks})", chunk
            ) as cursor:
                found.update(row[0] for row in await cursor.fetchall())
        return found

    async def _index_group(self, jobs: list[_StoreJob]) -> None:
        if not jobs:
            return
        conn = self._conn
        now = _now()
        await conn.execute("BEGIN IMMEDIATE")
        patients: dict[tuple[str, str, str, str], int] = {}
        studies: dict[str, int] = {}
        series: dict[str, int] = {}
        touched_series: set[int] = set()
        for job in jobs:
            r = job.staged.record
            pkey = (r.patient_id, r.issuer_of_patient_id, r.patient_name, r.patient_birth_date)
            if pkey not in patients:
                patients[pkey] = await _returning_id(conn, """
                    INSERT INTO patients (patient_id, issuer, patient_name, patient_name_fold,
                                          birth_date, sex)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (patient_id, issuer, patient_name, birth_date)
                    DO UPDATE SET sex = sex RETURNING id""",
                    (*pkey[:3], fold(r.patient_name), r.patient_birth_date, r.patient_sex))
            if r.study_uid not in studies:
                studies[r.study_uid] = await _returning_id(conn, """
                    INSERT INTO studies (patient_ref, study_uid, study_date, study_time,
                        accession_number, study_id, description, referring, referring_fold,
                        received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (study_uid) DO UPDATE SET received_at = excluded.received_at
                    RETURNING id""",
                    (patients[pkey], r.study_uid, r.study_date, r.study_time,
                     r.accession_number, r.study_id, r.study_description,
                     r.referring_physician_name, fold(r.referring_physician_name), now))
            if r.series_uid not in series:
                series[r.series_uid] = await _returning_id(conn, """
                    INSERT INTO series (study_ref, series_uid, modality, series_number,
                        description, body_part, series_date, series_time)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (series_uid) DO UPDATE SET modality = modality
                    RETURNING id""",
                    (studies[r.study_uid], r.series_uid, r.modality, r.series_number,
                     r.series_description, r.body_part_examined, r.series_date,
                     r.series_time))
            if job.action == "replace":
                touched_series.update(await _series_of(conn, r.sop_uid))
                await conn.execute("DELETE FROM instances WHERE sop_uid = ?", (r.sop_uid,))
            touched_series.add(series[r.series_uid])
            await conn.execute("""
                INSERT INTO instances (series_ref, sop_uid, sop_class_uid, instance_number,
                    transfer_syntax, rows, columns, frames, image_position, image_orientation,
                    path, file_size, received_at, source_aet)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (series[r.series_uid], r.sop_uid, r.sop_class_uid, r.instance_number,
                 r.transfer_syntax_uid, r.rows, r.columns, r.number_of_frames,
                 r.image_position, r.image_orientation, str(job.staged.relpath),
                 r.file_size, now, r.source_aet))
        await _recount(conn, touched_series)
        await conn.execute("COMMIT")

    async def _delete(self, job: _DeleteJob) -> None:
        try:
            result = await self._delete_matching(job.level, job.matchers)
        except BaseException as exc:
            await self._rollback()
            if not job.future.done():
                job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if not job.future.done():
            job.future.set_result(result)

    async def _delete_matching(self, level: Level, matchers: dict[str, Matcher]) -> DeleteResult:
        conn = self._conn
        where, params = queries.where_clause(level, matchers)
        sql = (f"SELECT i.id, i.path, se.id, st.id, p.id FROM {queries.FROM[Level.IMAGE]}"
               f"{where}")
        async with conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        if not rows:
            return DeleteResult(0, 0, 0, 0)
        # Files first: a crash now leaves rows without files, which check drops.
        await asyncio.to_thread(_remove_all, [self._absolute(row[1]) for row in rows])
        await conn.execute("BEGIN IMMEDIATE")
        instance_ids = [row[0] for row in rows]
        for start in range(0, len(instance_ids), 500):
            chunk = instance_ids[start:start + 500]
            await conn.execute(
                f"DELETE FROM instances WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )
        series, studies, patients = await _recount(conn, {row[2] for row in rows})
        await conn.execute("COMMIT")
        return DeleteResult(len(rows), studies, series, patients)

    async def _rollback(self) -> None:
        try:
            await self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open

    def _absolute(self, relpath: str | PurePosixPath) -> Path:
        return resolve(self._data_dir, relpath)


def _runs(group: list[_StoreJob | _DeleteJob]) -> Iterable[list[_StoreJob | _DeleteJob]]:
    """Consecutive stores go together; each delete goes alone, in queue order."""
    run: list[_StoreJob | _DeleteJob] = []
    for job in group:
        if isinstance(job, _DeleteJob):
            if run:
                yield run
                run = []
            yield [job]
        else:
            run.append(job)
    if run:
        yield run


async def _returning_id(conn: aiosqlite.Connection, sql: str, params: tuple) -> int:
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def _series_of(conn: aiosqlite.Connection, sop_uid: str) -> set[int]:
    async with conn.execute("SELECT series_ref FROM instances WHERE sop_uid = ?",
                            (sop_uid,)) as cursor:
        return {row[0] for row in await cursor.fetchall()}


async def _recount(conn: aiosqlite.Connection, series_ids: set[int]) -> tuple[int, int, int]:
    """Bring derived counts and ModalitiesInStudy up to date above these series, and
    remove the series, studies and patients left empty; returns how many of each."""
    if not series_ids:
        return 0, 0, 0
    ids = list(series_ids)
    marks = ", ".join("?" * len(ids))
    async with conn.execute(
        f"SELECT DISTINCT se.study_ref, st.patient_ref FROM series se "
        f"JOIN studies st ON st.id = se.study_ref WHERE se.id IN ({marks})", ids
    ) as cursor:
        parents = await cursor.fetchall()
    study_ids = sorted({row[0] for row in parents})
    patient_ids = sorted({row[1] for row in parents})
    study_marks = ", ".join("?" * len(study_ids))
    patient_marks = ", ".join("?" * len(patient_ids))
    await conn.execute(f"""
        UPDATE series SET num_instances =
            (SELECT count(*) FROM instances WHERE series_ref = series.id)
        WHERE id IN ({marks})""", ids)
    removed_series = await _delete_empty(conn, "series", "num_instances", ids)
    await conn.execute(f"""
        UPDATE studies SET
            num_series = (SELECT count(*) FROM series WHERE study_ref = studies.id),
            num_instances = (SELECT coalesce(sum(num_instances), 0) FROM series
                             WHERE study_ref = studies.id),
            modalities = (SELECT coalesce(group_concat(modality, '\\'), '') FROM
                          (SELECT DISTINCT modality FROM series
                           WHERE study_ref = studies.id AND modality != ''
                           ORDER BY modality))
        WHERE id IN ({study_marks})""", study_ids)
    removed_studies = await _delete_empty(conn, "studies", "num_instances", study_ids)
    await conn.execute(f"""
        UPDATE patients SET
            num_studies = (SELECT count(*) FROM studies WHERE patient_ref = patients.id),
            num_series = (SELECT coalesce(sum(num_series), 0) FROM studies
                          WHERE patient_ref = patients.id),
            num_instances = (SELECT coalesce(sum(num_instances), 0) FROM studies
                             WHERE patient_ref = patients.id)
        WHERE id IN ({patient_marks})""", patient_ids)
    removed_patients = await _delete_empty(conn, "patients", "num_studies", patient_ids)
    return removed_series, removed_studies, removed_patients


async def _delete_empty(conn: aiosqlite.Connection, table: str, counter: str,
                        ids: list[int]) -> int:
    # table and counter are constants of this module, never user input.
    cursor = await conn.execute(
        f"DELETE FROM {table} WHERE {counter} = 0 AND id IN ({', '.join('?' * len(ids))})", ids)
    return cursor.rowcount


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        files.remove_quietly(path)


def _fail_all(jobs: list[_StoreJob], exc: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc if isinstance(exc, Exception) else WriterClosed())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
