"""pynetdicom's own applications as peers: qrscp (storage, query and
retrieve, with its SQLite database) and storescp, each as a subprocess of
``python -m pynetdicom`` in a temporary directory, on a free port."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tests.peers.process import ListeningProgram
from tests.peers.storescp import received_files, received_instances


def missing() -> str | None:
    """Why the apps cannot run here (qrscp needs SQLAlchemy), or None."""
    if importlib.util.find_spec("sqlalchemy") is None:
        return "pynetdicom's qrscp needs SQLAlchemy (the test extras install it)"
    return None


class _App(ListeningProgram):
    app = ""

    def __init__(self, workdir: Path, *, aet: str, options: tuple[str, ...] = ()) -> None:
        super().__init__(workdir, aet=aet, log_name=f"{self.app}.log")
        self.options = options

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        self._start([sys.executable, "-m", "pynetdicom", self.app, *self.arguments(),
                     *self.options])
        return self


class QRSCP(_App):
    """qrscp, knowing ``destinations`` (AE title -> (host, port)) for C-MOVE."""

    app = "qrscp"

    def __init__(self, workdir: Path, *, aet: str = "QRSCP",
                 destinations: dict[str, tuple[str, int]] | None = None,
                 options: tuple[str, ...] = ()) -> None:
        super().__init__(workdir, aet=aet, options=options)
        self.destinations = destinations or {}

    def arguments(self) -> list[str]:
        lines = ["[DEFAULT]", f"ae_title: {self.aet}", f"port: {self.port}", "max_pdu: 16382",
                 "acse_timeout: 30", "dimse_timeout: 30", "network_timeout: 30",
                 "bind_address: 127.0.0.1", f"instance_location: {self.workdir / 'instances'}",
                 f"database_location: {self.workdir / 'instances.sqlite'}",
                 "log_identifier: False", ""]
        for aet, (host, port) in self.destinations.items():
            lines += [f"[{aet}]", f"address: {host}", f"port: {port}", ""]
        config = self.workdir / "qrscp.ini"
        config.write_text("\n".join(lines), encoding="utf-8")
        return ["-c", str(config), "-v"]


class PynetdicomStoreSCP(_App):
    """storescp writing what it receives to a directory; ``options`` such as
    ``-xi`` (Implicit VR Little Endian only)."""

    app = "storescp"

    def __init__(self, workdir: Path, *, aet: str = "STORESCP",
                 options: tuple[str, ...] = ()) -> None:
        super().__init__(workdir, aet=aet, options=options)
        self.received_dir = workdir / "received"

    def arguments(self) -> list[str]:
        self.received_dir.mkdir(parents=True, exist_ok=True)
        return [str(self.port), "-aet", self.aet, "-od", str(self.received_dir),
                "-ba", "127.0.0.1"]

    def received(self) -> list[Path]:
        return received_files(self.received_dir)

    def received_instances(self) -> dict[str, str]:
        return received_instances(self.received_dir)
