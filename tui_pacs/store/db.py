"""Opening the SQLite index: pragmas and migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from tui_pacs.store.schema import MIGRATIONS, SCHEMA_VERSION


class IndexVersionError(Exception):
    """The index cannot be opened or is newer than this program."""


async def connect(path: Path, *, writer: bool) -> aiosqlite.Connection:
    """Open the index; the writer connection also applies pending migrations.

    WAL lets readers run while the writer commits. The writer syncs fully at
    each commit: a C-STORE is acknowledged only after its commit, so the index
    must survive a power cut, not only a crash of this process.
    """
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA foreign_keys = ON")
        if writer:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = FULL")
            await _migrate(conn, path)
        else:
            await conn.execute("PRAGMA query_only = ON")
            await _check_version(conn, path)
        await conn.execute("PRAGMA cache_size = -32000")
        await conn.execute("PRAGMA temp_store = MEMORY")
    except BaseException:
        await conn.close()
        raise
    return conn


async def _version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def _check_version(conn: aiosqlite.Connection, path: Path) -> int:
    version = await _version(conn)
    if version > SCHEMA_VERSION:
        raise IndexVersionError(
            f"{path}: index schema version {version} is newer than this tui-pacs "
            f"understands ({SCHEMA_VERSION}); upgrade tui-pacs"
        )
    return version


async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
    version = await _check_version(conn, path)
    for number in range(version, SCHEMA_VERSION):
        # executescript commits on its own, so the version bump rides inside it.
        await conn.executescript(
            f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
        )
