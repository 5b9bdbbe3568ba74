"""SIGKILL during a busy ingest: nothing acknowledged is lost, nothing partial is seen.

Four DCMTK storescu processes send 200 instances each while the node is
killed at some moment; storescu's own log says which instances got a
success status. After a restart (no manual step), each of those is in the
index with its file readable and identical to what was sent, tmp/ is empty,
and the archive check finds index and files in agreement. The senders then
send everything again, as a modality retries, and the archive ends up whole.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable

import pytest
from pydicom import dcmread

from tests.conftest import run_cli
from tests.robust.clients import acknowledged, start_storescu, write_batches
from tests.server.helpers import (
    dataset_bytes,
    indexed,
    ready_workers,
    sop_instance_uid,
    stored_file,
)
from tui_pacs.store.staging import staged_files

pytestmark = pytest.mark.interop

SENDERS = 4
INSTANCES = 200


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    return write_batches(tmp_path_factory.mktemp("crash-input"), SENDERS, INSTANCES)


def stores_logged(node) -> int:
    return node.log().count("C-STORE ")


def send_all(node, batches) -> list[str]:
    senders = [start_storescu(node.port, files) for files in batches]
    return [sender.communicate(timeout=240)[1] for sender in senders]


# Instances the node has stored (by its log) when it is killed: before the
# first one, early, midway, and near the end; then a few milliseconds more
# (seeded), so that the kill falls at some point of a group commit.
def killed_while_storing(node, batches, kill_after: int, kill: Callable[[], None]) -> list[str]:
    """Start a storescu per batch, ``kill()`` once the node has logged
    ``kill_after`` C-STOREs (0: once an association is accepted), and return
    what each storescu said."""
    senders = [start_storescu(node.port, files) for files in batches]
    try:
        if kill_after:
            deadline = time.monotonic() + 120
            while stores_logged(node) < kill_after and time.monotonic() < deadline:
                time.sleep(0.002)
        else:
            node.wait_for_log("association accepted")
        kill()
        return [sender.communicate(timeout=120)[1] for sender in senders]
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
                sender.wait()


@pytest.mark.parametrize("kill_after", [0, 60, 350, 700])
@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "two processes"])
def test_sigkill_while_four_senders_store(start_node, batches, kill_after, workers):
    node = start_node(f"[node]\nworkers = {workers}\n")

    def kill_the_node() -> None:
        time.sleep(random.Random(kill_after).uniform(0, 0.02))
        assert node.stop(signal.SIGKILL) == -signal.SIGKILL

    outputs = killed_while_storing(node, batches, kill_after, kill_the_node)
    safe = [path for output in outputs for path in acknowledged(output)]
    assert len(safe) < SENDERS * INSTANCES, "the kill came after every instance was sent"

    restarted = start_node(data=node.data)
    assert "did not shut down cleanly" in restarted.log()
    assert staged_files(node.data / "tmp") == []
    for path in safe:
        stored = stored_file(node.data, sop_instance_uid(path))
        assert dataset_bytes(stored) == dataset_bytes(path), path
        assert dcmread(stored).SOPInstanceUID == sop_instance_uid(path)
    check = run_cli("check", "--data", node.data)
    assert check.returncode == 0, check.stdout + check.stderr

    # The modalities send again: duplicates succeed, the rest arrives.
    for output in send_all(restarted, batches):
        assert len(acknowledged(output)) == INSTANCES, output[-2000:]
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(SENDERS * INSTANCES,)]
    assert restarted.stop() == 0
    assert "Traceback" not in node.log() + restarted.log()


def test_sigkill_of_an_ingest_worker_while_four_senders_store(start_node, batches):
    """The node serves with two worker processes beside its own; one of them
    is killed while four senders store. Its association is cut; every
    instance acknowledged on any association is archived, the dead worker's
    staging files and its lanes are removed, another worker takes its place, and the
    senders' second try completes the archive."""
    node = start_node("[node]\nworkers = 3\n")
    # Four senders at once: connections go to each process in turn, so each
    # worker, once ready, serves at least one.
    killed = ready_workers(node)[0]
    outputs = killed_while_storing(node, batches, 250, lambda: os.kill(killed, signal.SIGKILL))
    safe = [path for output in outputs for path in acknowledged(output)]
    assert len(safe) < SENDERS * INSTANCES, "the killed worker's sender completed"
    log = node.wait_for_log("ended unexpectedly (signal 9); starting another")
    assert "aborted" in log and "its ingest worker process ended" in log
    deadline = time.monotonic() + 30
    while staged_files(node.data / "tmp") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staged_files(node.data / "tmp") == []
    assert not list((node.data / "tmp").glob(f"{killed}-*")), "the dead worker's lanes are left"
    for path in safe:
        stored = stored_file(node.data, sop_instance_uid(path))
        assert dataset_bytes(stored) == dataset_bytes(path), path

    for output in send_all(node, batches):
        assert len(acknowledged(output)) == INSTANCES, output[-2000:]
    assert indexed(node.data, "SELECT count(*) FROM instances") == [(SENDERS * INSTANCES,)]
    assert node.stop() == 0
    check = run_cli("check", "--data", node.data)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Traceback" not in node.log()
