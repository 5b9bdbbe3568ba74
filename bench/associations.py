"""Association set-up: 50 one-image associations in a row, as a modality that
opens one association per image does it (one storescu run per image,
process start-up included), to tui-pacs, Orthanc and DCMTK's storescp.

    python bench/associations.py [--associations 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import dcmtk_storescp, orthanc, running, send, tui_pacs  # noqa: E402
from tests.dicom_factory import make_dataset, write_instance  # noqa: E402

RECEIVERS = {"tui-pacs": tui_pacs, "Orthanc": orthanc, "DCMTK storescp": dcmtk_storescp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--associations", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        files = [write_instance(root / "files" / f"{n}.dcm",
                                make_dataset(instance=n, rows=512, columns=512, seed=n))
                 for n in range(1, args.associations + 1)]
        print(f"{len(files)} associations in a row, one 512x512 CT image each; DCMTK and "
              "Orthanc run with TCP_NODELAY=1\n")
        print(f"{'receiver':<18}{'total':>10}{'per association':>18}")
        for name, make in RECEIVERS.items():
            work = root / name.replace(" ", "-")
            work.mkdir()
            with running(make(work)) as peer:
                total = sum(send(peer, [[path]]) for path in files)
            print(f"{name:<18}{total:>9.2f}s{total / len(files) * 1000:>15.1f} ms")
        print("\nThis machine is shared: figures move between runs; compare within a run.")


if __name__ == "__main__":
    main()
