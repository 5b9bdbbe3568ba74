"""`tui-pacs check [--repair]`: the index and the files, compared and mended."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, cli_env, run_cli
from tests.dicom_factory import make_dataset, write_instance, write_study
from tests.server.helpers import indexed, stored_file
from tui_pacs.config import StorageConfig
from tui_pacs.store.archive import Archive
from tui_pacs.store.check import Kind, check_archive
from tui_pacs.store.layout import INDEX_FILE


@pytest.fixture
def archive_dir(tmp_path):
    """An archive of one study of six instances (fixed UIDs: uid(1, 1, n))."""
    data = tmp_path / "data"
    write_study(tmp_path / "in", instances=6)
    result = run_cli("import", tmp_path / "in", "--data", data)
    assert result.returncode == 0, result.stderr
    return data


def sop(number: int) -> str:
    return make_dataset(instance=number).SOPInstanceUID


def damage(data, tmp_path) -> dict[str, str]:
    """One problem of each kind; returns the relative path of each."""
    missing = stored_file(data, sop(1))
    missing.unlink()
    truncated = stored_file(data, sop(2))
    truncated.write_bytes(truncated.read_bytes()[:-300])
    # Instance 4's file now holds instance 3: identifiers disagree.
    swapped = stored_file(data, sop(4))
    shutil.copy(stored_file(data, sop(3)), swapped)
    # Instance 5 leaves the index but keeps its file: a sound orphan.
    orphan = stored_file(data, sop(5))
    with sqlite3.connect(data / INDEX_FILE) as conn:
        conn.execute("DELETE FROM instances WHERE sop_uid = ?", (sop(5),))
    junk = orphan.parent / "junk.dcm"
    junk.write_bytes(b"not DICOM at all")
    return {name: path.relative_to(data).as_posix() for name, path in (
        ("missing", missing), ("truncated", truncated), ("swapped", swapped),
        ("orphan", orphan), ("junk", junk))}


def test_a_sound_archive_passes(archive_dir):
    result = run_cli("check", "--data", archive_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked 6 index rows and 6 files" in result.stdout
    assert "SQLite quick_check: ok" in result.stdout
    assert "the index and the files agree" in result.stdout


def test_every_kind_of_problem_is_found(archive_dir, tmp_path):
    paths = damage(archive_dir, tmp_path)
    report = check_archive(archive_dir)
    found = {(f.kind, f.path) for f in report.findings}
    assert found == {(Kind.MISSING, paths["missing"]), (Kind.UNREADABLE, paths["truncated"]),
                     (Kind.MISMATCH, paths["swapped"]), (Kind.ORPHAN, paths["orphan"]),
                     (Kind.ORPHAN, paths["junk"])}
    details = {f.path: f.detail for f in report.findings}
    assert "claims" in details[paths["truncated"]]
    assert f"SOPInstanceUID is {sop(3)}, the index says {sop(4)}" in details[paths["swapped"]]
    assert details[paths["orphan"]] == "" and "not DICOM" in details[paths["junk"]]

    result = run_cli("check", "--data", archive_dir)
    assert result.returncode == 1
    assert "index rows whose file is gone (1):" in result.stdout
    assert "would re-index 1 orphan file and drop 1 index row whose file is gone; " \
           "3 other problems would stay as they are" in result.stdout


def test_quick_compares_existence_and_size(archive_dir, tmp_path):
    paths = damage(archive_dir, tmp_path)
    found = {(f.kind, f.path) for f in check_archive(archive_dir, read_files=False).findings}
    # A swapped file of the same size goes unnoticed without reading it.
    assert found == {(Kind.MISSING, paths["missing"]), (Kind.MISMATCH, paths["truncated"]),
                     (Kind.ORPHAN, paths["orphan"]), (Kind.ORPHAN, paths["junk"])}


def test_repair_says_what_it_will_do_then_does_it(archive_dir, tmp_path):
    paths = damage(archive_dir, tmp_path)
    result = run_cli("check", "--repair", "--data", archive_dir)
    assert result.returncode == 1  # the unreadable, swapped and junk files remain
    out = result.stdout
    plan = out.index("repairing: will re-index 1 orphan file and drop 1 index row")
    assert out.index(f"{paths['orphan']}: re-indexed") > plan
    assert out.index(f"{paths['missing']}: dropped from the index") > plan
    assert "repaired: 1 re-indexed, 1 dropped; 3 problem(s) left" in out
    assert indexed(archive_dir, "SELECT count(*) FROM instances WHERE sop_uid IN (?, ?)",
                   sop(1), sop(5)) == [(1,)]
    assert (archive_dir / paths["junk"]).exists()
    again = {(f.kind, f.path) for f in check_archive(archive_dir).findings}
    assert again == {(Kind.UNREADABLE, paths["truncated"]), (Kind.MISMATCH, paths["swapped"]),
                     (Kind.ORPHAN, paths["junk"])}


async def test_repair_waits_for_other_processes_to_close_the_archive(archive_dir):
    async with await Archive.open(archive_dir, StorageConfig(min_free_mb=0)):
        result = run_cli("check", "--repair", "--data", archive_dir)
        assert result.returncode == 1
        assert "is open in another process" in result.stderr
        # Checking without repairing works beside a running node.
        assert run_cli("check", "--data", archive_dir).returncode == 0


def test_a_lost_index_is_rebuilt_from_the_files(archive_dir):
    (archive_dir / INDEX_FILE).rename(archive_dir / "index.sqlite.damaged")
    for suffix in ("-wal", "-shm"):
        (archive_dir / f"{INDEX_FILE}{suffix}").unlink(missing_ok=True)
    result = run_cli("check", "--repair", "--data", archive_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "repaired: 6 re-indexed, 0 dropped; 0 problem(s) left" in result.stdout
    listing = run_cli("ls", "--level", "series", "--json", "--data", archive_dir)
    assert '"NumberOfSeriesRelatedInstances": 6' in listing.stdout


def test_no_archive_is_one_line(tmp_path):
    result = run_cli("check", "--data", tmp_path / "nothing")
    assert result.returncode == 1
    assert result.stderr.strip() == f"tui-pacs: no archive in {tmp_path / 'nothing'} " \
                                    "(nothing imported or received yet)"


def test_a_delete_killed_midway_is_finished_at_the_next_start(tmp_path):
    """SIGKILL `tui-pacs rm` while it removes files: the next start finishes
    the delete instead of leaving rows without files."""
    data = tmp_path / "data"
    paths = [write_instance(tmp_path / "in" / f"{n}.dcm", make_dataset(instance=n, rows=8,
                                                                      columns=8))
             for n in range(1, 1501)]
    assert run_cli("import", tmp_path / "in", "--data", data).returncode == 0
    directory = stored_file(data, sop(1)).parent
    for _attempt in range(5):
        remover = subprocess.Popen(
            [sys.executable, "-m", "tui_pacs", "rm", "--study", make_dataset().StudyInstanceUID,
             "--data", str(data)], env=cli_env(), cwd=REPO,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while remover.poll() is None and sum(1 for _ in directory.iterdir()) == len(paths):
                pass
            remover.send_signal(signal.SIGKILL)
        finally:
            remover.wait(30)
        if remover.returncode == -signal.SIGKILL and directory.exists() \
                and any(directory.iterdir()):
            break
        # rm finished before the kill: put the study back and try again.
        assert run_cli("import", tmp_path / "in", "--data", data).returncode == 0
        time.sleep(0.1)
    else:
        pytest.skip("rm always finished before it could be killed")
    assert indexed(data, "SELECT count(*) FROM instances WHERE pending != ''")[0][0] > 0
    listing = run_cli("ls", "--json", "--data", data)
    assert listing.returncode == 0
    assert "did not shut down cleanly" in listing.stderr
    assert listing.stdout.strip() == "[]"
    assert not any(directory.iterdir()) if directory.exists() else True
    assert run_cli("check", "--data", data).returncode == 0


async def test_a_series_under_two_studies_in_one_group_keeps_the_index_true(tmp_path):
    """The first instance of the series wins; the other is refused, even when
    both arrive in the same group commit."""
    first = make_dataset(study=1, instance=1)
    other = make_dataset(study=2, instance=2, series_uid=first.SeriesInstanceUID)
    paths = [write_instance(tmp_path / f"{n}.dcm", ds) for n, ds in enumerate((first, other))]
    async with await Archive.open(tmp_path / "data", StorageConfig(min_free_mb=0)) as archive:
        stored, refused = await archive.store_files(paths)
        assert stored.record.sop_uid == first.SOPInstanceUID
        assert refused.invalid and "archived under another study" in str(refused)
    assert check_archive(tmp_path / "data").ok
    assert indexed(tmp_path / "data", "SELECT count(*) FROM studies") == [(1,)]
