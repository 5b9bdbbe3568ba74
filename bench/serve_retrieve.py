"""The node as a retrieve SCP: a stored CT study (512x512) sent by C-MOVE to DCMTK's
storescp and by C-GET to DCMTK's getscu, from tui-pacs and from Orthanc holding
the same study, in the same run.

    python bench/serve_retrieve.py [--instances 100] [--runs 3]

The sub-operations are what is measured: each figure is one movescu or
getscu run (start-up included, as a PACS user would see it). Orthanc,
storescp, movescu and getscu run with TCP_NODELAY=1 (see bench/peers.py);
tui-pacs sets TCP_NODELAY itself. The receivers write without fsync, so
the senders set the pace.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import make_study, rate_line, run_timed  # noqa: E402
from bench.peers import (  # noqa: E402
    dcmtk_storescp,
    free_port,
    orthanc,
    program,
    running,
    send,
    tui_pacs,
)

STUDY = 7
STUDY_UID = f"1.2.826.0.1.3680043.10.1234.{STUDY}"
MOVESCU, GETSCU = "MOVESCU", "GETSCU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "tui-pacs-bench",
                        help="where the test images are kept between runs")
    args = parser.parse_args()
    files = make_study(args.data / f"ct-study-{args.instances}-s{STUDY}", args.instances,
                       study=STUDY)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        with running(dcmtk_storescp(root / "storescp")) as receiver:
            received = root / "storescp" / "storescp"
            destination = ("STORESCP", "127.0.0.1", receiver.port)
            senders = {
                "tui-pacs": lambda work: tui_pacs(work, _node_config(destination)),
                "Orthanc": lambda work: orthanc(work, DicomModalities={
                    "storescp": list(destination),
                    "getscu": [GETSCU, "127.0.0.1", free_port()],
                    "movescu": [MOVESCU, "127.0.0.1", free_port()]}),
            }
            for name, start in senders.items():
                work = root / name
                work.mkdir()
                with running(start(work)) as peer:
                    send(peer, [files])
                    for run in range(args.runs):
                        seconds = _retrieve(peer, "movescu", MOVESCU, "-aem", "STORESCP")
                        results.setdefault(f"{name} C-MOVE to storescp", []).append(seconds)
                        _empty(received)
                        out = root / f"{name}-get-{run}"
                        out.mkdir()
                        seconds = _retrieve(peer, "getscu", GETSCU, "-od", str(out))
                        results.setdefault(f"{name} C-GET to getscu", []).append(seconds)
                        shutil.rmtree(out)
    print(f"{args.instances} CT 512x512 sent by the retrieve SCP, {args.runs} runs, "
          "TCP_NODELAY on everywhere")
    for label, seconds in results.items():
        print(rate_line(label, seconds, args.instances))
    print("This machine is shared: figures move between runs; compare within a run.")


def _retrieve(peer, tool: str, calling: str, *options: str) -> float:
    seconds, _ = run_timed([program(tool), "-S", "-aet", calling, "-aec", peer.aet,
                            *options, "-k", "QueryRetrieveLevel=STUDY",
                            "-k", f"StudyInstanceUID={STUDY_UID}", "127.0.0.1",
                            str(peer.port)])
    return seconds


def _node_config(destination: tuple[str, str, int]) -> str:
    """tui-pacs with storescp as a modality; movescu and getscu may retrieve."""
    aet, host, port = destination
    return (f'[access]\nmove = ["{MOVESCU}"]\nget = ["{GETSCU}"]\n\n'
            f'[[modalities]]\nname = "storescp"\naet = "{aet}"\nhost = "{host}"\n'
            f"port = {port}\n")


def _empty(directory: Path) -> None:
    shutil.rmtree(directory)
    directory.mkdir()


if __name__ == "__main__":
    main()
