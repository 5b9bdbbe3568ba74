"""A whole job in the installed app, in a real terminal at 80x24, against a real Orthanc:
Remotes (echo, q), Query (the results, m), Activity, then quit. What Pilot cannot
show: the keys reach the app through a terminal and the screens fit it."""

from __future__ import annotations

import json
import os

import pytest
from pydicom import dcmread

from tests.conftest import cli_env, run_cli
from tests.dicom_factory import write_study
from tests.peers.ports import free_port
from tests.ui.test_ui_cli import read_until, spawn, wait_exit

pytestmark = pytest.mark.interop


def archived_instances(data, study_uid: str) -> set[str]:
    """What ``tui-pacs ls`` finds of the study in the archive the app ran on."""
    result = run_cli("ls", "--data", data, "--level", "instance", "--json",
                     "-k", f"StudyInstanceUID={study_uid}")
    assert result.returncode == 0, result.stderr
    return {row["SOPInstanceUID"] for row in json.loads(result.stdout)}


def test_echo_query_retrieve_and_quit_at_80x24(orthanc_factory, tmp_path):
    port = free_port()
    server = orthanc_factory(modalities={"tuipacs": ("TUIPACS", "127.0.0.1", port)})
    files = write_study(tmp_path / "seed", study=7, series=1, instances=4, patient_id="PTY7",
                        patient_name="PTY^JOB", study_date="20240115")
    server.upload(*files)
    config = tmp_path / "config.toml"
    config.write_text(f'[node]\naet = "TUIPACS"\nport = {port}\nbind = "127.0.0.1"\n\n'
                      f'[[modalities]]\nname = "pacs"\naet = "{server.aet}"\n'
                      f'host = "127.0.0.1"\nport = {server.dicom_port}\n', encoding="utf-8")
    data = tmp_path / "data"
    env = {**cli_env(), "TERM": "xterm-256color", "TUI_PACS_CONFIG": str(config)}
    pid, fd = spawn(["--data", str(data)], env)
    try:
        read_until(fd, f":{port}".encode())
        os.write(fd, b"3")  # Remotes
        read_until(fd, b"remote modality")
        os.write(fd, b"e")  # echo the highlighted (only) modality
        read_until(fd, b" ms")  # the Last echo column: "ok 1.2 ms"
        os.write(fd, b"q")  # Query, asked at once
        read_until(fd, b"PTY^JOB")
        os.write(fd, b"m")  # retrieve by C-MOVE to this node
        read_until(fd, b"Transfer done")
        os.write(fd, b"4")  # Activity has the move
        read_until(fd, b"C-MOVE")
        os.write(fd, b"\x11")  # ctrl+q: nothing running any more
        assert wait_exit(pid, fd) == 0
    finally:
        os.close(fd)
    sent = [dcmread(f, stop_before_pixels=True) for f in files]
    assert archived_instances(data, sent[0].StudyInstanceUID) == {
        ds.SOPInstanceUID for ds in sent}
