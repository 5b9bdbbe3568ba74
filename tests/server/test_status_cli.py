"""`tui-pacs status` against a running `tui-pacs serve`: the figures, the exit
statuses, and the status socket's place in the data directory."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.dicom_factory import write_study
from tests.server.conftest import dcmtk, run
from tests.server.helpers import indexed, ready_workers
from tui_pacs.services.status_socket import SOCKET_NAME

pytestmark = pytest.mark.interop


def status(data: Path, *args: str):
    return run_cli("status", "--data", data, *args, timeout=60)


def test_status_counts_what_storescu_sent(start_node, tmp_path):
    node = start_node("[node]\nworkers = 1\n")
    files = write_study(tmp_path / "in", study=5, series=2, instances=4)
    sent = run(dcmtk("storescu"), "-aet", "CT1", "-aec", node.aet, "127.0.0.1", node.port,
               *files)
    assert sent.returncode == 0, sent.stderr
    [(instances, size)] = indexed(node.data, "SELECT count(*), sum(file_size) FROM instances")
    assert instances == 8

    result = status(node.data, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["version"] == 1 and report["healthy"] is True and report["attention"] == []
    assert report["node"]["aet"] == "TUIPACS" and report["node"]["pid"] == node.process.pid
    assert report["node"]["listening"] == [{"address": "127.0.0.1", "port": node.port,
                                            "tls": False}]
    assert report["associations"]["since_start"] == 1
    assert report["today"]["instances"] == 8 and report["today"]["bytes"] == size
    assert report["archive"] == {"studies": 1, "instances": 8, "bytes": size}
    assert report["disk"]["reserve_bytes"] == 64 * 1_048_576
    assert report["disk"]["below_reserve"] is False
    assert report["last_errors"] == [] and report["sections"] == {"retention": {}, "forwarding": {}}

    result = status(node.data)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "TUIPACS: healthy"
    assert lines[1].startswith("data          /") and lines[1].endswith("/node0-data")
    assert f"listening     127.0.0.1:{node.port}" in lines
    assert "today         8 instances, " in result.stdout
    assert "archive       1 study, 8 instances, " in result.stdout
    assert all(len(line) <= 80 for line in lines)


def test_status_says_how_many_ingest_processes_serve(start_node):
    """A node with ingest workers says how many of its processes take
    connections: a script (or the benchmark) waits for all of them."""
    node = start_node("[node]\nworkers = 3\n")
    ready_workers(node)

    result = status(node.data, "--json")
    assert result.returncode == 0, result.stderr
    sections = json.loads(result.stdout)["sections"]
    assert sections["ingest"] == {"processes": {"serving": 3, "starting": 0}}
    result = status(node.data)
    assert "ingest        processes: serving 3, starting 0" in result.stdout.splitlines()


def test_no_node_is_exit_3(tmp_path):
    result = status(tmp_path / "data")
    assert result.returncode == 3
    assert result.stderr == f"tui-pacs: no node runs on {tmp_path / 'data'} (no status.sock)\n"
    assert result.stdout == ""


def test_a_reserve_larger_than_the_disk_needs_attention(start_node):
    node = start_node("[storage]\nmin_free_mb = 10000000\n")
    result = status(node.data)
    assert result.returncode == 1
    assert result.stdout.startswith("TUIPACS: needs attention\n")
    attention = result.stdout.split("needs attention:\n")[1]
    assert " ".join(attention.split()).startswith("- disk: ")
    assert "below the reserve of 9.5 TB (storage.min_free_mb): C-STORE is refused" \
        in " ".join(attention.split())
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    report = json.loads(status(node.data, "--json").stdout)
    assert report["disk"]["below_reserve"] is True and report["healthy"] is False


def test_the_socket_is_the_owners_only_and_goes_with_a_clean_stop(start_node, tmp_path):
    # Deeper than an AF_UNIX address may be long: the socket is bound all the same.
    data = tmp_path / ("deep" * 30) / "data"
    node = start_node(data=data)
    path = data / SOCKET_NAME
    assert len(str(path)) > 108
    mode = os.lstat(path)
    assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o600
    assert mode.st_uid == os.getuid()
    assert status(data).returncode == 0
    assert node.stop(signal.SIGTERM) == 0
    assert not path.exists()
    assert status(data).returncode == 3


def test_a_killed_nodes_socket_says_no_node_and_is_replaced(start_node, tmp_path):
    first = start_node()
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert stat.S_ISSOCK(os.lstat(first.data / SOCKET_NAME).st_mode)
    result = status(first.data)
    assert result.returncode == 3
    assert "its socket is left from a node that did not stop cleanly" in result.stderr

    second = start_node(data=first.data)
    assert "replaced the status socket of a node that did not stop cleanly" in second.log()
    report = json.loads(status(first.data, "--json").stdout)
    assert report["node"]["pid"] == second.process.pid


def test_symbolic_links_at_the_sockets_place_are_not_followed(start_node, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("kept", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / SOCKET_NAME).symlink_to(victim)
    node = start_node(data=data)
    assert victim.read_text(encoding="utf-8") == "kept"
    assert stat.S_ISSOCK(os.lstat(data / SOCKET_NAME).st_mode)
    assert f"removed a symbolic link at {data / SOCKET_NAME} (not followed)" in node.log()

    # A link to a live node's socket is not asked either.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / SOCKET_NAME).symlink_to(data / SOCKET_NAME)
    result = status(elsewhere)
    assert result.returncode == 1
    assert result.stderr == (f"tui-pacs: {elsewhere / SOCKET_NAME} is not a socket "
                             "(not asked)\n")


# A client another user runs: the system's Python, with the standard library only.
RAW_CLIENT = """
import socket, sys
sock = socket.socket(socket.AF_UNIX)
try:
    sock.connect(sys.argv[1])
except PermissionError:
    print("permission denied")
else:
    sock.sendall(b'{"request": "status"}\\n')
    print(sock.makefile().readline().strip())
"""


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs root (to ask as another user) and /usr/bin/python3")
def test_another_user_is_refused(start_node):
    # Where another user may reach the socket (pytest's folders are root's only).
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        os.chmod(folder, 0o755)
        node = start_node(data=Path(folder) / "data")
        path = node.data / SOCKET_NAME

        def as_nobody() -> str:
            return subprocess.run(["/usr/bin/python3", "-c", RAW_CLIENT, str(path)],
                                  user=65534, capture_output=True, text=True, cwd="/",
                                  timeout=60).stdout.strip()

        assert as_nobody() == "permission denied"  # mode 0600
        os.chmod(path, 0o666)  # past the mode, the node checks who asks
        assert as_nobody() == '{"error": "only the node\'s user may ask it"}'
        node.stop()
