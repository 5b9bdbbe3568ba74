"""Peak memory of a receiver while one large dataset is stored by C-STORE.

One sparse Part 10 file (1 GiB by default: a 1024x1024 16-bit multi-frame
whose pixel data is a hole with a few marked bytes) is sent by DCMTK's
storescu to tui-pacs, DCMTK's storescp (default, and bit-preserving +B, which
streams to disk) and Orthanc, one after the other; each receiver's peak
resident memory (VmHWM) and the time taken are reported.

    python bench/large_store.py [--gib 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.peers import (  # noqa: E402
    NODELAY_ENV,
    Peer,
    free_port,
    orthanc,
    program,
    running,
    send,
    tui_pacs,
)
from tests.robust.test_large_datasets import sparse_dataset  # noqa: E402


def storescp(bit_preserving: bool):
    def start(directory: Path) -> Peer:
        port = free_port()
        out = directory / "storescp"
        out.mkdir(parents=True)
        options = ["+B"] if bit_preserving else []
        process = subprocess.Popen(
            [program("storescp"), *options, "-aet", "STORESCP", "+xa", "-od", str(out),
             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=NODELAY_ENV)
        return Peer("DCMTK storescp", "STORESCP", port, process)
    return start


RECEIVERS = {
    "tui-pacs": tui_pacs,
    "DCMTK storescp": storescp(bit_preserving=False),
    "DCMTK storescp +B": storescp(bit_preserving=True),
    "Orthanc": orthanc,
}


def peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-pacs-bench-") as tmp:
        root = Path(tmp)
        dataset = sparse_dataset(root / "large.dcm", int(args.gib * (1 << 30)))
        print(f"one dataset of {dataset.stat().st_size / (1 << 20):.0f} MB, sent by storescu\n")
        print(f"{'receiver':<22}{'peak memory':>14}{'seconds':>10}")
        for name, start in RECEIVERS.items():
            work = root / name.replace(" ", "-").replace("+", "")
            work.mkdir()
            with running(start(work)) as peer:
                seconds = send(peer, [[dataset]])
                peak = peak_mb(peer.process.pid)
            print(f"{name:<22}{peak:>11.0f} MB{seconds:>10.1f}")
            subprocess.run(["rm", "-rf", str(work)], check=True)
        print("\nThis machine is shared: times move between runs; compare within a run.")


if __name__ == "__main__":
    main()
