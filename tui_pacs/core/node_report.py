"""The node's health as one value: what ``tui-pacs status`` prints and the app's top line shows.

A :class:`StatusReport` is made by :mod:`tui_pacs.services.status` on the
node and travels to ``tui-pacs status`` as JSON (:meth:`StatusReport.to_json`,
:meth:`StatusReport.from_json`); the README documents that JSON, so a key
keeps its meaning once released and ``version`` goes up when one changes.
Services that run on the node (forwarding, retention) add their figures as
named ``sections``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# The version of the JSON layout below.
VERSION = 1


@dataclass(frozen=True)
class ListenAddress:
    address: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{self.address}:{self.port}" + (" (TLS)" if self.tls else "")


@dataclass(frozen=True)
class ArchiveTotals:
    studies: int
    instances: int
    bytes: int


@dataclass(frozen=True)
class ReceivedToday:
    """Instances that entered the archive since local midnight (received,
    retrieved or imported) and are still there."""

    day: date
    instances: int
    bytes: int


@dataclass(frozen=True)
class DiskSpace:
    """The file system of the data directory, and the reserve C-STORE keeps."""

    free: int
    used: int
    total: int
    reserve: int

    @property
    def below_reserve(self) -> bool:
        return self.free < self.reserve


@dataclass(frozen=True)
class LoggedProblem:
    """A log line at level WARNING or above."""

    time: datetime
    level: str
    message: str


@dataclass(frozen=True)
class Section:
    """What a service running on the node adds to the report: its figures
    (JSON values) and what about it needs attention."""

    data: dict[str, Any] = field(default_factory=dict)
    attention: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusReport:
    # When the node made this report.
    time: datetime
    aet: str
    pid: int
    data_dir: str
    started: datetime | None
    uptime: float
    # False for the app opened without its DICOM server: nothing should listen.
    dicom_server: bool
    listening: tuple[ListenAddress, ...]
    # Why the node is not listening, in one line ("" when it is, or need not).
    listen_error: str
    associations_now: int
    associations_since_start: int
    # None until the index has been counted.
    archive: ArchiveTotals | None
    today: ReceivedToday | None
    disk: DiskSpace | None
    last_errors: tuple[LoggedProblem, ...]
    # Each service's section, by name ("forwarding", "retention").
    sections: dict[str, dict[str, Any]]
    # What needs someone to look, one line each; empty when healthy.
    attention: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.attention

    @property
    def port(self) -> int | None:
        """The first port the node listens on."""
        return self.listening[0].port if self.listening else None

    def to_json(self) -> dict[str, Any]:
        archive, today, disk = self.archive, self.today, self.disk
        return {
            "version": VERSION,
            "time": self.time.isoformat(timespec="seconds"),
            "healthy": self.healthy,
            "attention": list(self.attention),
            "node": {
                "aet": self.aet,
                "pid": self.pid,
                "data": self.data_dir,
                "started": self.started.isoformat(timespec="seconds") if self.started else None,
                "uptime_s": round(self.uptime, 1),
                "dicom_server": self.dicom_server,
                "listening": [{"address": a.address, "port": a.port, "tls": a.tls}
                              for a in self.listening],
                "listen_error": self.listen_error,
            },
            "associations": {"now": self.associations_now,
                             "since_start": self.associations_since_start},
            "archive": None if archive is None else {
                "studies": archive.studies, "instances": archive.instances,
                "bytes": archive.bytes},
            "today": None if today is None else {
                "date": today.day.isoformat(), "instances": today.instances,
                "bytes": today.bytes},
            "disk": None if disk is None else {
                "free_bytes": disk.free, "used_bytes": disk.used, "total_bytes": disk.total,
                "reserve_bytes": disk.reserve, "below_reserve": disk.below_reserve},
            "last_errors": [{"time": p.time.isoformat(timespec="seconds"), "level": p.level,
                             "message": p.message} for p in self.last_errors],
            "sections": self.sections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusReport:
        """The report a node sent; raises KeyError, TypeError or ValueError when
        it is not one (of this version)."""
        if data.get("version") != VERSION:
            raise ValueError(f"report version {data.get('version')!r}, expected {VERSION}")
        node, archive, today, disk = data["node"], data["archive"], data["today"], data["disk"]
        return cls(
            time=datetime.fromisoformat(data["time"]),
            aet=str(node["aet"]),
            pid=int(node["pid"]),
            data_dir=str(node["data"]),
            started=datetime.fromisoformat(node["started"]) if node["started"] else None,
            uptime=float(node["uptime_s"]),
            dicom_server=bool(node["dicom_server"]),
            listening=tuple(ListenAddress(str(a["address"]), int(a["port"]), bool(a["tls"]))
                            for a in node["listening"]),
            listen_error=str(node["listen_error"]),
            associations_now=int(data["associations"]["now"]),
            associations_since_start=int(data["associations"]["since_start"]),
            archive=None if archive is None else ArchiveTotals(
                int(archive["studies"]), int(archive["instances"]), int(archive["bytes"])),
            today=None if today is None else ReceivedToday(
                date.fromisoformat(today["date"]), int(today["instances"]),
                int(today["bytes"])),
            disk=None if disk is None else DiskSpace(
                int(disk["free_bytes"]), int(disk["used_bytes"]), int(disk["total_bytes"]),
                int(disk["reserve_bytes"])),
            last_errors=tuple(LoggedProblem(datetime.fromisoformat(p["time"]), str(p["level"]),
                                            str(p["message"])) for p in data["last_errors"]),
            sections=dict(data["sections"]),
            attention=tuple(str(line) for line in data["attention"]),
        )
