"""An Orthanc server of its own for a test: temporary storage, free ports, loopback.

Its REST API seeds data and checks results. Started with TCP_NODELAY=1 so
its DICOM exchanges are not slowed by Nagle's algorithm. With ``worklists``
it also serves the modality worklist of that folder's ``.wl`` files, through
the worklist plugin Debian's package ships.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.peers.ports import free_port

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
START_TIMEOUT = 30.0


class Orthanc:
    def __init__(self, workdir: Path, *, aet: str = "ORTHANC",
                 modalities: dict[str, tuple[str, str, int]] | None = None,
                 worklists: Path | None = None, **options: Any) -> None:
        self.workdir = workdir
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.config = {
            "Name": "tui-pacs test",
            "StorageDirectory": str(workdir / "storage"),
            "IndexDirectory": str(workdir / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [],
            "DicomModalities": {name: list(entry) for name, entry in (modalities or {}).items()},
            "SaveJobs": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "MetricsEnabled": False,
            **options,
        }
        if worklists is not None:
            self.config["Plugins"] = [str(WORKLIST_PLUGIN)]
            self.config["Worklists"] = {"Enable": True, "Database": str(worklists)}
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "orthanc.log"

    @property
    def target(self) -> str:
        """How tui-pacs names it on the command line."""
        return f"{self.aet}@127.0.0.1:{self.dicom_port}"

    def start(self) -> Orthanc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "orthanc.json"
        config_path.write_text(json.dumps(self.config, indent=2), encoding="utf-8")
        env = dict(os.environ, TCP_NODELAY="1")
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen([ORTHANC, str(config_path)], stdout=log,
                                             stderr=subprocess.STDOUT, env=env,
                                             cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start-up:\n{self.log_tail()}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc did not start in {START_TIMEOUT} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is None:
            return
        # Its storage is thrown away: no need to wait for a clean shutdown (seconds).
        self._process.kill()
        self._process.wait(timeout=15)
        self._process = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- REST -------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                         data=body, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
        return json.loads(data) if data else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, *paths: Path) -> None:
        for path in paths:
            self.request("POST", "/instances", path.read_bytes())

    def sop_instance_uids(self) -> set[str]:
        instances = self.get("/instances?expand")
        return {i["MainDicomTags"]["SOPInstanceUID"] for i in instances}

    def instance_count(self) -> int:
        return int(self.get("/statistics")["CountInstances"])

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
