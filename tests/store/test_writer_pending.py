"""A row stays pending until its file is in place for good and, when it was
committed while being fsynced, until that fsync is confirmed."""

from __future__ import annotations

import dataclasses
import sqlite3
import zlib

from tests.dicom_factory import make_dataset, write_instance
from tui_pacs.store import ingest
from tui_pacs.store.layout import instance_relpath
from tui_pacs.store.writer import StagedInstance, _GroupCommitter


def staged(tmp_dir, record, sop_uid: str, checksum: bool) -> StagedInstance:
    record = dataclasses.replace(record, sop_uid=sop_uid)
    temporary = tmp_dir / f".incoming-test-{sop_uid}.part"
    temporary.write_bytes(sop_uid.encode())
    return StagedInstance(record, temporary, instance_relpath(record.study_uid, sop_uid),
                          zlib.crc32(sop_uid.encode()) if checksum else None)


def test_pending_is_cleared_once_renamed_for_good_and_durable(tmp_path):
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    record = ingest.read_record(write_instance(tmp_path / "x.dcm", make_dataset()))
    committer = _GroupCommitter(tmp_path / "index.sqlite", tmp_path, tmp_dir, overwrite=False)

    def pending() -> dict[str, str]:
        return dict(committer._conn.execute("SELECT sop_uid, pending FROM instances"))

    def commit(*items: StagedInstance) -> None:
        committer.store_group(list(items))
        committer.sync_placed()

    commit(staged(tmp_dir, record, "1.1", checksum=False),
           staged(tmp_dir, record, "1.2", checksum=True))
    assert pending() == {"1.1": ".incoming-test-1.1.part",
                         "1.2": f".incoming-test-1.2.part {zlib.crc32(b'1.2'):08x}"}
    commit(staged(tmp_dir, record, "1.3", checksum=True))
    committer.mark_durable(["1.3"])  # confirmed before its rename was synced
    assert pending()["1.1"] == "" and pending()["1.2"] != ""
    committer.mark_durable(["1.2"])
    commit(staged(tmp_dir, record, "1.4", checksum=False))
    assert [uid for uid, mark in pending().items() if mark] == ["1.4"]
    committer.close()
    with sqlite3.connect(tmp_path / "index.sqlite") as conn:
        assert {row[0] for row in conn.execute("SELECT pending FROM instances")} == {""}
    assert list(tmp_dir.iterdir()) == []
