"""pynetdicom's own storescp application, run as a program: another
implementation's idea of a storage SCP (``-xi``: Implicit VR Little Endian only)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.peers.storescp import StoreSCP


class PynetdicomStoreSCP(StoreSCP):
    """``python -m pynetdicom storescp`` on a free loopback port; ``options``
    are passed on (e.g. ``-xi``). Received files are read as for DCMTK's."""

    def __init__(self, workdir: Path, *, aet: str = "PYNDSCP",
                 options: tuple[str, ...] = ()) -> None:
        super().__init__(workdir, aet=aet, options=options)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pynetdicom", "storescp", "-aet", self.aet,
                "-od", str(self.received_dir), "-ba", "127.0.0.1", *self.options,
                str(self.port)]
