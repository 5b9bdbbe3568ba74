"""The derived counts a group commit adds up are those a full recount finds."""

from __future__ import annotations

import dataclasses

from tests.dicom_factory import make_dataset, write_instance
from tui_pacs.store import ingest
from tui_pacs.store.layout import instance_relpath
from tui_pacs.store.writer import StagedInstance, _GroupCommitter, _recount

DERIVED = {
    "series": "id, num_instances",
    "studies": "id, num_series, num_instances, modalities, sop_classes",
    "patients": "id, num_studies, num_series, num_instances",
}


def staged(record, **changes) -> StagedInstance:
    record = dataclasses.replace(record, **changes)
    return StagedInstance(record, None, instance_relpath(record.study_uid, record.sop_uid))


def derived(conn) -> dict[str, list[tuple]]:
    return {table: conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
            for table, columns in DERIVED.items()}


def test_counts_added_per_group_equal_a_full_recount(tmp_path):
    (tmp_path / "tmp").mkdir()
    template = ingest.read_record(write_instance(tmp_path / "x.dcm", make_dataset()))
    committer = _GroupCommitter(tmp_path / "index.sqlite", tmp_path, tmp_path / "tmp",
                                overwrite=True)
    ct, sr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.22"
    groups = [
        [staged(template, sop_uid="1.1"), staged(template, sop_uid="1.2")],
        # the same series again, a new series with another modality and SOP class
        [staged(template, sop_uid="1.3"),
         staged(template, sop_uid="1.4", series_uid="9.2", modality="SR", sop_class_uid=sr)],
        # another study of the same patient; a replacement moving an instance
        # to the new series
        [staged(template, sop_uid="2.1", study_uid="8.2", series_uid="9.3"),
         staged(template, sop_uid="1.1", series_uid="9.2", modality="SR", sop_class_uid=sr)],
        [staged(template, sop_uid="1.5", sop_class_uid=ct)],
    ]
    for group in groups:
        committer.store_group(group)
        committer.sync_placed()
    conn = committer._conn
    added = derived(conn)
    series = {row[0] for row in conn.execute("SELECT id FROM series")}
    _recount(conn, series)
    assert added == derived(conn)
    studies = dict(conn.execute("SELECT study_uid, num_instances FROM studies"))
    assert studies == {template.study_uid: 5, "8.2": 1}
    [(classes,)] = conn.execute("SELECT sop_classes FROM studies WHERE study_uid = ?",
                                (template.study_uid,))
    assert classes == "\\".join(sorted({ct, sr, template.sop_class_uid}))
    committer.close()
