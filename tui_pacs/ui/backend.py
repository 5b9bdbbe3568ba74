"""What the app runs on: the archive, and the services around it.

Started and stopped on the app's event loop (``on_mount`` / ``on_unmount``),
so the pilot tests, the snapshot tests and ``tui-pacs`` all run the same
wiring. Nothing here imports Textual.
"""

from __future__ import annotations

from tui_pacs.config import Settings
from tui_pacs.store.archive import Archive


class Backend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._archive: Archive | None = None

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            raise RuntimeError("the backend is not started")
        return self._archive

    async def start(self) -> None:
        """Open the archive; raises ArchiveError when the data directory is unusable."""
        self._archive = await Archive.open(self.settings.node.data, self.settings.storage)

    async def stop(self) -> None:
        if self._archive is not None:
            await self._archive.close()
            self._archive = None
