"""Finding DCMTK's programs (tests and benchmarks)."""

from __future__ import annotations

import os
from pathlib import Path


def compiled_program(name: str) -> str | None:
    """The first ``name`` on PATH (then /usr/bin, /usr/sbin) that is a compiled
    binary: pynetdicom installs Python scripts called storescu, findscu..."""
    for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/sbin"]:
        path = Path(folder) / name
        try:
            with open(path, "rb") as fp:
                if fp.read(4) == b"\x7fELF":
                    return str(path)
        except OSError:
            continue
    return None
