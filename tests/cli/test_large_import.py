"""``tui-pacs import`` of a 3 GiB file: copied a chunk at a time, its header read alone.

The file is sparse (tests/large_datasets.py), so it costs nothing to make;
the archive's copy is written out in full. Peak memory is the import
process's own, from the kernel: a copy through memory would take 3 GiB.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.dicom_factory import make_dataset
from tests.large_datasets import run_cli_measured, sha256, write_sparse_multiframe
from tui_pacs.store.layout import instance_relpath

GIB = 1 << 30
FRAMES, SIDE = 1536, 1024  # 2 MiB a frame
PEAK_MB = 200


@pytest.mark.slow
def test_importing_a_3_gib_file_keeps_memory_bounded(tmp_path):
    source = tmp_path / "in" / "large.dcm"
    source.parent.mkdir()
    write_sparse_multiframe(source, frames=FRAMES, rows=SIDE, columns=SIDE,
                            values={0: 1, FRAMES // 2: 2, FRAMES - 1: 3})
    assert source.stat().st_size > 3 * GIB
    data = tmp_path / "data"

    result, peak = run_cli_measured("import", source, "--data", data, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("1 imported, 0 duplicate(s)")
    assert peak < PEAK_MB, f"import peaked at {peak:.0f} MB"

    identifiers = make_dataset()
    relpath = instance_relpath(identifiers.StudyInstanceUID, identifiers.SOPInstanceUID)
    archived = data.joinpath(*relpath.split("/"))
    assert archived.stat().st_size == source.stat().st_size
    assert sha256(archived) == sha256(source)
    [row] = json.loads(run_cli("ls", "--level", "instance", "--json", "--data", data).stdout)
    assert row["NumberOfFrames"] == FRAMES and row["Rows"] == SIDE
