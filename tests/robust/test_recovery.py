"""The quick recovery when the archive opens: what a killed process left half done."""

from __future__ import annotations

import logging
import sqlite3
import zlib

from tests.dicom_factory import make_dataset, write_instance
from tui_pacs.config import StorageConfig
from tui_pacs.core.model import Level
from tui_pacs.store.archive import Archive
from tui_pacs.store.layout import INDEX_FILE
from tui_pacs.store.staging import staged_files
from tui_pacs.store.writer import DELETING

STORAGE = StorageConfig(min_free_mb=0)


async def stored(data_dir, tmp_path, count):
    async with await Archive.open(data_dir, STORAGE) as archive:
        return [await archive.store_file(write_instance(tmp_path / f"{n}.dcm",
                                                        make_dataset(instance=n)))
                for n in range(1, count + 1)]


def execute(data_dir, sql, *params):
    with sqlite3.connect(data_dir / INDEX_FILE) as conn:
        conn.execute(sql, params)


async def test_a_committed_row_whose_file_is_nowhere_is_dropped(data_dir, tmp_path, caplog):
    """A power cut can lose the directory entry of an unsynced temporary file
    whose row was committed: it was never acknowledged, so the row goes."""
    first, second = await stored(data_dir, tmp_path, 2)
    (data_dir / second.path).unlink()
    execute(data_dir, "UPDATE instances SET pending = '.incoming-gone.part' WHERE sop_uid = ?",
            second.record.sop_uid)
    (data_dir / "running").touch()
    with caplog.at_level(logging.WARNING):
        async with await Archive.open(data_dir, STORAGE) as archive:
            assert archive.recovery.dropped == 1
            assert await archive.index.count(Level.IMAGE) == 1
            assert await archive.index.file_of(first.record.sop_uid) is not None
    assert "did not shut down cleanly" in caplog.text
    assert "1 index row(s) without a file dropped" in caplog.text


async def test_leftovers_of_a_process_killed_beside_another_are_tidied(data_dir, tmp_path,
                                                                       caplog):
    """An import killed while a node ran: the node closes cleanly later, so
    no crash is seen, but the next process to open the archive alone finishes
    the delete and removes the temporary file it left."""
    first, second = await stored(data_dir, tmp_path, 2)
    async with await Archive.open(data_dir, STORAGE) as node:
        execute(data_dir, "UPDATE instances SET pending = ? WHERE sop_uid = ?", DELETING,
                second.record.sop_uid)
        (data_dir / "tmp" / ".incoming-killed-1.part").write_bytes(b"half")
        async with await Archive.open(data_dir, STORAGE) as beside:
            assert beside.recovery is None  # not alone: the node may be storing
        assert (data_dir / "tmp" / ".incoming-killed-1.part").exists()
        assert node.recovery is None
    with caplog.at_level(logging.WARNING):
        async with await Archive.open(data_dir, STORAGE) as archive:
            assert archive.recovery.deleted == 1
            assert archive.recovery.removed_temporary == 1
            assert await archive.index.count(Level.IMAGE) == 1
    assert "finished what an interrupted process left" in caplog.text
    assert not (data_dir / second.path).exists()
    async with await Archive.open(data_dir, STORAGE) as archive:
        assert archive.recovery is None


async def test_a_file_committed_while_its_fsync_ran_is_kept_only_if_whole(data_dir, tmp_path):
    """A received file is committed while it is being fsynced; its row keeps
    the file's CRC-32 until the fsync is confirmed. A power cut in between can
    leave the file short, in tmp/ or already renamed into place: recovery drops
    such a row (it was never acknowledged) and finishes the whole ones."""
    whole, short_in_tmp, short_in_place = await stored(data_dir, tmp_path, 3)
    for number, result in enumerate((whole, short_in_tmp, short_in_place)):
        final = data_dir / result.path
        content = final.read_bytes()
        name = f".incoming-cut-{number}.part"
        if result is short_in_place:
            final.write_bytes(content[:len(content) // 2])
        else:
            final.unlink()
            kept = content if result is whole else content[:1000]
            (data_dir / "tmp" / name).write_bytes(kept)
        execute(data_dir, "UPDATE instances SET pending = ? WHERE sop_uid = ?",
                f"{name} {zlib.crc32(content):08x}", result.record.sop_uid)
    (data_dir / "running").touch()
    async with await Archive.open(data_dir, STORAGE) as archive:
        assert archive.recovery.completed == 1
        assert archive.recovery.dropped == 2
        assert [await archive.index.file_of(r.record.sop_uid) is not None
                for r in (whole, short_in_tmp, short_in_place)] == [True, False, False]
    assert (data_dir / whole.path).exists()
    assert not (data_dir / short_in_place.path).exists()
    assert staged_files(data_dir / "tmp") == []
