"""What every screen of the app shares: the services, the section, palette entries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen
from textual.worker import Worker

from tui_pacs.ui.commands import PaletteEntry
from tui_pacs.ui.failures import report_failure
from tui_pacs.ui.widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from tui_pacs.ui.app import PacsApp
    from tui_pacs.ui.backend import Backend


class PacsScreen(Screen):
    # The section of the app this screen belongs to (see widgets.status_bar.SECTIONS).
    SECTION: ClassVar[str] = "local"
    # What the help screen calls this screen.
    HELP_TITLE: ClassVar[str] = "tui-pacs"
    # The actions the footer shows first, most important first (widgets/footer.py).
    FOOTER: ClassVar[tuple[str, ...]] = ()

    @property
    def pacs(self) -> PacsApp:
        return self.app  # type: ignore[return-value]

    @property
    def backend(self) -> Backend:
        return self.pacs.backend

    @property
    def table(self) -> VirtualTable:
        """The screen's list (the screens that have one give it the id "table")."""
        return self.query_one("#table", VirtualTable)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event.worker)

    def palette_entries(self) -> Iterator[PaletteEntry]:
        """Commands this screen offers beyond its key bindings (e.g. one per column)."""
        return iter(())
