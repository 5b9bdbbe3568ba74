"""pixelmed's DicomAndWebStorageServer for a test: storage, query and retrieve
SCP with its own database, in a temporary directory, on free ports.

It answers a C-FIND with every response at once and takes no C-CANCEL: one
that arrives after the final response makes it abort the association.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.peers.ports import free_port
from tests.peers.process import ListeningProgram

JAVA = shutil.which("java") or "/usr/bin/java"
PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")


class Pixelmed(ListeningProgram):
    """The server, knowing ``remotes`` (name -> (AE title, host, port)) as move
    destinations."""

    def __init__(self, workdir: Path, *, aet: str = "PIXELMED",
                 remotes: dict[str, tuple[str, str, int]] | None = None) -> None:
        super().__init__(workdir, aet=aet, log_name="pixelmed.log")
        self.remotes = remotes or {}

    def start(self) -> Pixelmed:
        properties = {
            "Dicom.ListeningPort": self.port,
            "Dicom.CalledAETitle": self.aet,
            "Dicom.CallingAETitle": self.aet,
            "Dicom.PrimaryDeviceType": "ARCHIVE",
            "Application.DatabaseFileName": self.workdir / "db",
            "Application.SavedImagesFolderName": self.workdir / "images",
            "WebServer.ListeningPort": free_port(),
            "Dicom.RemoteAEs": " ".join(self.remotes),
        }
        for name, (aet, host, port) in self.remotes.items():
            properties |= {f"Dicom.RemoteAEs.{name}.CalledAETitle": aet,
                           f"Dicom.RemoteAEs.{name}.HostNameOrIPAddress": host,
                           f"Dicom.RemoteAEs.{name}.Port": port}
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()),
                        encoding="utf-8")
        self._start([JAVA, "-cp", str(PIXELMED_JAR),
                     "com.pixelmed.server.DicomAndWebStorageServer", str(path)])
        return self


FIND_SOURCE = Path(__file__).with_name("PixelmedFind.java")


def pixelmed_find(port: int, called_aet: str, calling_aet: str, level: str,
                  *keys: str) -> list[dict[str, str]]:
    """A Study Root C-FIND by pixelmed's FindSOPClassSCU (run from
    PixelmedFind.java: the JDK's source launcher); each response as
    keyword -> backslash-separated values."""
    result = subprocess.run(
        [JAVA, "-cp", str(PIXELMED_JAR), str(FIND_SOURCE), "127.0.0.1", str(port),
         called_aet, calling_aet, level, *keys],
        capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"PixelmedFind failed:\n{result.stderr}")
    return [dict(line.split("=", 1) for line in block.splitlines())
            for block in result.stdout.split("\n\n") if block.strip()]
