"""C-FIND at STUDY level over 2,000 studies / 20,000 instances, with DCMTK's
findscu, against tui-pacs and Orthanc holding the same data.

Queries: every study; a PatientName prefix wildcard (SMI*); a one-year
StudyDate range; one exact StudyInstanceUID. Times are for a whole findscu
run (start-up included), median of three; the match counts come from a
separate run that saves the responses.

    python bench/find.py [--studies 2000] [--instances-per-study 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import NODELAY_ENV, orthanc, program, running, send, tui_pacs  # noqa: E402
from tests.dicom_factory import make_dataset, uid, write_instance  # noqa: E402

SURNAMES = ["SMITH", "SMIRNOV", "JONES", "GARCIA", "MULLER", "ROSSI", "DUBOIS", "NOWAK",
            "SILVA", "KIM", "TANAKA", "OKAFOR", "COHEN", "HANSEN", "BROWN", "WILSON",
            "MARTIN", "LEE", "WALKER", "ALLEN"]
RETURN_KEYS = ["PatientName", "PatientID", "StudyDate", "StudyInstanceUID", "AccessionNumber",
               "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]


def make_archive(directory: Path, studies: int, per_study: int) -> list[Path]:
    """Synthetic studies: 100 patients, dates over ten years, two series each."""
    paths = []
    for study in range(1, studies + 1):
        patient = study % 100
        year = 2015 + study % 10
        date = f"{year}{1 + study % 12:02d}{1 + study % 28:02d}"
        for instance in range(1, per_study + 1):
            series = 1 + (instance - 1) * 2 // per_study
            ds = make_dataset(patient_id=f"P{patient:03d}",
                              patient_name=f"{SURNAMES[patient % len(SURNAMES)]}^P{patient}",
                              study=study, series=series, instance=instance, study_date=date,
                              modality="CT" if series == 1 else "OT", rows=8, columns=8,
                              accession=f"A{study:05d}", description="bench")
            paths.append(write_instance(directory / f"{study}" / f"{instance}.dcm", ds))
    return paths


def findscu(peer, keys: list[str], out: Path | None = None) -> float:
    """Seconds for one findscu run; with ``out``, the responses are saved there
    (the timed runs print and save nothing: -q)."""
    args = [program("findscu"), "-S", "-aet", "FINDSCU", "-aec", peer.aet]
    args += ["-X", "-od", str(out)] if out is not None else ["-q"]
    for key in ["QueryRetrieveLevel=STUDY", *keys]:
        args += ["-k", key]
    started = time.perf_counter()
    result = subprocess.run([*args, "127.0.0.1", str(peer.port)], capture_output=True,
                            text=True, env=NODELAY_ENV, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bench: findscu failed against {peer.name}: {result.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--instances-per-study", type=int, default=10)
    args = parser.parse_args()
    queries = {
        "all studies": [],
        "PatientName=SMI*": ["PatientName=SMI*"],
        "StudyDate one year": ["StudyDate=20200101-20201231"],
        "exact StudyInstanceUID": [f"StudyInstanceUID={uid(args.studies // 2)}"],
    }
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        print(f"writing {args.studies * args.instances_per_study} instances "
              f"({args.studies} studies) ...", flush=True)
        files = make_archive(root / "files", args.studies, args.instances_per_study)
        peers = {
            "tui-pacs": lambda d: tui_pacs(d, '[access]\nfind = ["*"]\n'),
            "Orthanc": lambda d: orthanc(d, DicomAlwaysAllowFind=True),
        }
        table: dict[str, dict[str, tuple[float, int]]] = {}
        for name, make in peers.items():
            work = root / name
            work.mkdir()
            with running(make(work)) as peer:
                loaded = send(peer, [files[i::4] for i in range(4)])
                print(f"{name}: stored {len(files)} instances in {loaded:.0f} s "
                      f"({len(files) / loaded:.0f}/s, 4 storescu)", flush=True)
                table[name] = {}
                for label, keys in queries.items():
                    out = work / f"responses-{len(table[name])}"
                    out.mkdir()
                    findscu(peer, RETURN_KEYS + keys, out)
                    matches = len(list(out.glob("rsp*.dcm")))
                    times = [findscu(peer, RETURN_KEYS + keys) for _ in range(3)]
                    table[name][label] = (statistics.median(times), matches)
        print("\nfindscu at STUDY level (start-up included, median of 3), TCP_NODELAY=1")
        print(f"{'query':<24}" + "".join(f"{name:>24}" for name in peers))
        for label in queries:
            cells = "".join(f"{table[n][label][0]:>13.3f} s ({table[n][label][1]:>4})"
                            for n in peers)
            print(f"{label:<24}{cells}")
        print("\n(n) = matches. This machine is shared: compare within a run.")


if __name__ == "__main__":
    main()
