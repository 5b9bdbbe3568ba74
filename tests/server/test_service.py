"""`tui-pacs serve` under systemd: ready once it listens, reloaded by SIGHUP.

systemd is played by a datagram socket the test binds and passes as
NOTIFY_SOCKET; the node's messages on it are the events the tests wait for.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.dicom_factory import make_dataset, write_instance, write_study
from tests.server.conftest import dcmtk, run
from tests.server.helpers import indexed, ready_workers, sop_instance_uid, worker_processes
from tests.server.systemd import NotifySocket

pytestmark = pytest.mark.interop


@pytest.fixture
def notify():
    sock = NotifySocket()
    yield sock
    sock.close()


def ready_node(start_node, notify: NotifySocket, config: str = ""):
    """A node started as systemd starts it, once it said READY=1."""
    node = start_node(config, env=notify.env, wait=False)
    notify.wait_for("READY")
    return node


def reload(node, notify: NotifySocket, config: str) -> None:
    """Write the config file, send SIGHUP, wait for the reload to end (READY=1)."""
    node.config.write_text(config, encoding="utf-8")
    node.process.send_signal(signal.SIGHUP)
    reloading = notify.wait_for("RELOADING")
    assert int(reloading["MONOTONIC_USEC"]) > 0
    notify.wait_for("READY")


def stored(node, aet: str, files: list[Path]) -> set[str]:
    """Send ``files`` with DCMTK's storescu as ``aet``: the SOP Instance UIDs now indexed."""
    run(dcmtk("storescu"), "-aet", aet, "-aec", node.aet, "127.0.0.1", node.port, *files)
    uids = {sop_instance_uid(path) for path in files}
    return {uid for (uid,) in indexed(node.data, "SELECT sop_uid FROM instances")} & uids


def test_ready_once_the_port_accepts_and_stopping_on_sigterm(start_node, notify):
    node = start_node(env=notify.env, wait=False)
    ready = notify.wait_for("READY")
    # Nothing waited for but the message: the port answers at once.
    echo = run(dcmtk("echoscu"), "-aet", "PROBE", "-aec", node.aet, "127.0.0.1", node.port)
    assert echo.returncode == 0, echo.stderr
    assert ready == {"READY": "1", "STATUS": f"listening on 127.0.0.1:{node.port} as TUIPACS"}
    node.process.send_signal(signal.SIGTERM)
    assert notify.wait_for("STOPPING")["STOPPING"] == "1"
    assert node.stop() == 0


def test_a_notify_socket_path_works_too(start_node):
    # systemd's own socket is a path; a short one, as AF_UNIX addresses are.
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as folder:
        notify = NotifySocket(Path(folder) / "notify")
        try:
            node = ready_node(start_node, notify)
            echo = run(dcmtk("echoscu"), "-aec", node.aet, "127.0.0.1", node.port)
            assert echo.returncode == 0, echo.stderr
        finally:
            notify.close()


def test_no_ready_when_the_node_cannot_listen(start_node, notify):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        node = start_node(env=notify.env, wait=False, port=busy.getsockname()[1])
        assert node.process.wait(60) == 1
    assert "the port is already in use" in node.log()
    assert notify.waiting() == []


