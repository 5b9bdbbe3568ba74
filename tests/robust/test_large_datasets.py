"""Datasets of any size are received in bounded memory, and stored byte for byte.

The datasets are sparse files (a header, then pixel data that is a hole but
for three frames given values), so that gigabytes cost the test little disk
until the receiver writes them. DCMTK's storescu sends them; the receiving process's
peak resident memory (VmHWM) is read from /proc at the end. Before the wire
layer streamed C-STORE datasets to disk, a 1 GiB dataset took 1.1 GB.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.conftest import free_port
from tests.large_datasets import run_cli_measured, write_sparse_multiframe
from tests.server.conftest import dcmtk, run

GIB = 1 << 30
MB = 1 << 20
# The receiving process may use this much, whatever the dataset's size.
PEAK_LIMIT_KIB = 200 * 1024

pytestmark = pytest.mark.skipif(
    os.statvfs("/tmp").f_bavail * os.statvfs("/tmp").f_frsize < 12 * GIB,
    reason="needs 12 GiB of free disk for the received copies")


def sparse_dataset(path: Path, size: int, instance: int = 1) -> Path:
    """A native multi-frame of about ``size`` bytes (1024x1024 16-bit frames),
    its first, middle and last frames given values, the others a hole."""
    frames = max(1, size // (2 * MB))
    return write_sparse_multiframe(path, frames=frames, rows=1024, columns=1024,
                                   values={0: 1, frames // 2: 2, frames - 1: 3},
                                   instance=instance)


def dataset_digest(path: Path) -> str:
    """The sha256 of a Part 10 file's dataset (what follows its file meta)."""
    with open(path, "rb") as source:
        source.seek(132)
        group_length = struct.unpack("<HH2sHL", source.read(12))[4]
        source.seek(132 + 12 + group_length)
        digest = hashlib.sha256()
        while chunk := source.read(8 * MB):
            digest.update(chunk)
    return digest.hexdigest()


def store(node, *files: Path, aet: str = "MODALITY") -> subprocess.CompletedProcess:
    return run(dcmtk("storescu"), "-aet", aet, "-aec", node.aet, "127.0.0.1", node.port,
               *files, timeout=600)


def peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def archived(data: Path) -> list[Path]:
    return [path for path in (data / "storage").rglob("*.dcm")]


def test_gigabyte_datasets_are_stored_in_bounded_memory(start_node, tmp_path):
    node = start_node()
    for instance, size in enumerate((GIB, 3 * GIB), start=1):
        sent = sparse_dataset(tmp_path / "sent.dcm", size, instance)
        result = store(node, sent)
        assert result.returncode == 0, result.stderr
        [kept] = archived(node.data)
        assert kept.stat().st_size >= size
        assert dataset_digest(kept) == dataset_digest(sent)
        kept.unlink()
        sent.unlink()
    peak = peak_kib(node.process.pid)
    assert peak < PEAK_LIMIT_KIB, f"the node peaked at {peak // 1024} MB"
    assert "Traceback" not in node.log()


def test_eight_large_datasets_at_once_in_bounded_memory(start_node, tmp_path):
    node = start_node()
    sent = [sparse_dataset(tmp_path / f"sent{n}.dcm", 500 * MB, instance=n + 1)
            for n in range(8)]
    results: dict[int, subprocess.CompletedProcess] = {}

    def send(number: int) -> None:
        results[number] = store(node, sent[number], aet=f"MODALITY{number}")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.returncode == 0 for result in results.values()), results
    kept = archived(node.data)
    assert sorted(map(dataset_digest, kept)) == sorted(map(dataset_digest, sent))
    peak = peak_kib(node.process.pid)
    assert peak < PEAK_LIMIT_KIB, f"the node peaked at {peak // 1024} MB"


@pytest.mark.parametrize("command", ["get", "move"])
def test_a_retrieve_receives_a_gigabyte_in_bounded_memory(start_node, tmp_path, command):
    """`tui-pacs get` and `tui-pacs move` (to itself, with no node of its own
    listening: a listener of the command's) receive into their archive as the
    node does."""
    client_port = free_port()
    source = start_node(f'[[modalities]]\nname = "client"\naet = "CLIENT"\n'
                        f'host = "127.0.0.1"\nport = {client_port}\n')
    sent = sparse_dataset(tmp_path / "sent.dcm", GIB)
    assert store(source, sent).returncode == 0
    sent_digest = dataset_digest(sent)
    study = dcmread(sent, stop_before_pixels=True).StudyInstanceUID
    sent.unlink()
    config = tmp_path / "client.toml"
    config.write_text(
        f'[node]\naet = "CLIENT"\nport = {client_port}\n\n'
        f'[[modalities]]\nname = "source"\naet = "{source.aet}"\n'
        f'host = "127.0.0.1"\nport = {source.port}\n', encoding="utf-8")
    data = tmp_path / "client-data"
    result, peak = run_cli_measured("--config", config, "--data", data, command, "source",
                                    "-k", f"StudyInstanceUID={study}", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    [kept] = archived(data)
    assert dataset_digest(kept) == sent_digest
    assert peak < PEAK_LIMIT_KIB / 1024, f"`tui-pacs {command}` peaked at {peak:.0f} MB"
