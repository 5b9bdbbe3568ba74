"""Retrieve a 100-instance CT study (512x512) from Orthanc: `tui-pacs move` next to
DCMTK `movescu`, and `tui-pacs get` next to `getscu`, in the same run.

    python bench/retrieve.py [--instances 100] [--runs 3]

Target: no slower than DCMTK. Orthanc and the DCMTK tools run with
TCP_NODELAY on (see bench/_common.py). Each tui-pacs run stores into a fresh
archive, so every instance is written, fsynced and indexed before its
C-STORE is acknowledged (DCMTK writes without fsync). Two figures for
tui-pacs: the command's wall-clock time (Python start-up included) and the
retrieve itself, as the command reports it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import make_study, rate_line, reported_seconds, run_timed, timed, tui_pacs

from tests.peers.orthanc import Orthanc
from tests.peers.ports import free_port

STUDY = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "tui-pacs-bench",
                        help="where the test images are kept between runs")
    args = parser.parse_args()
    files = make_study(args.data / f"ct-study-{args.instances}", args.instances, study=STUDY)
    study_uid = f"1.2.826.0.1.3680043.10.1234.{STUDY}"
    node_port, movescu_port = free_port(), free_port()
    results: dict[str, list[float]] = {name: [] for name in (
        "movescu", "tui-pacs move (command)", "tui-pacs move (retrieve)",
        "getscu", "tui-pacs get (command)", "tui-pacs get (retrieve)")}

    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        modalities = {"tuipacs": ("TUIPACS", "127.0.0.1", node_port),
                      "movescu": ("MOVESCU", "127.0.0.1", movescu_port),
                      "getscu": ("GETSCU", "127.0.0.1", free_port())}
        with Orthanc(work / "orthanc", modalities=modalities) as orthanc:
            orthanc.upload(*files)
            key = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}"]
            peer = ["127.0.0.1", str(orthanc.dicom_port)]
            dcmtk = {
                "move": ["movescu", "-S", "-aet", "MOVESCU", "-aec", orthanc.aet, "-aem",
                         "MOVESCU", "+P", str(movescu_port), *key, *peer],
                "get": ["getscu", "-S", "-aet", "GETSCU", "-aec", orthanc.aet, *key, *peer],
            }
            for run in range(args.runs):
                for service, command in dcmtk.items():
                    out = work / f"{command[0]}-{run}"
                    out.mkdir()
                    seconds, _ = run_timed([*command, "-od", str(out)])
                    results[command[0]].append(seconds)
                    config = _config(work / f"tui-pacs-{service}-{run}", node_port)
                    seconds, output = timed(tui_pacs, service, orthanc.target, "--config",
                                            config, "-k", f"StudyInstanceUID={study_uid}")
                    results[f"tui-pacs {service} (command)"].append(seconds)
                    results[f"tui-pacs {service} (retrieve)"].append(
                        reported_seconds(output.stdout))

    print(f"retrieve {args.instances} CT 512x512 from Orthanc 1.10, {args.runs} runs, "
          "TCP_NODELAY on everywhere")
    for label, seconds in results.items():
        print(rate_line(label, seconds, args.instances))


def _config(directory: Path, port: int) -> Path:
    """A fresh archive for this node, listening on ``port`` as TUIPACS."""
    directory.mkdir()
    config = directory / "config.toml"
    config.write_text(f'[node]\naet = "TUIPACS"\nport = {port}\nbind = "127.0.0.1"\n'
                      f'data = "{directory / "data"}"\n', encoding="utf-8")
    return config


if __name__ == "__main__":
    main()
