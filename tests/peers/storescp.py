"""DCMTK's storescp for a test: a storage SCP writing to a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pydicom import dcmread

from tests.peers.ports import free_port, wait_for_port

STORESCP = shutil.which("storescp") or "/usr/bin/storescp"


class StoreSCP:
    """``storescp`` on a free port. By default it accepts uncompressed transfer
    syntaxes only, as DCMTK does; ``options`` are passed on (e.g. ``+xa``)."""

    def __init__(self, workdir: Path, *, aet: str = "STORESCP", options: tuple[str, ...] = ()):
        self.workdir = workdir
        self.aet = aet
        self.port = free_port()
        self.options = options
        self.received_dir = workdir / "received"
        self.log_path = workdir / "storescp.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.port}"

    def start(self) -> StoreSCP:
        self.received_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TCP_NODELAY="1")
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(self.command(), stdout=log,
                                             stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def command(self) -> list[str]:
        return [STORESCP, "--aetitle", self.aet, "--output-directory", str(self.received_dir),
                *self.options, str(self.port)]

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def received(self) -> list[Path]:
        return received_files(self.received_dir)

    def received_instances(self) -> dict[str, str]:
        return received_instances(self.received_dir)

    def arriving(self) -> set[str]:
        """SOP Instance UIDs of the files storescp has begun to write: it names each
        file after its instance (``CT.1.2.3``), so this reads no file, even one
        still being written."""
        return {path.name.split(".", 1)[1] for path in received_files(self.received_dir)}

    def __enter__(self) -> StoreSCP:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def received_instances(folder: Path) -> dict[str, str]:
    """SOP Instance UID -> transfer syntax UID of every file a receiver wrote to ``folder``."""
    result = {}
    for path in received_files(folder):
        ds = dcmread(path, stop_before_pixels=True)
        result[str(ds.SOPInstanceUID)] = str(ds.file_meta.TransferSyntaxUID)
    return result


def received_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())
