"""`tui-pacs probe` against a local Orthanc and DCMTK's storescp (+xa, every syntax
it knows): the whole command as a person runs it (process start-up included),
and the probe's own time as it reports it, median of five runs each.

The target: under 3 s for the whole command against Orthanc.

    python bench/probe.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import REPO, dcmtk_storescp, orthanc, running  # noqa: E402

PEERS = {"Orthanc": orthanc, "DCMTK storescp +xa": dcmtk_storescp}


def probe(peer, config: Path) -> tuple[float, dict]:
    """Wall-clock seconds of one `tui-pacs probe --json`, and what it reported."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "tui_pacs", "probe", f"{peer.aet}@127.0.0.1:{peer.port}",
         "--json", "--config", str(config)],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, cwd=REPO, timeout=60)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"bench: probe of {peer.name} exited {result.returncode}: "
                         f"{result.stderr.strip()}")
    return seconds, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        config = root / "config.toml"
        config.write_text(f'[node]\ndata = "{root / "data"}"\n', encoding="utf-8")
        print(f"{'remote':<20}{'command':>10}{'probe':>9}{'associations':>14}"
              f"{'accepted':>10}   runs (command, s)")
        for name, make in PEERS.items():
            work = root / name.split()[0]
            work.mkdir()
            with running(make(work)) as peer:
                runs = [probe(peer, config) for _ in range(args.runs)]
            walls = [seconds for seconds, _ in runs]
            report = runs[-1][1]
            accepted = sum(1 for entry in report["classes"] if entry["accepted"])
            print(f"{name:<20}{statistics.median(walls):>9.2f}s"
                  f"{statistics.median(r['seconds'] for _, r in runs):>8.2f}s"
                  f"{report['associations']:>14}{accepted:>6}/{len(report['classes'])}"
                  f"   {', '.join(f'{s:.2f}' for s in walls)}")


if __name__ == "__main__":
    main()
