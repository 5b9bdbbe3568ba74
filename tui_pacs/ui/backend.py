"""What the app runs on: the node (or only its archive), the client, the imaging engine.

Started and stopped on the app's event loop (``on_mount`` / ``on_unmount``),
so the pilot tests, the snapshot tests and ``tui-pacs`` all run the same
wiring. With ``listen=False`` the archive is opened without the DICOM
server: to browse an archive that ``tui-pacs serve`` already serves.
Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from tui_pacs.config import Settings
from tui_pacs.core.events import NodeEvent
from tui_pacs.core.model import Level
from tui_pacs.imaging.service import ImagingService
from tui_pacs.services.client import RemoteClient
from tui_pacs.services.export import (
    ExportOptions,
    ExportProgress,
    ExportReport,
    Selection,
    export,
)
from tui_pacs.services.holdings import held_instances
from tui_pacs.services.node import Node, NodeStatus
from tui_pacs.services.status import StatusService
from tui_pacs.store.archive import Archive
from tui_pacs.store.forward_queue import QueueState


class Backend:
    def __init__(self, settings: Settings, *, listen: bool = True) -> None:
        self.settings = settings
        self.listen = listen
        self.node: Node | None = None
        self._archive: Archive | None = None
        self._client: RemoteClient | None = None
        self._imaging: ImagingService | None = None
        self._status: StatusService | None = None
        self._stopping: asyncio.Future[None] | None = None

    @property
    def archive(self) -> Archive:
        return _started(self._archive)

    @property
    def client(self) -> RemoteClient:
        """Echo, find, move, get, send and doctor, off the event loop."""
        return _started(self._client)

    @property
    def status(self) -> StatusService:
        """How the node (or, without it, the archive) is doing: the same report
        ``tui-pacs status`` prints."""
        return _started(self._status)

    @property
    def imaging(self) -> ImagingService:
        """Decodes and renders frames in its own threads, with caches and prefetch."""
        return _started(self._imaging)

    async def held_instances(self, level: Level, uids: Iterable[str]) -> dict[str, int]:
        """Instances in the archive for each study (or series) UID of a query's results."""
        return await held_instances(self.archive, level, uids)

    async def export(self, selections: list[Selection], destination: Path,
                     options: ExportOptions,
                     on_progress: Callable[[ExportProgress], None] | None = None
                     ) -> ExportReport:
        """Write archived instances to a directory or a zip file (in a worker thread)."""
        return await export(self.archive, selections, destination, options, on_progress)

    async def set_protected(self, study_uid: str, protected: bool) -> bool:
        """Keep a study from retention (or no longer); False when it is gone."""
        return await self.archive.set_protected(study_uid, protected)

    async def forward_queue(self) -> list[QueueState]:
        """The forwarding queue per destination and state, as the index holds it now."""
        return await self.archive.forward_queue.summary()

    async def retry_forwarding(self, destination: str) -> int:
        """Send ``destination``'s failed entries again and its waiting ones now;
        returns how many failed entries were put back."""
        again = await self.archive.forward_queue.retry(destination)
        if self.node is not None and self.node.forwarder is not None:
            self.node.forwarder.wake()
        return again

    async def clear_failed_forwarding(self, destination: str) -> int:
        """Delete ``destination``'s failed entries; returns how many."""
        return await self.archive.forward_queue.clear_failed(destination)

    @property
    def node_status(self) -> NodeStatus | None:
        return self.node.status if self.node is not None else None

    async def start(self, on_event: Callable[[NodeEvent], None]) -> None:
        """Open the archive and, when listening, start the node.

        Raises ArchiveError when the data directory is unusable; a port that
        cannot be bound is not an error here (``node_status.listen_error``).
        """
        if self.listen:
            self.node = Node(self.settings)
            self.node.subscribe(on_event)
            await self.node.start()
            self._archive = self.node.archive
            self._status = self.node.health
        else:
            self._archive = await Archive.open(self.settings.node.data, self.settings.storage,
                                               self.settings.limits.max_dataset_mb)
            self._status = StatusService(self._archive, self.settings)
            self._status.start()
        self._client = RemoteClient(self.settings, self._archive)
        self._imaging = ImagingService()

    def apply_settings(self, settings: Settings) -> None:
        """New modalities (or access rules) from the config file: used from now on."""
        self.settings = settings
        if self._client is not None:
            self._client.settings = settings
        if self.node is not None:
            self.node.apply_settings(settings)

    async def stop(self) -> None:
        """Stop the node as SIGTERM stops ``tui-pacs serve`` (operations in progress
        finish and are acknowledged), then close the archive.

        Quitting, a signal, a vanished terminal and unmounting may each ask;
        they all wait for the one stop.
        """
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    def hurry_stop(self) -> None:
        """Make the stop under way abort busy associations now instead of waiting."""
        if self.node is not None:
            self.node.hurry_stop()

    async def _stop(self) -> None:
        if self._imaging is not None:
            await asyncio.to_thread(self._imaging.close)
            self._imaging = None
        if self.node is not None:
            await self.node.stop()
        elif self._archive is not None:
            assert self._status is not None  # made with the archive
            self._status.stop()
            await self._archive.close()
        self._archive = None


def _started(service):
    if service is None:
        raise RuntimeError("the backend is not started")
    return service
