"""Reading back what the archive holds, for comparisons in tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pydicom import dcmread

from tui_pacs.store.ingest import parse_file
from tui_pacs.store.layout import INDEX_FILE


def dataset_bytes(path: Path) -> bytes:
    """A Part 10 file's dataset, without preamble and file meta group."""
    raw = Path(path).read_bytes()
    return raw[parse_file(raw).dataset_offset:]


def stored_file(data_dir: Path, sop_instance_uid: str) -> Path:
    """Where the archive keeps an instance (it must be indexed)."""
    [(relpath,)] = indexed(data_dir, "SELECT path FROM instances WHERE sop_uid = ?",
                           sop_instance_uid)
    return data_dir / relpath


def sop_instance_uid(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True, force=True).SOPInstanceUID)


def indexed(data_dir: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of a query on the node's index (read only)."""
    with sqlite3.connect(f"file:{data_dir / INDEX_FILE}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def worker_processes(node) -> list[int]:
    """The ingest worker processes of ``node`` (a RunningNode)."""
    pid = node.process.pid
    return [int(child) for child in
            Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def ready_workers(node) -> list[int]:
    """The ingest worker processes of ``node``, once each is ready: until then
    the node serves every connection itself."""
    workers = worker_processes(node)
    if workers:
        node.wait_for_count("ready (process", len(workers))
    return workers
