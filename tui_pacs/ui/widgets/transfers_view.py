"""Progress of the transfers in flight, one line each, above the footer of every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from tui_pacs.core.text import printable
from tui_pacs.ui.transfers import Transfer

# More than this many at once: the rest are summed up on one line.
SHOWN = 2


class TransfersView(Vertical):
    def on_mount(self) -> None:
        self.watch(self.app, "transfers_started", self._changed)
        self.watch(self.app, "transfers_progress", self._progress, init=False)

    def _in_flight(self) -> list[Transfer]:
        return list(self.app.transfers.running.values())  # type: ignore[attr-defined]  # PacsApp

    async def _changed(self) -> None:
        await self.recompose()
        self.display = bool(self._in_flight())

    def compose(self) -> ComposeResult:
        running = self._in_flight()
        for transfer in running[:SHOWN]:
            with Horizontal(classes="transfer", id=f"transfer-{transfer.number}"):
                yield Label(printable(transfer.title), classes="transfer-title", markup=False)
                yield ProgressBar(total=transfer.total, show_eta=False,
                                  id=f"transfer-bar-{transfer.number}")
                yield Label(transfer.counts, classes="transfer-counts",
                            id=f"transfer-counts-{transfer.number}", markup=False)
        if len(running) > SHOWN:
            yield Label(f"and {len(running) - SHOWN} more", classes="transfer-more")

    def _progress(self) -> None:
        for transfer in self._in_flight()[:SHOWN]:
            bars = self.query(f"#transfer-bar-{transfer.number}")
            if not bars:
                continue
            bars.first(ProgressBar).update(total=transfer.total, progress=transfer.done)
            self.query_one(f"#transfer-counts-{transfer.number}", Label).update(
                transfer.counts)
