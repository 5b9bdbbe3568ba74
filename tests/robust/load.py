"""Load on a running node: storing associations and querying ones at the same time.

Storers are DCMTK storescu processes, one association of BATCH new instances
after another, each storer filing its own study; queriers are DCMTK findscu
processes, one association per query as most viewers do, asking one query
after another (studies by name, the series of a study, the instances of a
series). Query latency is findscu's run, start-up included. Every DCMTK
program runs with TCP_NODELAY=1. Used by tests/robust/test_load.py (a short
run) and bench/load.py (the long one).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.dicom_factory import ROOT, make_dataset, write_instance
from tests.robust.clients import acknowledged
from tests.server.conftest import dcmtk

# Instances per storing association.
BATCH = 25
# SOP Instance UIDs end with a number of fixed width (no leading zero: a UID
# component may not have one), replaced in a template's bytes.
_FIRST = 1_000_000


@dataclass
class LoadReport:
    seconds: float = 0.0
    storing_associations: int = 0
    # Files storescu got a success status for.
    acknowledged: list[Path] = field(default_factory=list)
    store_failures: list[str] = field(default_factory=list)
    query_latencies: list[float] = field(default_factory=list)
    query_failures: list[str] = field(default_factory=list)
    # The resident memory of the node's processes together, sampled every
    # second (KiB), and their peak.
    rss_samples: list[int] = field(default_factory=list)
    peak_rss: int = 0

    def summary(self) -> str:
        latencies = sorted(self.query_latencies) or [0.0]
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        return (
            f"{self.seconds:.0f} s: {len(self.acknowledged)} instances stored "
            f"({len(self.acknowledged) / self.seconds:.0f}/s) over "
            f"{self.storing_associations} associations, {len(self.store_failures)} failed; "
            f"{len(self.query_latencies)} C-FINDs, {len(self.query_failures)} failed, "
            f"latency median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
            f"node RSS peak {self.peak_rss / 1024:.0f} MB "
            f"(samples {self.rss_samples[0] // 1024 if self.rss_samples else 0}"
            f"..{max(self.rss_samples, default=0) // 1024} MB)")


class _Instances:
    """New instances of one storer's study, written on demand from a template."""

    def __init__(self, directory: Path, storer: int) -> None:
        self.directory = directory
        self.marker = f"{ROOT}.{500 + storer}.{_FIRST}"
        ds = make_dataset(study=500 + storer, patient_id=f"LOAD{storer:02d}",
                          patient_name=f"LOAD^STORER{storer:02d}", rows=64, columns=64,
                          sop_uid=self.marker)
        self.template = write_instance(directory / "template.dcm", ds).read_bytes()
        self.count = 0

    def batch(self, size: int) -> list[Path]:
        paths = []
        for _ in range(size):
            self.count += 1
            number = str(_FIRST + self.count)
            uid = f"{self.marker[:-len(number)]}{number}"
            path = self.directory / f"{number}.dcm"
            path.write_bytes(self.template.replace(self.marker.encode(), uid.encode()))
            paths.append(path)
        return paths


def run_load(port: int, aet: str, node_pid: int, workdir: Path, seconds: float,
             storers: int = 32, queriers: int = 8) -> LoadReport:
    """``storers`` storing and ``queriers`` querying associations for ``seconds``."""
    report = LoadReport()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    env = dict(os.environ, TCP_NODELAY="1")

    def store(number: int) -> None:
        instances = _Instances(workdir / f"storer{number:02d}", number)
        while time.monotonic() < deadline:
            files = instances.batch(BATCH)
            result = subprocess.run(
                [dcmtk("storescu"), "-v", "-aet", f"STORER{number:02d}", "-aec", aet,
                 "127.0.0.1", str(port), *map(str, files)],
                capture_output=True, text=True, env=env, timeout=300)
            done = acknowledged(result.stderr)
            with lock:
                report.storing_associations += 1
                report.acknowledged += done
                if result.returncode != 0 or len(done) != len(files):
                    report.store_failures.append(result.stderr.strip()[-300:])

    def query(number: int) -> None:
        for keys in _queries(number):
            if time.monotonic() >= deadline:
                return
            started = time.monotonic()
            result = subprocess.run(
                [dcmtk("findscu"), "-S", "-aet", f"QUERIER{number}", "-aec", aet,
                 *(arg for key in keys for arg in ("-k", key)), "127.0.0.1", str(port)],
                capture_output=True, text=True, env=env, timeout=300)
            with lock:
                if result.returncode == 0 and "E: " not in result.stderr:
                    report.query_latencies.append(time.monotonic() - started)
                else:
                    report.query_failures.append(result.stderr.strip()[-300:])

    def sample() -> None:
        while time.monotonic() < deadline:
            report.rss_samples.append(_tree_kib(node_pid, "VmRSS"))
            time.sleep(1)

    started = time.monotonic()
    threads = [threading.Thread(target=store, args=(n,)) for n in range(storers)]
    threads += [threading.Thread(target=query, args=(n,)) for n in range(queriers)]
    threads.append(threading.Thread(target=sample))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.monotonic() - started
    report.peak_rss = _tree_kib(node_pid, "VmHWM")
    return report


def _queries(number: int) -> Iterator[list[str]]:
    """What a viewer asks, over and over (findscu keys): studies by name, a
    study's series, a series' instances."""
    study = make_dataset(study=500 + number % 32)
    while True:
        yield ["QueryRetrieveLevel=STUDY", "PatientName=LOAD^STORER1*", "StudyInstanceUID",
               "NumberOfStudyRelatedInstances"]
        yield ["QueryRetrieveLevel=SERIES", f"StudyInstanceUID={study.StudyInstanceUID}",
               "SeriesInstanceUID", "NumberOfSeriesRelatedInstances"]
        yield ["QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={study.StudyInstanceUID}",
               f"SeriesInstanceUID={study.SeriesInstanceUID}", "SOPInstanceUID"]


def _tree_kib(pid: int, key: str) -> int:
    """``key`` of /proc's status summed over the node's process and its ingest
    workers (for VmHWM, each one's own peak: at least the peak of the sum)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    workers = [int(child) for child in children.read_text().split()] if children.exists() else []
    return sum(_status_kib(process, key) for process in (pid, *workers))


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass  # a worker that ended meanwhile
    return 0
