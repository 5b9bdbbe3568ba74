"""A full disk: C-STORE gets 0xA700, nothing partial remains, and the node
accepts again once there is room; storage.min_free_mb keeps a reserve.

Each test mounts a small file system of its own (tmpfs, or an ext4 image on
a loop device) for the node's data directory: that needs root, and the test
is skipped, saying why, where mounting is not possible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.dicom_factory import make_dataset, write_instance
from tests.server.conftest import dcmtk, run
from tests.server.helpers import dataset_bytes, indexed, sop_instance_uid, stored_file
from tui_pacs.store.check import check_archive
from tui_pacs.store.staging import staged_files

pytestmark = pytest.mark.interop

SUCCESS = "Received Store Response (Success)"
OUT_OF_RESOURCES = "Received Store Response (Refused: OutOfResources)"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


@pytest.fixture(params=["tmpfs", "ext4"])
def small_disk(request, tmp_path):
    """A file system of 24 MB mounted for this test; unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    point = tmp_path / "disk"
    point.mkdir()
    if request.param == "tmpfs":
        mounted = _run("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", point)
    else:
        if shutil.which("mkfs.ext4") is None:
            pytest.skip("mkfs.ext4 is not installed")
        image = tmp_path / "disk.img"
        with open(image, "wb") as fp:
            fp.truncate(24 * 1_048_576)
        made = _run("mkfs.ext4", "-q", "-F", "-m", "0", image)
        if made.returncode != 0:
            pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
        mounted = _run("mount", "-o", "loop", image, point)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {request.param} here: {mounted.stderr.strip()}")
    yield point
    if _run("umount", point).returncode != 0:
        _run("umount", "-l", point)


def fill(disk: Path, leave: int) -> Path:
    """A ballast file taking all but ``leave`` bytes of free space."""
    ballast = disk / "ballast"
    free = shutil.disk_usage(disk).free
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, max(1, free - leave))
    finally:
        os.close(fd)
    return ballast


def instances(directory: Path, count: int, first: int = 1) -> list[Path]:
    """Images of sizes from 20 to 130 KB, so that the disk fills at odd places."""
    return [write_instance(directory / f"{n:03d}.dcm",
                           make_dataset(instance=n, rows=96 + (n * 37) % 160, columns=256))
            for n in range(first, first + count)]


def send(node, files: list[Path]) -> dict[Path, str]:
    """storescu -nh (goes on after a failure): each file's response line."""
    result = run(dcmtk("storescu"), "-v", "-nh", "-aec", node.aet, "127.0.0.1", node.port,
                 *files)
    answers: dict[Path, str] = {}
    current = None
    for line in result.stderr.splitlines():
        if line.startswith("I: Sending file: "):
            current = Path(line.removeprefix("I: Sending file: "))
        elif "Received Store Response" in line and current is not None:
            answers[current] = line.removeprefix("I: ")
    return answers


def assert_archive_whole(node, acknowledged: list[Path]) -> None:
    """Every acknowledged instance stored as sent; nothing else, nothing partial."""
    assert staged_files(node.data / "tmp") == []
    report = check_archive(node.data)
    assert report.ok and not report.unsettled, report
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(len(acknowledged),)]
    for path in acknowledged:
        assert dataset_bytes(stored_file(node.data, sop_instance_uid(path))) == \
            dataset_bytes(path)


def test_a_full_disk_refuses_with_out_of_resources_then_recovers(small_disk, start_node,
                                                                 tmp_path):
    node = start_node("[storage]\nmin_free_mb = 0\n", data=small_disk / "data")
    ballast = fill(small_disk, leave=1_300_000)
    files = instances(tmp_path / "in", 30)

    answers = send(node, files)
    assert set(answers) == set(files)
    acknowledged = [path for path, answer in answers.items() if answer == SUCCESS]
    refused = [path for path, answer in answers.items() if answer != SUCCESS]
    assert acknowledged and refused
    assert {answers[path] for path in refused} == {OUT_OF_RESOURCES}
    assert run(dcmtk("echoscu"), "-aec", node.aet, "127.0.0.1", node.port).returncode == 0
    assert_archive_whole(node, acknowledged)

    ballast.unlink()
    again = send(node, refused)
    assert set(again.values()) == {SUCCESS}
    assert_archive_whole(node, files)
    log = node.wait_for_log("out of disk space")
    assert "Traceback" not in log


def test_the_reserve_is_kept_and_freeing_space_lets_stores_in(small_disk, start_node, tmp_path):
    reserve = 8 * 1_048_576
    node = start_node("[storage]\nmin_free_mb = 8\n", data=small_disk / "data")
    old_study = [write_instance(tmp_path / "old" / f"{n}.dcm",
                                make_dataset(study=9, instance=n, rows=256, columns=256))
                 for n in range(1, 21)]
    assert set(send(node, old_study).values()) == {SUCCESS}
    fill(small_disk, leave=reserve + 1_500_000)
    files = instances(tmp_path / "in", 30)

    answers = send(node, files)
    acknowledged = [path for path, answer in answers.items() if answer == SUCCESS]
    refused = [path for path, answer in answers.items() if answer != SUCCESS]
    assert acknowledged and refused
    assert {answers[path] for path in refused} == {OUT_OF_RESOURCES}
    # The index's own pages are not counted against the reserve: a little slack.
    assert shutil.disk_usage(small_disk).free > reserve - 256 * 1024
    node.wait_for_log("8.0 MB kept in reserve (storage.min_free_mb)")
    assert_archive_whole(node, old_study + acknowledged)

    # The administrator removes an old study to make room; the node takes the rest.
    removed = run_cli("rm", "--study", make_dataset(study=9).StudyInstanceUID,
                      "--data", node.data)
    assert removed.returncode == 0, removed.stderr
    assert set(send(node, refused).values()) == {SUCCESS}
    assert_archive_whole(node, files)