def test_sighup_during_a_transfer_drops_nothing(start_node, notify, tmp_path):
    node = ready_node(start_node, notify, '[access]\nfind = ["@modalities"]\n')
    files = [write_instance(tmp_path / "in" / f"{n:03d}.dcm",
                            make_dataset(instance=n, rows=256, columns=256))
             for n in range(1, 301)]
    sender = subprocess.Popen([dcmtk("storescu"), "-v", "-aet", "CT1", "-aec", node.aet,
                               "127.0.0.1", str(node.port), *map(str, files)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert sender.stderr is not None
        acknowledged = 0
        for line in sender.stderr:  # storescu's own account, line by line as it goes
            acknowledged += "Received Store Response (Success)" in line
            if acknowledged == 20:
                break
        reload(node, notify, '[access]\nfind = ["CT1"]\n\n[[modalities]]\nname = "pacs"\n'
                             'aet = "PACS"\nhost = "127.0.0.1"\nport = 104\n')
        _, rest = sender.communicate(timeout=120)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
    assert sender.returncode == 0
    assert acknowledged + rest.count("Received Store Response (Success)") == 300
    assert len(indexed(node.data, "SELECT sop_uid FROM instances")) == 300
    log = node.wait_for_log("association released CT1@")
    changed = log.index("modalities: added pacs: aet PACS, host 127.0.0.1, port 104, tls off")
    # The reload came while the association ran, which went on to the end.
    assert log.index("association accepted CT1@") < changed < log.index(
        "association released CT1@")
    assert "access: allowed calling AE titles for find now CT1 (was the configured " \
           "modalities)" in log
    assert log.count("association accepted") == 1 and "aborted" not in log


def test_a_hang_up_sent_to_the_whole_group_reloads_and_keeps_every_worker(
        start_node, notify, tmp_path):
    """A terminal that hangs up (an SSH connection dropped) signals its whole
    process group: the node reloads, and its worker processes, out of the
    terminal's reach, go on serving the associations they have."""
    node = ready_node(start_node, notify, "[node]\nworkers = 2\n")
    workers = ready_workers(node)
    assert len(workers) == 1
    files = [write_instance(tmp_path / "in" / f"{n:03d}.dcm",
                            make_dataset(instance=n, rows=128, columns=128))
             for n in range(1, 301)]
    # Connections go to each process in turn: two senders keep both busy.
    senders = [subprocess.Popen([dcmtk("storescu"), "-v", "-aec", node.aet, "127.0.0.1",
                                 str(node.port), *map(str, half)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for half in (files[:150], files[150:])]
    acknowledged = 0
    try:
        for sender in senders:
            assert sender.stderr is not None
            for line in sender.stderr:  # each one's first success, then the hang-up
                if "Received Store Response (Success)" in line:
                    acknowledged += 1
                    break
        os.killpg(node.process.pid, signal.SIGHUP)
        notify.wait_for("RELOADING")
        notify.wait_for("READY")
        for sender in senders:
            _, rest = sender.communicate(timeout=120)
            assert sender.returncode == 0, rest[-2000:]
            acknowledged += rest.count("Received Store Response (Success)")
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
    assert acknowledged == 300
    assert len(indexed(node.data, "SELECT sop_uid FROM instances")) == 300
    assert worker_processes(node) == workers
    # A worker's lines reach the node's log a moment after its peer is done.
    log = node.wait_for_count("association released", 2)
    assert "ended unexpectedly" not in log and "aborted" not in log


def test_access_rules_reload_for_the_next_association_and_a_broken_file_is_refused(
        start_node, notify, tmp_path):
    node = ready_node(start_node, notify, '[access]\nstore = ["*"]\n')
    batches = [write_study(tmp_path / f"batch{n}", study=n, instances=2) for n in range(1, 6)]
    assert stored(node, "OTHER", batches[0]) == {sop_instance_uid(p) for p in batches[0]}

    reload(node, notify, '[access]\nstore = ["CT1"]\n')
    assert "access: allowed calling AE titles for store now CT1 (was anyone)" in node.log()
    assert stored(node, "OTHER", batches[1]) == set()
    node.wait_for_log("C-STORE OTHER@127.0.0.1 -> TUIPACS  0x0124 failure")
    assert len(stored(node, "CT1", batches[2])) == 2

    reload(node, notify, '[access]\nstore = "CT1"\n')  # not a list
    refusal = f"reload refused, the settings in use are kept: {node.config}: access.store: " \
              "must be a list of AE titles"
    assert refusal in node.log()
    assert stored(node, "OTHER", batches[3]) == set()  # the old rules still apply
    assert len(stored(node, "CT1", batches[4])) == 2
    # The refusal is an error the status reports until it is old.
    status = run_cli("status", "--data", node.data)
    assert status.returncode == 1
    assert "1 error logged in the last 15 minutes" in status.stdout


def test_sections_applied_only_at_start_are_named_not_applied(start_node, notify):
    node = ready_node(start_node, notify, "[limits]\nmax_associations = 8\n")
    reload(node, notify, "[limits]\nmax_associations = 2\n[storage]\nmin_free_mb = 1\n")
    assert "applied only at the next start: [storage], [limits]" in node.log()
    node.config.unlink()
    node.process.send_signal(signal.SIGHUP)
    notify.wait_for("READY")
    assert f"reload refused, the settings in use are kept: {node.config}: no such file" \
        in node.log()
    echo = run(dcmtk("echoscu"), "-aec", node.aet, "127.0.0.1", node.port)
    assert echo.returncode == 0
