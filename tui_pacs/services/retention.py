"""Keeping the archive within ``[retention]`` while the node runs.

A node left alone for months must not fill its disk. The keeper checks the
limits when the node starts, a few seconds after instances arrive (once for
a whole batch, not per instance: a study of 2,000 images makes one check),
and every hour, when nothing arrives, for ``keep_days``. Each study it
deletes is logged with its patient and the limit it went for; the deletion
itself is the archive's (the writer thread: files and index together,
crash-safe, holds checked again as it runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from tui_pacs.config import RetentionConfig
from tui_pacs.core.node_report import Section
from tui_pacs.store.archive import Archive, DeleteResult, StoreResult
from tui_pacs.store.retention import Expired, Limits, delete_expired, describe, plan

log = logging.getLogger(__name__)

# After an instance arrives, wait this long for the rest of its batch.
SETTLE_SECONDS = 5.0
# A check at least this often, whether or not anything arrives (keep_days).
INTERVAL_SECONDS = 3600.0


class RetentionKeeper:
    def __init__(self, archive: Archive, config: RetentionConfig,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self._archive = archive
        self._config = config
        self._clock = clock
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The last "still over a limit" said, not repeated at every check.
        self._warned = ""

    def start(self) -> None:
        """Check now, then after arrivals and every hour, until :meth:`stop`."""
        self._archive.add_listener(self._arrived)
        self._due.set()
        self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        self._archive.remove_listener(self._arrived)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def update(self, config: RetentionConfig) -> None:
        """New limits (the config file changed): checked against at once."""
        if config != self._config:
            self._config = config
            self._due.set()

    def _arrived(self, result: StoreResult) -> None:
        self._due.set()

    async def section(self) -> Section:
        """The limits, for the node's status report; a limit the archive is still
        over (everything left is held) needs attention."""
        config = self._config
        limits = {"max_studies": config.max_studies, "max_size_gb": config.max_size_gb,
                  "keep_days": config.keep_days}
        data = {name: value for name, value in limits.items() if value is not None}
        attention = (f"retention: still over a limit: {self._warned}",) if self._warned else ()
        return Section(data, attention)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._due.wait(), INTERVAL_SECONDS)
            except TimeoutError:
                pass
            else:
                await asyncio.sleep(SETTLE_SECONDS)
            self._due.clear()
            try:
                await self.check()
            except Exception:
                log.exception("retention: the check failed; trying again at the next one")

    async def check(self) -> list[Expired]:
        """Delete what the limits do not allow now; returns what was deleted."""
        config = self._config
        if not config.enabled:
            return []
        archive = self._archive
        receiving = archive.receiving_studies()
        found = await plan(archive.index, Limits.from_config(config, self._clock().astimezone()),
                           receiving)
        deleted = []
        for expired in found.expired:
            result = await delete_expired(archive, expired)
            if result is None:
                log.info("retention: kept study %s: held or gone since it was chosen",
                         expired.study.study_uid)
                continue
            deleted.append(expired)
            _log_deletion(expired, result)
        if found.still_over and found.still_over != self._warned:
            log.warning("retention: still over a limit: %s", found.still_over)
        self._warned = found.still_over
        if found.still_over and receiving:
            # Studies being received are free once their association ends: look again.
            self._due.set()
        return deleted


def _log_deletion(expired: Expired, result: DeleteResult) -> None:
    study = expired.study
    log.info("retention: deleted %s, %d instances; %s", describe(study), result.instances,
             expired.reason,
             extra={"fields": {"event": "retention", "study_uid": study.study_uid,
                               "patient_id": study.patient_id,
                               "patient_name": study.patient_name,
                               "instances": result.instances, "bytes": study.size,
                               "reason": expired.reason}})
