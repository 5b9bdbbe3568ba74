"""Staging lanes: each receiving thread creates its files in a directory of its own."""

from __future__ import annotations

import gc
import os
import shutil
import threading

import pytest

from tui_pacs.store import staging


def _created(tmp_dir):
    path, fd = staging.create(tmp_dir)
    os.close(fd)
    return path


def _in_thread(function):
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


def test_threads_writing_at_once_write_in_lanes_of_their_own(tmp_path):
    both_have_written = threading.Barrier(2)

    def write():
        path = staging.write(tmp_path, [b"data"])
        both_have_written.wait()  # neither lane is given back before the other is taken
        return path

    written: list = []
    threads = [threading.Thread(target=lambda: written.append(write())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = written
    assert first.parent != second.parent
    assert {first.parent.parent, second.parent.parent} == {tmp_path}
    assert all(path.read_bytes() == b"data" for path in written)
    assert sorted(staging.staged_files(tmp_path)) == sorted(written)


def test_lanes_are_taken_again_once_their_threads_have_ended(tmp_path):
    """An association's thread ends with it: lanes do not pile up, one per
    association the node ever served."""
    paths = []
    for _ in range(10):
        paths.append(_in_thread(lambda: _created(tmp_path)))
        gc.collect()  # the ended thread's lane goes back to the pool
    lanes = {path.parent for path in paths}
    assert len(set(paths)) == 10
    assert len(lanes) < 10  # one, unless another thread of the suite ended meanwhile


def test_a_staged_file_is_found_again_by_its_name_in_tmp(tmp_path):
    path = staging.write(tmp_path, [b"x"])
    name = staging.name_in(tmp_path, path)
    assert "/" in name and tmp_path / name == path
    assert staging.is_staged(tmp_path, tmp_path / name)
    assert staging.is_staged(tmp_path, tmp_path / ".incoming-old.part")
    assert not staging.is_staged(tmp_path, tmp_path.parent / "elsewhere.part")


def test_what_an_ended_process_staged_is_found_and_its_lanes_removed(tmp_path):
    lane = tmp_path / "123-abcd.0"
    lane.mkdir()
    left = [lane / ".incoming-123-abcd-7.part", tmp_path / ".incoming-123-abcd-8.part"]
    for path in left:
        path.write_bytes(b"half")
    mine = staging.write(tmp_path, [b"ours"])
    assert sorted(staging.staged_by(tmp_path, "123-abcd")) == sorted(left)
    for path in left:
        path.unlink()
    staging.remove_lanes_of(tmp_path, "123-abcd")
    assert not lane.exists()
    assert mine.exists()


def test_clearing_tmp_removes_files_and_lanes_and_lanes_come_back(tmp_path):
    staging.write(tmp_path, [b"a"])
    (tmp_path / ".incoming-old.part").write_bytes(b"b")
    assert staging.clear(tmp_path) == 2
    assert list(tmp_path.iterdir()) == []
    again = staging.write(tmp_path, [b"c"])  # this thread's lane is made again
    assert again.read_bytes() == b"c"


def test_a_lane_removed_by_hand_is_made_again(tmp_path):
    first = _created(tmp_path)
    shutil.rmtree(first.parent)
    second = _created(tmp_path)
    assert second.parent == first.parent and second.parent.is_dir()


def test_a_process_done_with_an_archive_removes_its_empty_lanes(tmp_path):
    kept = staging.write(tmp_path, [b"waits for recovery"])
    emptied = _in_thread(lambda: _created(tmp_path))
    emptied.unlink()
    staging.release(tmp_path)
    assert kept.exists()
    assert not emptied.parent.exists()
    assert _created(tmp_path).parent.is_dir()  # and it makes them again if it goes on


def test_each_file_is_handed_out_with_its_name_already_durable(tmp_path, monkeypatch):
    """Files are made ahead and their lane synced once for all of them: a
    received file then needs its own fsync only, never its directory's."""
    synced_names: set = set()
    syncs = []
    real_sync = staging.sync_directories

    def sync(directories):
        directories = list(directories)
        syncs.append(directories)
        for directory in directories:
            synced_names.update(directory.iterdir())
        real_sync(directories)

    monkeypatch.setattr(staging, "sync_directories", sync)

    def create_many():
        return [_created(tmp_path) for _ in range(2 * staging.MADE_AHEAD + 1)]

    created = _in_thread(create_many)
    assert len(set(created)) == len(created)
    assert all(path in synced_names for path in created)
    lane = created[0].parent
    assert syncs.count([tmp_path]) == 1  # the lane's own name
    assert syncs.count([lane]) == 3  # once per MADE_AHEAD files


def test_files_made_ahead_are_not_staged_and_go_when_the_process_is_done(tmp_path):
    written = staging.write(tmp_path, [b"received"])
    assert len(list(written.parent.iterdir())) == staging.MADE_AHEAD
    assert staging.staged_files(tmp_path) == [written]
    staging.release(tmp_path)
    assert list(written.parent.iterdir()) == [written]


def test_a_lane_that_cannot_be_synced_keeps_no_file_made_ahead(tmp_path, monkeypatch):
    def refuse(directories):
        raise OSError(5, "Input/output error")

    lane = staging.lane(tmp_path)
    monkeypatch.setattr(staging, "sync_directories", refuse)
    with pytest.raises(OSError):
        staging.create(tmp_path)
    assert list(lane.iterdir()) == []
