"""Load: 32 storing associations and 8 querying ones at once, for 60 s.

Storers are DCMTK storescu processes sending 25 new 64x64 CT instances per
association, one association after another, each into its own study;
queriers are DCMTK findscu processes, one association per query (studies by
name, a study's series, a series' instances), latency measured around each
findscu run, start-up included. Every DCMTK program and Orthanc run with
TCP_NODELAY=1. Afterwards every instance storescu saw acknowledged is looked
up in the node's index and the archive check runs. The node's resident
memory is sampled every second; its peak is /proc's VmHWM.

    python bench/load.py [--seconds 60] [--storers 32] [--queriers 8]
                               [--against tui-pacs|orthanc]

The machine is shared: figures move with whatever else runs; compare runs
made one after the other.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import orthanc, running, tui_pacs  # noqa: E402
from tests.robust.load import LoadReport, run_load  # noqa: E402
from tests.server.helpers import sop_instance_uid  # noqa: E402
from tui_pacs.store.check import check_archive  # noqa: E402

NODE_CONFIG = """
[limits]
max_associations = 64
[access]
find = ["*"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--storers", type=int, default=32)
    parser.add_argument("--queriers", type=int, default=8)
    parser.add_argument("--against", choices=("tui-pacs", "orthanc"), default="tui-pacs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        workdir = Path(folder)
        if args.against == "tui-pacs":
            peer = tui_pacs(workdir, NODE_CONFIG)
        else:
            peer = orthanc(workdir, DicomAlwaysAllowFind=True, DicomAlwaysAllowStore=True)
        with running(peer):
            print(f"{peer.name}: {args.storers} storing and {args.queriers} querying "
                  f"associations for {args.seconds:g} s (DCMTK with TCP_NODELAY=1)")
            report = run_load(peer.port, peer.aet, peer.process.pid, workdir / "load",
                              args.seconds, args.storers, args.queriers)
            print(report.summary())
            print("RSS every 10 s (MB):",
                  " ".join(str(kib // 1024) for kib in report.rss_samples[::10]))
            if args.against == "tui-pacs":
                lost = _lost_in_tui_pacs(workdir / "data", report)
            else:
                lost = _lost_in_orthanc(workdir, report)
        failures = report.store_failures + report.query_failures
        for failure in failures[:5]:
            print("failed:", failure)
        print(f"failed operations: {len(failures)}; acknowledged instances missing: {lost}")
        if failures or lost:
            raise SystemExit(1)


def _lost_in_tui_pacs(data: Path, report: LoadReport) -> int:
    with sqlite3.connect(f"file:{data / 'index.sqlite'}?mode=ro", uri=True) as conn:
        stored = {row[0] for row in conn.execute("SELECT sop_uid FROM instances")}
    check = check_archive(data, read_files=False)
    print(f"archive check (existence and size): {'ok' if check.ok else check}")
    return len({sop_instance_uid(path) for path in report.acknowledged} - stored)


def _lost_in_orthanc(workdir: Path, report: LoadReport) -> int:
    config = json.loads((workdir / "orthanc" / "config.json").read_text())
    url = f"http://127.0.0.1:{config['HttpPort']}/statistics"
    with urllib.request.urlopen(url, timeout=30) as response:
        count = json.load(response)["CountInstances"]
    return max(0, len(report.acknowledged) - count)


if __name__ == "__main__":
    main()
