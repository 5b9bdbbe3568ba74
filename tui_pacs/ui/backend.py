"""What the app runs on: the archive, and the services around it.

Started and stopped on the app's event loop (``on_mount`` / ``on_unmount``),
so the pilot tests, the snapshot tests and ``tui-pacs`` all run the same
wiring. Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio

from tui_pacs.config import Settings
from tui_pacs.imaging.service import ImagingService
from tui_pacs.store.archive import Archive


class Backend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._archive: Archive | None = None
        self._imaging: ImagingService | None = None

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            raise RuntimeError("the backend is not started")
        return self._archive

    @property
    def imaging(self) -> ImagingService:
        """Decodes and renders frames in its own threads, with caches and prefetch."""
        if self._imaging is None:
            raise RuntimeError("the backend is not started")
        return self._imaging

    async def start(self) -> None:
        """Open the archive; raises ArchiveError when the data directory is unusable."""
        self._archive = await Archive.open(self.settings.node.data, self.settings.storage)
        self._imaging = ImagingService()

    async def stop(self) -> None:
        if self._imaging is not None:
            await asyncio.to_thread(self._imaging.close)
            self._imaging = None
        if self._archive is not None:
            await self._archive.close()
            self._archive = None
