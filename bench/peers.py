"""DICOM peers for the benchmarks, started on loopback in a temp directory.

DCMTK 3.6.7 and Orthanc 1.10 leave Nagle's algorithm on unless their
environment has TCP_NODELAY=1: every DCMTK program and Orthanc started here
gets it (their best case). tui-pacs sets TCP_NODELAY itself. pynetdicom's
bundled apps never set it, and no environment variable changes that.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.server.programs import compiled_program  # noqa: E402

NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def program(name: str) -> str:
    """A compiled DCMTK or Orthanc program, or exit saying it is missing."""
    found = compiled_program(name)
    if found is None:
        raise SystemExit(f"bench: {name} is not installed (apt-get install dcmtk orthanc)")
    return found


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on port {port} after {timeout:g} s")


@dataclass
class Peer:
    """A running receiver: its name in the report, AE title and port."""

    name: str
    aet: str
    port: int
    process: subprocess.Popen
    # tui-pacs's data directory, where `tui-pacs status` finds the node.
    data: Path | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def running(peer: Peer) -> Iterator[Peer]:
    try:
        wait_for_port(peer.port)
        if peer.data is not None:
            wait_for_ingest_processes(peer.data)
        yield peer
    finally:
        peer.stop()


def wait_for_ingest_processes(data: Path, timeout: float = 60.0) -> None:
    """Until all of tui-pacs's ingest processes serve (`tui-pacs status`): a
    worker process takes connections once it is ready, and until then the
    node serves them all in its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = subprocess.run([sys.executable, "-m", "tui_pacs", "status", "--data", str(data),
                                 "--json"], capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        if answer.stdout:
            ingest = json.loads(answer.stdout)["sections"].get("ingest")
            if ingest is None or ingest["processes"]["starting"] == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"bench: tui-pacs's ingest processes are not all serving after {timeout:g} s")


def tui_pacs(directory: Path, config: str = "", aet: str = "TUIPACS") -> Peer:
    port = free_port()
    config_path = directory / "tui-pacs.toml"
    config_path.write_text(config, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_pacs", "serve", "--config", str(config_path), "--data",
         str(directory / "data"), "--port", str(port), "--bind", "127.0.0.1", "--aet", aet],
        stdout=subprocess.DEVNULL, stderr=open(directory / "tui-pacs.log", "wb"), env=env)
    return Peer("tui-pacs", aet, port, process, data=directory / "data")


def dcmtk_storescp(directory: Path) -> Peer:
    port = free_port()
    out = directory / "storescp"
    out.mkdir(parents=True)
    process = subprocess.Popen(
        [program("storescp"), "-aet", "STORESCP", "+xa", "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=NODELAY_ENV)
    return Peer("DCMTK storescp", "STORESCP", port, process)


def pynetdicom_storescp(directory: Path) -> Peer:
    port = free_port()
    out = directory / "pynetdicom"
    out.mkdir(parents=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "pynetdicom", "storescp", "-q", "-aet", "PYNETDICOM",
         "-od", str(out), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Peer("pynetdicom storescp app", "PYNETDICOM", port, process)


def orthanc(directory: Path, **options: object) -> Peer:
    """Orthanc with its own storage, index and free ports; REST on loopback only.
    ``options`` are more configuration keys (e.g. DicomAlwaysAllowFind=True)."""
    port, http = free_port(), free_port()
    home = directory / "orthanc"
    home.mkdir(parents=True)
    config = {
        "Name": "bench", "StorageDirectory": str(home / "storage"),
        "IndexDirectory": str(home / "index"), "DicomPort": port, "HttpPort": http,
        "DicomAet": "ORTHANC", "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False, "Plugins": [], "DicomModalities": {}, **options,
    }
    (home / "config.json").write_text(json.dumps(config), encoding="utf-8")
    process = subprocess.Popen([program("Orthanc"), str(home / "config.json")],
                               stdout=subprocess.DEVNULL, stderr=open(home / "log.txt", "wb"),
                               env=NODELAY_ENV)
    peer = Peer("Orthanc", "ORTHANC", port, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/system", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"bench: Orthanc did not start; see {home / 'log.txt'}") from None
            time.sleep(0.1)
    return peer


def send(peer: Peer, groups: Sequence[Sequence[Path]], *options: str) -> float:
    """Seconds for one storescu per group, all at once, each in one association
    (process start-up included, as a modality would pay it)."""
    started = time.perf_counter()
    senders = [
        subprocess.Popen(
            [program("storescu"), *options, "-aec", peer.aet, "127.0.0.1", str(peer.port),
             *map(str, files)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=NODELAY_ENV)
        for files in groups
    ]
    for sender in senders:
        _, errors = sender.communicate()
        if sender.returncode != 0:
            raise SystemExit(f"bench: storescu to {peer.name} failed: {errors.strip()[-500:]}")
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process ``pid`` and every process
    below it: its threads, its live descendants, and the children it has reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(map(int, fields[11:15 if int(entry.name) == pid
                                                        else 13])) / tick
    tree = {pid}
    for candidate in sorted(parents):
        ancestor = candidate
        while ancestor in parents and ancestor not in tree and ancestor > 1:
            ancestor = parents[ancestor]
        if ancestor in tree:
            tree.add(candidate)
    return sum(times.get(member, 0.0) for member in tree)


def clean(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
