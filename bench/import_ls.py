"""Archive benchmarks: `tui-pacs import` throughput and `ls` query time.

    python bench/import_ls.py [--instances 10000] [--archive-instances 100000]

Targets (issue 2): import of 10,000 small (64x64) instances at >= 1,000
instances/s on a 2-core machine; `ls --level study -k PatientName=A*` over an
archive of 100,000 instances answers in < 100 ms for the query itself.
Generated files are kept in a cache directory between runs (--work).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from _common import summary, timed, tui_pacs

from tests.dicom_factory import make_dataset, write_instance

NAMES = ["ADAMS", "ALLEN", "BAKER", "CLARK", "DAVIS", "EVANS", "GARCIA", "HALL", "JONES",
         "KING", "LEWIS", "MILLER", "MOORE", "NELSON", "PARKER", "SMITH", "TAYLOR", "WHITE"]


def generate(folder: Path, count: int, per_series: int = 10, series_per_study: int = 2) -> None:
    """Small 64x64 CT instances, grouped into series and studies; reused if present."""
    marker = folder.with_name(folder.name + ".complete")
    if marker.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    per_study = per_series * series_per_study
    print(f"generating {count} instances in {folder} ...", flush=True)
    patient = None
    for number in range(count):
        study, rest = divmod(number, per_study)
        series, instance = divmod(rest, per_series)
        if rest == 0:
            name = rng.choice(NAMES)
            patient = (f"P{study:06}", f"{name}^{rng.choice('ABCDEFGH')}",
                       f"20{rng.randint(10, 24):02}{rng.randint(1, 12):02}{rng.randint(1, 28):02}")
        ds = make_dataset(study=study, series=series + 1, instance=instance + 1,
                          patient_id=patient[0], patient_name=patient[1],
                          study_date=patient[2], seed=number)
        write_instance(folder / f"{study // 100:04}" / f"{number:07}.dcm", ds)
    marker.touch()


def bench_import(work: Path, count: int) -> None:
    source = work / f"import-{count}"
    generate(source, count)
    with tempfile.TemporaryDirectory(dir=work) as data:
        seconds, result = timed(tui_pacs, "import", source, "--data", data)
        print(f"import of {count} instances (64x64): {seconds:.2f} s wall, "
              f"{count / seconds:.0f} instances/s  [{result.stdout.strip()}]")


def bench_ls(work: Path, count: int) -> None:
    source = work / f"archive-{count}"
    generate(source, count)
    data = work / f"data-{count}"
    if not (data / "index.sqlite").exists():
        seconds, _ = timed(tui_pacs, "import", source, "--data", data)
        print(f"built a {count}-instance archive in {seconds:.1f} s")
    asyncio.run(_query_times(data))
    seconds, result = timed(tui_pacs, "ls", "--level", "study", "-k", "PatientName=A*",
                            "--json", "--data", data)
    print(f"whole command `ls --level study -k PatientName=A* --json`: {seconds * 1000:.0f} ms "
          f"wall (Python start-up and imports included)")


async def _query_times(data: Path) -> None:
    from tui_pacs.core.model import Level
    from tui_pacs.store.archive import Archive
    from tui_pacs.store.index import matchers_from_keys

    async with await Archive.open(data) as archive:
        totals = await archive.index.totals()
        print(f"archive: {totals['studies']} studies, {totals['instances']} instances")
        for keys in ({"PatientName": "A*"}, {}, {"StudyDate": "20200101-20201231"},
                     {"PatientName": "*mil*"}):
            matchers = matchers_from_keys(keys)
            samples = []
            for _ in range(20):
                start = time.perf_counter()
                rows = await archive.index.query(Level.STUDY, matchers)
                samples.append(time.perf_counter() - start)
            label = " ".join(f"{k}={v}" for k, v in keys.items()) or "(all studies)"
            print(f"  ls --level study {label}: {len(rows)} studies, {summary(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--archive-instances", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tui-pacs-bench")
    parser.add_argument("--skip-ls", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    bench_import(args.work, args.instances)
    if not args.skip_ls:
        bench_ls(args.work, args.archive_instances)


if __name__ == "__main__":
    main()
