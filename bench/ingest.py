"""C-STORE ingest: 500 CT-like 512x512 16-bit instances from DCMTK's storescu.

One association, then four concurrent ones (125 instances each), received by
tui-pacs (durable and indexed before each success), DCMTK's storescp,
Orthanc and pynetdicom's bundled storescp app, each fresh in a temp
directory, one after the other in the same run.

    python bench/ingest.py [--instances 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import (  # noqa: E402
    dcmtk_storescp,
    orthanc,
    pynetdicom_storescp,
    running,
    send,
    tui_pacs,
)
from tests.dicom_factory import make_dataset, write_instance  # noqa: E402

RECEIVERS = {
    "tui-pacs": tui_pacs,
    "DCMTK storescp": dcmtk_storescp,
    "Orthanc": orthanc,
    "pynetdicom storescp app": pynetdicom_storescp,
}


def make_files(directory: Path, count: int) -> list[Path]:
    return [write_instance(directory / f"ct{n:04d}.dcm",
                           make_dataset(instance=n, rows=512, columns=512, seed=n))
            for n in range(1, count + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--only", choices=RECEIVERS, action="append",
                        help="measure only this receiver (repeatable)")
    args = parser.parse_args()
    names = args.only or list(RECEIVERS)
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        files = make_files(root / "files", args.instances)
        size = sum(f.stat().st_size for f in files) / 1_048_576
        print(f"{len(files)} CT instances, 512x512 16-bit, {size:.0f} MB; DCMTK and Orthanc "
              "run with TCP_NODELAY=1; pynetdicom's app cannot set it")
        quarter = (len(files) + 3) // 4
        scenarios = {"1 association": [files],
                     "4 associations": [files[i:i + quarter] for i in range(0, len(files),
                                                                              quarter)]}
        results: dict[str, dict[str, float]] = {name: {} for name in names}
        for scenario, groups in scenarios.items():
            for name in names:
                work = root / f"{name}-{scenario}".replace(" ", "-")
                work.mkdir()
                with running(RECEIVERS[name](work)) as peer:
                    results[name][scenario] = send(peer, groups)
        print(f"\n{'receiver':<26}" + "".join(f"{s:>24}" for s in scenarios))
        for name in names:
            cells = "".join(
                f"{len(files) / results[name][s]:>10.0f} inst/s ({results[name][s]:5.2f} s)"
                for s in scenarios)
            print(f"{name:<26}{cells}")
        print("\nThis machine is shared: figures move between runs; compare within a run.")


if __name__ == "__main__":
    main()
