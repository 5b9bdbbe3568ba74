"""Well-behaved peers: DCMTK storescu as the sending modality (and what it
says was acknowledged), and a pynetdicom SCU."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pynetdicom import AE

from tests.dicom_factory import make_dataset, write_instance
from tests.server.conftest import dcmtk

SENDING_FILE = "I: Sending file: "
SUCCESS = "I: Received Store Response (Success)"


def write_batches(directory: Path, senders: int, instances: int,
                  size: int = 64) -> list[list[Path]]:
    """``senders`` lists of ``instances`` files; each sender has its own study."""
    return [[write_instance(directory / f"s{sender}" / f"{number:04d}.dcm",
                            make_dataset(study=100 + sender, instance=number,
                                         rows=size, columns=size, seed=sender))
             for number in range(1, instances + 1)]
            for sender in range(senders)]


def start_storescu(port: int, files: list[Path], aet: str = "STORESCU",
                   called: str = "TUIPACS") -> subprocess.Popen[str]:
    """storescu -v sending ``files`` over one association; its log on stderr."""
    env = dict(os.environ, TCP_NODELAY="1")
    return subprocess.Popen(
        [dcmtk("storescu"), "-v", "-aet", aet, "-aec", called, "127.0.0.1", str(port),
         *map(str, files)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def acknowledged(output: str) -> list[Path]:
    """The files storescu got a success status for, from its -v log."""
    current: Path | None = None
    done: list[Path] = []
    for line in output.splitlines():
        if line.startswith(SENDING_FILE):
            current = Path(line[len(SENDING_FILE):].strip())
        elif line.startswith(SUCCESS) and current is not None:
            done.append(current)
            current = None
    return done


def scu(aet: str, *contexts: str) -> AE:
    """A pynetdicom AE requesting ``contexts``, with 20 s timeouts."""
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    for context in contexts:
        ae.add_requested_context(context)
    return ae
