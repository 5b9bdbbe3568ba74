"""C-FIND at STUDY level with DCMTK's findscu: tui-pacs beside Orthanc holding
the same studies, and tui-pacs alone over a large index.

Side by side: ``--studies`` studies (``--instances-per-study`` small images
each) written as files and sent to tui-pacs and to Orthanc with four storescu.
Large: ``--large-studies`` studies (five instances in two series each)
inserted straight into a fresh archive's index, in the writer's schema with
the counts and computed keys it keeps (C-FIND answers from the index alone,
so no files are written): what loading them through C-STORE would take
minutes to build. Orthanc gets only the side-by-side set: it would take about
ten minutes to load half a million instances.

Queries: every study; a PatientName prefix wildcard (SMI*); a one-year
StudyDate range; one exact StudyInstanceUID. Times are for a whole findscu
run (start-up included), median of three, with the CPU time the node's
process spent on each (the machine is shared: CPU time moves less than wall
time); the match counts come from a separate run. The node's resident
memory is sampled while it answers (peak, beside what it held before).

    python bench/find.py [--studies 2000] [--instances-per-study 10]
                         [--large-studies 100000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import NODELAY_ENV, Peer, orthanc, program, running, send, tui_pacs  # noqa: E402
from tests.dicom_factory import make_dataset, uid, write_instance  # noqa: E402
from tests.index_factory import (  # noqa: E402
    INSTANCES_PER_STUDY,
    make_index,
    patient_of,
    study_date,
)

RETURN_KEYS = ["PatientName", "PatientID", "StudyDate", "StudyInstanceUID", "AccessionNumber",
               "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]
TUI_PACS_CONFIG = '[access]\nfind = ["*"]\n'


def make_archive(directory: Path, studies: int, per_study: int) -> list[Path]:
    """Synthetic studies as files: 100 patients, two series each."""
    paths = []
    for study in range(1, studies + 1):
        patient_id, patient_name = patient_of(study, 100)
        for instance in range(1, per_study + 1):
            series = 1 + (instance - 1) * 2 // per_study
            ds = make_dataset(patient_id=patient_id, patient_name=patient_name,
                              study=study, series=series, instance=instance,
                              study_date=study_date(study),
                              modality="CT" if series == 1 else "OT", rows=8, columns=8,
                              accession=f"A{study:06d}", description="bench")
            paths.append(write_instance(directory / f"{study}" / f"{instance}.dcm", ds))
    return paths


def findscu(peer: Peer, keys: list[str], count: bool = False) -> tuple[float, int]:
    """One findscu run: (seconds, matches). The timed runs print nothing (-q);
    with ``count``, findscu logs each response (-v) and they are counted.
    Raises FindFailed when findscu says the query failed."""
    args = [program("findscu"), "-S", "-aet", "FINDSCU", "-aec", peer.aet,
            "-v" if count else "-q"]
    for key in ["QueryRetrieveLevel=STUDY", *keys]:
        args += ["-k", key]
    started = time.perf_counter()
    result = subprocess.run([*args, "127.0.0.1", str(peer.port)], capture_output=True,
                            text=True, errors="replace", env=NODELAY_ENV, timeout=600)
    elapsed = time.perf_counter() - started
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise FindFailed(log.strip().splitlines()[-1])
    return elapsed, len(re.findall(r"Find Response: \d+ \(Pending\)", log))


class FindFailed(Exception):
    """findscu exited with an error (its last line says which)."""


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@contextmanager
def peak_rss(pid: int) -> Iterator[list[int]]:
    """Samples the resident memory of ``pid`` every 20 ms; yields a list that
    holds the peak (KiB) once the block is done."""
    peak = [resident_kib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], resident_kib(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


@dataclass
class Result:
    seconds: float  # median wall time of a findscu run, start-up included
    matches: int
    cpu: float  # median CPU seconds of the node's process per run
    peak: int = 0  # the node's peak resident memory (KiB) during the runs
    failure: str = ""  # what findscu said, when a run failed


def run_queries(peer: Peer, queries: dict[str, list[str]]) -> dict[str, Result]:
    results = {}
    for label, keys in queries.items():
        times, cpu = [], []
        try:
            _, matches = findscu(peer, RETURN_KEYS + keys, count=True)
            with peak_rss(peer.process.pid) as peak:
                for _ in range(3):
                    before = cpu_seconds(peer.process.pid)
                    times.append(findscu(peer, RETURN_KEYS + keys)[0])
                    cpu.append(cpu_seconds(peer.process.pid) - before)
        except FindFailed as exc:
            print(f"{peer.name}, {label}: findscu failed: {exc}", flush=True)
            results[label] = Result(0.0, 0, 0.0, failure=str(exc))
            continue
        results[label] = Result(statistics.median(times), matches, statistics.median(cpu),
                                peak[0])
    return results


def print_table(title: str, queries: dict[str, list[str]],
                table: dict[str, dict[str, Result]]) -> None:
    print(f"\n{title}")
    print(f"{'query':<24}" + "".join(f"{name:>54}" for name in table))
    for label in queries:
        cells = ""
        for name in table:
            r = table[name][label]
            cells += (f"{'failed':>54}" if r.failure else
                      f"{r.seconds:>9.3f} s {r.matches:>7} {r.matches / r.seconds:>9.0f}/s "
                      f"{r.cpu:>6.2f} cpu {r.peak / 1024:>5.0f} MiB")
        print(f"{label:<24}{cells}")


def queries_for(exact: int) -> dict[str, list[str]]:
    return {
        "all studies": [],
        "PatientName=SMI*": ["PatientName=SMI*"],
        "StudyDate one year": ["StudyDate=20200101-20201231"],
        "exact StudyInstanceUID": [f"StudyInstanceUID={uid(exact)}"],
    }


COLUMNS = ("s, matches, matches/s, node CPU s, the node's peak resident memory; findscu "
           "start-up included, median of 3")


def side_by_side(root: Path, studies: int, per_study: int) -> None:
    print(f"writing {studies * per_study} instances ({studies} studies) ...", flush=True)
    files = make_archive(root / "files", studies, per_study)
    queries = queries_for(studies // 2)
    peers: dict[str, Callable[[Path], Peer]] = {
        "tui-pacs": lambda d: tui_pacs(d, TUI_PACS_CONFIG),
        "Orthanc": lambda d: orthanc(d, DicomAlwaysAllowFind=True),
    }
    table = {}
    for name, make in peers.items():
        work = root / name
        work.mkdir()
        with running(make(work)) as peer:
            loaded = send(peer, [files[i::4] for i in range(4)])
            print(f"{name}: stored {len(files)} instances in {loaded:.0f} s "
                  f"({len(files) / loaded:.0f}/s, 4 storescu)", flush=True)
            print(f"{name}: resident memory {resident_kib(peer.process.pid) / 1024:.0f} MiB "
                  "before the queries", flush=True)
            table[name] = run_queries(peer, queries)
    print_table(f"{studies} studies, {len(files)} instances: findscu at STUDY level "
                f"({COLUMNS})", queries, table)


def large(root: Path, studies: int) -> None:
    work = root / "large"
    work.mkdir()
    started = time.perf_counter()
    make_index(work / "data", studies)
    instances = studies * INSTANCES_PER_STUDY
    print(f"\nindexed {studies} studies ({instances} instances) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    queries = queries_for(studies // 2)
    with running(tui_pacs(work, TUI_PACS_CONFIG)) as peer:
        findscu(peer, [f"StudyInstanceUID={uid(0)}"])  # the node's first C-FIND
        print(f"tui-pacs: resident memory {resident_kib(peer.process.pid) / 1024:.0f} MiB "
              "before the queries", flush=True)
        table = {"tui-pacs": run_queries(peer, queries)}
    print_table(f"{studies} studies, {instances} instances, index only: findscu at STUDY "
                f"level ({COLUMNS})", queries, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000,
                        help="studies sent to both peers (0: skip)")
    parser.add_argument("--instances-per-study", type=int, default=10)
    parser.add_argument("--large-studies", type=int, default=100_000,
                        help="studies in the index-only archive (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        if args.studies:
            side_by_side(root, args.studies, args.instances_per_study)
        if args.large_studies:
            large(root, args.large_studies)
    print("\nTCP_NODELAY=1 for the peers. This machine is shared: compare within a run.")


if __name__ == "__main__":
    main()
