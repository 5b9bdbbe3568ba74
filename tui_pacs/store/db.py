"""Opening the SQLite index: pragmas and migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from tui_pacs.store.schema import MIGRATIONS, SCHEMA_VERSION


class IndexVersionError(Exception):
    """The index cannot be opened or is newer than this program."""


def connect_writer(path: Path) -> sqlite3.Connection:
    """The index's one writing connection (used on the writer's own thread).

    Applies pending migrations. WAL lets readers run while the writer
    commits; the writer syncs fully at each commit: a C-STORE is acknowledged
    only after its commit, so the index must survive a power cut, not only a
    crash of this process.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        version = _checked_version(conn.execute("PRAGMA user_version").fetchone()[0], path)
        for number in range(version, SCHEMA_VERSION):
            # executescript commits on its own, so the version bump rides inside it.
            conn.executescript(
                f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_streaming_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection for one long read in the calling thread (a C-FIND
    answer streamed row by row).

    Its own connection: an open statement holds its snapshot of the index
    until it finishes, which on the shared reader would hide from every
    other query what is stored meanwhile. Its page cache is small (an answer
    reads most pages once, and the file stays in the OS's cache; with the
    default 2 MB, eight querying associations beside 32 storing ones raised
    the node's peak memory by about 8 MB, at the same speed) and sorts spill
    to temporary files past it, so memory does not grow with the number of rows.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -256")  # KiB
        _checked_version(conn.execute("PRAGMA user_version").fetchone()[0], path)
    except BaseException:
        conn.close()
        raise
    return conn


async def connect_reader(path: Path) -> aiosqlite.Connection:
    """A read-only connection for queries from the event loop."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA query_only = ON")
        await conn.execute("PRAGMA cache_size = -32000")
        await conn.execute("PRAGMA temp_store = MEMORY")
        async with conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
            assert row is not None  # a PRAGMA that reads a value always returns a row
            _checked_version(row[0], path)
    except BaseException:
        await conn.close()
        raise
    return conn


def _checked_version(version: int, path: Path) -> int:
    if version > SCHEMA_VERSION:
        raise IndexVersionError(
            f"{path}: index schema version {version} is newer than this tui-pacs "
            f"understands ({SCHEMA_VERSION}); upgrade tui-pacs"
        )
    return version
