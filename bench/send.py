"""Send 500 CT images (512x512) to DCMTK storescp: `tui-pacs send` next to `storescu`.

    python bench/send.py [--instances 500] [--runs 3]

Target: at least half of storescu's rate. storescp, storescu and tui-pacs
all run with TCP_NODELAY on (see bench/_common.py). Two figures for
tui-pacs: the command's wall-clock time (Python start-up included) and the
time the send itself took, as the command reports it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import make_study, rate_line, reported_seconds, run_timed, timed, tui_pacs

from tests.peers.storescp import StoreSCP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "tui-pacs-bench",
                        help="where the test images are kept between runs")
    args = parser.parse_args()
    study = args.data / f"ct-{args.instances}"
    make_study(study, args.instances)

    results: dict[str, list[float]] = {"storescu": [], "tui-pacs send (command)": [],
                                       "tui-pacs send (sending)": []}
    with tempfile.TemporaryDirectory() as work:
        with StoreSCP(Path(work)) as scp:
            for _ in range(args.runs):
                seconds, _ = run_timed(["storescu", "+sd", "-aec", scp.aet, "127.0.0.1",
                                    str(scp.port), str(study)])
                results["storescu"].append(seconds)
                _empty(scp.received_dir)
                seconds, output = timed(tui_pacs, "send", scp.target, study)
                results["tui-pacs send (command)"].append(seconds)
                results["tui-pacs send (sending)"].append(reported_seconds(output.stdout))
                _empty(scp.received_dir)
    print(f"send {args.instances} CT 512x512 to DCMTK storescp, {args.runs} runs, "
          "TCP_NODELAY on everywhere")
    for label, seconds in results.items():
        print(rate_line(label, seconds, args.instances))
    ratio = min(results["storescu"]) and (
        (args.instances / min(results["tui-pacs send (sending)"]))
        / (args.instances / min(results["storescu"])))
    print(f"best tui-pacs rate / best storescu rate: {ratio:.2f} (target >= 0.5)")


def _empty(directory: Path) -> None:
    shutil.rmtree(directory)
    directory.mkdir()


if __name__ == "__main__":
    main()
