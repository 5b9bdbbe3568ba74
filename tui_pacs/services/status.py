"""The one place that says how the node is doing: for ``tui-pacs status`` and the app.

API (on the event loop)::

    status = StatusService(archive, settings, node)   # node: None for the app without it
    status.start()                  # keep the last problems logged
    status.contribute("forwarding", collect)   # a service adds its section
    await status.refresh()          # count the archive, ask each service for its section
    status.snapshot()               # a StatusReport from what is known now (no I/O but statvfs)
    await status.report()           # refresh, then snapshot: what the status socket answers
    status.stop()

The node's own figures (listening, associations) are live in every
snapshot; the archive's counts and the sections are those of the last
:meth:`refresh`, which the app calls when the archive changed and the
status socket before each answer. Both front ends read the same report.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tui_pacs.config import Settings
from tui_pacs.core.node_report import (
    ArchiveTotals,
    DiskSpace,
    LoggedProblem,
    ReceivedToday,
    Section,
    StatusReport,
)
from tui_pacs.core.readable import byte_size, plural

if TYPE_CHECKING:
    from tui_pacs.services.node import Node
    from tui_pacs.store.archive import Archive

log = logging.getLogger(__name__)

# How many problems logged the report keeps.
LAST_ERRORS = 10
# An ERROR logged this recently makes the node need attention.
RECENT = timedelta(minutes=15)

Collect = Callable[[], Awaitable[Section]]


class StatusService:
    def __init__(self, archive: Archive, settings: Settings, node: Node | None = None, *,
                 clock: Callable[[], datetime] = lambda: datetime.now().astimezone()) -> None:
        self._archive = archive
        self._settings = settings
        self._node = node
        self._clock = clock
        self._started = time.monotonic()
        self._collectors: dict[str, Collect] = {}
        self._sections: dict[str, Section] = {}
        self._archive_totals: ArchiveTotals | None = None
        self._today: ReceivedToday | None = None
        self._problems = _ProblemLog(LAST_ERRORS)

    @property
    def settings(self) -> Settings:
        return self._node.settings if self._node is not None else self._settings

    def start(self) -> None:
        logging.getLogger().addHandler(self._problems)

    def stop(self) -> None:
        logging.getLogger().removeHandler(self._problems)

    def contribute(self, name: str, collect: Collect) -> None:
        """Add the section ``name`` to every report: ``collect()`` returns its figures
        and what needs attention (quickly: the status command waits for it)."""
        self._collectors[name] = collect

    async def refresh(self) -> None:
        midnight = datetime.combine(self._clock().date(), datetime.min.time()).astimezone()
        totals = await self._archive.index.totals(received_since=midnight)
        self._archive_totals = ArchiveTotals(totals["studies"], totals["instances"],
                                             totals["bytes"])
        self._today = ReceivedToday(midnight.date(), totals["received_instances"],
                                    totals["received_bytes"])
        for name, collect in list(self._collectors.items()):
            try:
                self._sections[name] = await collect()
            except Exception as exc:
                log.exception("the %s section of the status failed", name)
                self._sections[name] = Section(attention=(f"{name}: no figures ({exc})",))

    async def report(self) -> StatusReport:
        await self.refresh()
        return self.snapshot()

    def snapshot(self) -> StatusReport:
        now = self._clock()
        settings = self.settings
        node = self._node.status if self._node is not None else None
        today = self._today
        if today is None or today.day != now.date():  # counted before midnight
            today = ReceivedToday(now.date(), 0, 0) if today else None
        report = StatusReport(
            time=now,
            aet=node.aet if node else settings.node.aet,
            pid=os.getpid(),
            data_dir=str(settings.node.data),
            started=node.started_at.astimezone() if node and node.started_at else None,
            uptime=time.monotonic() - self._started,
            dicom_server=node is not None,
            listening=node.listeners if node else (),
            listen_error=node.listen_error if node else "",
            associations_now=node.active_associations if node else 0,
            associations_since_start=node.associations if node else 0,
            archive=self._archive_totals,
            today=today,
            disk=self._disk(settings),
            last_errors=self._problems.last(),
            sections={name: section.data for name, section in self._sections.items()},
            attention=(),
        )
        return replace(report, attention=tuple(self._attention(report)))

    def _attention(self, report: StatusReport) -> Iterator[str]:
        """What needs someone to look, one line each."""
        if report.dicom_server and not report.listening:
            yield (f"not listening: {report.listen_error}" if report.listen_error
                   else "not listening")
        disk = report.disk
        if disk is None:
            yield "the free space of the data directory cannot be read"
        elif disk.below_reserve:
            yield (f"disk: {byte_size(disk.free)} free, below the reserve of "
                   f"{byte_size(disk.reserve)} (storage.min_free_mb): C-STORE is refused")
        recent = [p for p in report.last_errors
                  if p.level in ("error", "critical") and report.time - p.time <= RECENT]
        if recent:
            yield (f"{plural(len(recent), 'error')} logged in the last "
                   f"{RECENT.seconds // 60} minutes")
        for section in self._sections.values():
            yield from section.attention

    def _disk(self, settings: Settings) -> DiskSpace | None:
        """None when the data directory cannot be asked (the report says so)."""
        try:
            usage = shutil.disk_usage(settings.node.data)
        except OSError:
            return None
        return DiskSpace(usage.free, usage.used, usage.total,
                         settings.storage.min_free_mb * 1_048_576)


class _ProblemLog(logging.Handler):
    """Keeps the last log records at WARNING or above, from any thread."""

    def __init__(self, size: int) -> None:
        super().__init__(logging.WARNING)
        self._records: deque[LoggedProblem] = deque(maxlen=size)
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string in someone's log call
            message = str(record.msg)
        problem = LoggedProblem(datetime.fromtimestamp(record.created).astimezone(),
                                record.levelname.lower(), message)
        with self._records_lock:
            self._records.append(problem)

    def last(self) -> tuple[LoggedProblem, ...]:
        with self._records_lock:
            return tuple(self._records)
