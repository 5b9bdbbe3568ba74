"""`tui-pacs serve` as a sysadmin runs it: start-up, log lines, signals, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import free_port, run_cli
from tests.server.conftest import dcmtk, run

pytestmark = pytest.mark.interop


def test_echo_is_logged_and_sigterm_stops_cleanly(start_node):
    node = start_node()
    result = run(dcmtk("echoscu"), "-aet", "PROBE", "-aec", node.aet, "127.0.0.1", node.port)
    assert result.returncode == 0, result.stderr
    log = node.wait_for_log("association released")
    assert "C-ECHO  PROBE@127.0.0.1 -> TUIPACS  0x0000 success" in log
    assert "association accepted PROBE@127.0.0.1 -> TUIPACS" in log
    assert node.stop(signal.SIGTERM) == 0
    log = node.log()
    assert "stopping (SIGTERM)" in log and "the index is closed" in log
    assert "Traceback" not in log


def test_sigint_stops_with_status_0(start_node):
    node = start_node()
    assert node.stop(signal.SIGINT) == 0
    assert "stopping (SIGINT)" in node.log()


def test_port_in_use_is_one_line_and_status_1(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--data", tmp_path / "data", "--port", port,
                         "--bind", "127.0.0.1", timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (f"tui-pacs: cannot listen on 127.0.0.1:{port}: the port is already "
                         "in use (another DICOM node, or tui-pacs already running?)")
    assert "Traceback" not in result.stderr


def test_address_not_on_this_machine_is_one_line(tmp_path):
    result = run_cli("serve", "--data", tmp_path / "data", "--port", free_port(),
                     "--bind", "192.0.2.1", timeout=60)
    assert result.returncode == 1
    assert "cannot listen on 192.0.2.1:" in result.stderr
    assert "this machine has no such address" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--aet", "A" * 17], "--aet 'AAAAAAAAAAAAAAAAA': the AE title is 17 characters long"),
    (["--port", "70000"], "70000 is not a port number"),
    (["--log-format", "xml"], "invalid choice: 'xml'"),
])
def test_bad_options_are_usage_errors(tmp_path, args, message):
    result = run_cli("serve", "--data", tmp_path / "data", *args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


def test_json_log_lines(start_node):
    node = start_node("", "--log-format", "json")
    run(dcmtk("echoscu"), "-aet", "PROBE", "-aec", node.aet, "127.0.0.1", node.port)
    node.wait_for_log('"kind": "released"')
    node.stop()
    entries = [json.loads(line) for line in node.log().splitlines() if line.strip()]
    echo = next(e for e in entries if e.get("service") == "C-ECHO")
    assert echo["calling_aet"] == "PROBE" and echo["called_aet"] == "TUIPACS"
    assert echo["peer"] == "127.0.0.1" and echo["status"] == "0x0000"
    assert echo["status_category"] == "success" and echo["duration_s"] >= 0
    released = next(e for e in entries if e.get("kind") == "released")
    assert released["event"] == "association" and released["duration_s"] > 0


def test_sigterm_during_a_transfer_loses_nothing_acknowledged(start_node, tmp_path):
    from tests.dicom_factory import make_dataset, write_instance
    from tests.server.helpers import indexed, sop_instance_uid

    node = start_node()
    files = [write_instance(tmp_path / "in" / f"{n:03d}.dcm",
                            make_dataset(instance=n, rows=256, columns=256))
             for n in range(1, 201)]
    sender = subprocess.Popen([dcmtk("storescu"), "-v", "-aec", node.aet, "127.0.0.1",
                               str(node.port), *map(str, files)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        node.wait_for_log("instances=1", timeout=60)
        while node.log().count("C-STORE") < 20 and sender.poll() is None:
            time.sleep(0.01)
        assert node.stop(signal.SIGTERM) == 0
        _, output = sender.communicate(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
    acknowledged = output.count("Received Store Response (Success)")
    assert 20 <= acknowledged < 200
    stored = {row[0] for row in indexed(node.data, "SELECT sop_uid FROM instances")}
    # storescu sends in order: the first `acknowledged` files are safe with us.
    assert {sop_instance_uid(p) for p in files[:acknowledged]} <= stored
    log = node.log()
    assert "association aborted" in log and "the index is closed" in log
