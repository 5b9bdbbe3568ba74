"""C-ECHO: round trips, and a diagnosis for each way a connection can fail.

The failures are provoked with small in-process peers on loopback: a
pynetdicom SCP that refuses us, sockets that never answer.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from tests.conftest import cli_env
from tests.peers.ports import free_port
from tui_pacs.core.diagnosis import connection_refused
from tui_pacs.core.remote import Failure
from tui_pacs.core.target import Target


@pytest.fixture
def verification_scp():
    """A pynetdicom Verification SCP, called VERIFY, that knows only the AE title KNOWN."""
    ae = AE(ae_title="VERIFY")
    ae.add_supported_context(Verification)
    ae.require_calling_aet = ["KNOWN", "TUIPACS"]
    ae.require_called_aet = True
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    yield Target("VERIFY", "127.0.0.1", port)
    server.shutdown()


# What `tui-pacs echo` must not load: the app, the archive, pixel libraries
# (pydicom imports numpy and Pillow whenever it can; half of echo's start-up).
NOT_FOR_ECHO = ("textual", "aiosqlite", "sqlite3", "numpy", "PIL", "pylibjpeg", "openjpeg",
                "jpeg_ls", "tui_pacs.ui", "tui_pacs.store.archive", "tui_pacs.imaging.pipeline")


def test_the_echo_command_loads_only_what_it_needs(verification_scp):
    """`tui-pacs echo` as a user runs it (a process of its own), against a
    real SCP; what it loaded is looked up as it exits, and whether the cycle
    collector, paused while pydicom and pynetdicom loaded, runs again."""
    unwanted = ", ".join(repr(name) for name in NOT_FOR_ECHO)
    code = (
        "import atexit, gc, runpy, sys\n"
        "atexit.register(lambda: print('loaded:', sorted(m for m in (" + unwanted + ") "
        "if sys.modules.get(m) is not None), file=sys.stderr))\n"
        "atexit.register(lambda: print('collector on:', gc.isenabled(), "
        "'frozen:', gc.get_freeze_count() > 10000, file=sys.stderr))\n"
        f"sys.argv = ['tui-pacs', 'echo', '--aet', 'KNOWN', '{verification_scp}']\n"
        "runpy.run_module('tui_pacs', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "1 of 1 succeeded" in result.stdout
    assert "loaded: []" in result.stderr.splitlines(), result.stderr
    assert "collector on: True frozen: True" in result.stderr.splitlines(), result.stderr


async def test_echo_times_each_round_trip(client, verification_scp):
    report = await client.echo(verification_scp, count=3)
    assert report.ok, report.diagnosis
    assert len(report.echoes) == 3 and all(e.ok and e.seconds > 0 for e in report.echoes)
    assert report.connection.address == "127.0.0.1"
    assert report.connection.local_address == "127.0.0.1"


async def test_unknown_calling_ae_title_is_spelled_out(client, settings, verification_scp):
    from tui_pacs.services.client import RemoteClient

    stranger = RemoteClient(settings, calling_aet="STRANGER")
    report = await stranger.echo(verification_scp)
    assert report.diagnosis.failure is Failure.ASSOCIATION_REJECTED
    assert "calling AE title not recognised" in report.diagnosis.summary
    assert any("STRANGER" in line and "on the remote" in line
               for line in report.diagnosis.advice)


async def test_wrong_called_ae_title_is_spelled_out(client, verification_scp):
    wrong = Target("NOTVERIFY", verification_scp.host, verification_scp.port)
    report = await client.echo(wrong)
    assert report.diagnosis.failure is Failure.ASSOCIATION_REJECTED
    assert "called AE title not recognised" in report.diagnosis.summary


async def test_refused_connection(client):
    report = await client.echo(Target("NOBODY", "127.0.0.1", free_port()))
    assert report.diagnosis.failure is Failure.CONNECTION_REFUSED
    assert report.diagnosis.failure.exit_code == 4
    advice = " ".join(report.diagnosis.advice)
    assert "on this host: check that the DICOM service is running" in advice
    assert "not only on 127.0.0.1" not in advice


def test_refused_elsewhere_suggests_the_remote_listens_on_loopback_only():
    target = Target("PACS", "10.0.0.5", 104)
    advice = connection_refused(target, "10.0.0.5").advice
    assert "listens on this address, not only on 127.0.0.1" in advice[-1]
    assert "on this host" in " ".join(connection_refused(target, "::1").advice)


async def test_unresolvable_name(client):
    report = await client.echo(Target("PACS", "no-such-host.invalid", 104))
    assert report.diagnosis.failure is Failure.NAME_RESOLUTION
    assert "no-such-host.invalid" in report.diagnosis.summary


async def test_verification_not_accepted(client):
    ae = AE(ae_title="STOREONLY")
    ae.add_supported_context(CTImageStorage)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    try:
        report = await client.echo(Target("STOREONLY", "127.0.0.1", port))
    finally:
        server.shutdown()
    assert report.diagnosis.failure is Failure.SERVICE_NOT_ACCEPTED
    assert "Verification SOP Class: not supported" in report.diagnosis.summary


@pytest.fixture
def silent_port():
    """A TCP port that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


async def test_no_answer_to_the_association_request(client, silent_port):
    report = await client.echo(Target("SILENT", "127.0.0.1", silent_port), timeout=0.5)
    assert report.diagnosis.failure is Failure.NO_ASSOCIATION_ANSWER
    assert "within 0.5 s" in report.diagnosis.summary


async def test_connection_closed_without_an_answer(client):
    listener = socket.create_server(("127.0.0.1", 0))

    def slam() -> None:
        conn, _ = listener.accept()
        conn.close()

    threading.Thread(target=slam, daemon=True).start()
    try:
        report = await client.echo(Target("SLAM", "127.0.0.1", listener.getsockname()[1]))
    finally:
        listener.close()
    assert report.diagnosis.failure is Failure.ASSOCIATION_ABORTED
    assert "closed it" in report.diagnosis.summary


async def test_connection_timeout(client):
    # A listening socket whose backlog is full drops further SYNs: the connect times out.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        report = await client.echo(Target("FULL", "127.0.0.1", port), timeout=0.5)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert report.diagnosis.failure is Failure.CONNECTION_TIMEOUT
    assert "firewall" in report.diagnosis.advice[0]
