"""Reading the index: queries at each level, counts, and where files are."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from tui_pacs.core.matching import Matcher, parse_match
from tui_pacs.core.model import ATTRIBUTES_BY_KEYWORD, Level
from tui_pacs.store import db, holds, queries
from tui_pacs.store.queries import UnknownKey
from tui_pacs.store.schema import received_at

Row = dict[str, Any]


class IndexReadError(Exception):
    """The index could not be read (locked too long, damaged, gone)."""

__all__ = ["Index", "IndexReadError", "Row", "StoredFile", "UnknownKey", "matchers_from_keys"]


@dataclass(frozen=True)
class StoredFile:
    """One instance's file, for retrieval, export and checks."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: str
    file_size: int
    # Where it belongs: its patient's row in the index, its study and series.
    patient_row: int
    study_instance_uid: str
    series_instance_uid: str


@dataclass(frozen=True)
class ArrivedStudy:
    """A study as automatic deletion sees it: when its last instance arrived, its size."""

    study_uid: str
    # UTC, as the writer records it (2024-01-15T10:15:00.000000Z): sorts as text.
    received_at: str
    size: int
    patient_id: str
    patient_name: str
    study_date: str
    description: str


def matchers_from_keys(keys: dict[str, str]) -> dict[str, Matcher]:
    """Query values by keyword -> matchers; raises UnknownKey for keys not indexed."""
    result = {}
    for keyword, value in keys.items():
        attribute = ATTRIBUTES_BY_KEYWORD.get(keyword)
        if attribute is None:
            raise UnknownKey(keyword)
        result[keyword] = parse_match(value, attribute.vr)
    return result


class Index:
    """Read-only access to the index over its own connection (WAL readers never block)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    def stream(self, level: Level, matchers: dict[str, Matcher],
               keywords: Sequence[str]) -> Generator[tuple[Any, ...], None, None]:
        """The matching entities at ``level``, in the order of :meth:`query`, as
        tuples of the ``keywords`` values, read one at a time as they are
        consumed. Blocking: for a thread of its own, never the event loop.

        However many rows match, only one is in memory at a time (SQLite
        sorts past its cache in temporary files). The rows are a snapshot:
        what is stored meanwhile is not among them. Close the iterator
        (:func:`contextlib.closing`) when leaving it early.
        """
        sql, params, _ = queries.select_sql(level, matchers, keywords=keywords)
        try:
            conn = db.connect_streaming_reader(self._path)
        except (sqlite3.Error, db.IndexVersionError) as exc:
            raise IndexReadError(str(exc)) from exc
        try:
            yield from conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise IndexReadError(str(exc)) from exc
        finally:
            conn.close()

    async def query(
        self,
        level: Level,
        matchers: dict[str, Matcher] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
        local: tuple[str, ...] = (),
    ) -> list[Row]:
        """Matching entities at ``level``, each a dict keyed by DICOM keyword.

        Rows carry the attributes of their level and of the levels above, and
        the archive's own ``local`` columns (queries.LOCAL_COLUMNS) asked for.
        """
        sql, params, keywords = queries.select_sql(
            level, matchers or {}, order_by, descending, limit, offset, local
        )
        async with self._conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [dict(zip(keywords, row)) for row in rows]

    async def count(self, level: Level, matchers: dict[str, Matcher] | None = None) -> int:
        sql, params = queries.count_sql(level, matchers or {})
        async with self._conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        assert row is not None  # count(*) always returns a row
        return int(row[0])

    async def files(self, level: Level, matchers: dict[str, Matcher]) -> list[StoredFile]:
        """The files of every instance under the matching entities."""
        where, params = queries.where_clause(level, matchers)
        sql = (
            "SELECT i.sop_uid, i.sop_class_uid, i.transfer_syntax, i.path, i.file_size, "
            "p.id, st.study_uid, se.series_uid "
            f"FROM {queries.FROM[Level.IMAGE]}{where} "
            "ORDER BY se.series_number, se.id, i.instance_number, i.id"
        )
        async with self._conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [StoredFile(*row) for row in rows]

    async def file_of(self, sop_instance_uid: str) -> StoredFile | None:
        files = await self.files(Level.IMAGE, {"SOPInstanceUID": parse_match(
            sop_instance_uid, "UI")})
        return files[0] if files else None

    async def unheld_by_arrival(self, receiving: list[str]) -> AsyncIterator[ArrivedStudy]:
        """The studies under no hold (``receiving``: those being received), the one
        whose last instance arrived first, first; read as they are used."""
        unheld, params = holds.unheld_condition(receiving)
        sql = (
            "SELECT st.study_uid, st.received_at, "
            "(SELECT coalesce(sum(i.file_size), 0) FROM series se "
            " JOIN instances i ON i.series_ref = se.id WHERE se.study_ref = st.id), "
            "p.patient_id, p.patient_name, st.study_date, st.description "
            f"FROM {queries.FROM[Level.STUDY]} WHERE {unheld} ORDER BY st.received_at, st.id"
        )
        async with self._conn.execute(sql, params) as cursor:
            async for row in cursor:
                yield ArrivedStudy(*row)

    async def totals(self, received_since: datetime | None = None) -> dict[str, int]:
        """Counts of patients, studies, series, instances and bytes stored; with
        ``received_since``, also the instances (and their bytes) that entered the
        archive since then, counted in the same pass over the instances."""
        since = received_at(received_since) if received_since else "~"  # after every date
        sql = (
            "SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM studies), "
            "(SELECT count(*) FROM series), count(*), coalesce(sum(file_size), 0), "
            "coalesce(sum(received_at >= ?), 0), "
            "coalesce(sum(CASE WHEN received_at >= ? THEN file_size ELSE 0 END), 0) "
            "FROM instances"
        )
        async with self._conn.execute(sql, (since, since)) as cursor:
            row = await cursor.fetchone()
        assert row is not None  # an aggregate without GROUP BY always returns a row
        names = ["patients", "studies", "series", "instances", "bytes"]
        if received_since is not None:
            names += ["received_instances", "received_bytes"]
        return dict(zip(names, row))

