"""The forwarding queue per destination: what waits, what failed, and why.

Opened from Activity (``w``). ``r`` sends the highlighted destination's
failed entries again (and its waiting ones now), ``c`` deletes its failed
entries after asking. The list is read again every few seconds while open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from tui_pacs.core.readable import plural
from tui_pacs.core.text import printable
from tui_pacs.ui.dialogs.confirm import ConfirmDialog
from tui_pacs.ui.failures import report_failure
from tui_pacs.ui.forwarding import DestinationSummary, summarize

if TYPE_CHECKING:
    from tui_pacs.ui.app import PacsApp

REFRESH_INTERVAL = 2.0
EMPTY = "Nothing waits to be forwarded."


class ForwardQueueDialog(ModalScreen[None]):
    BINDINGS: ClassVar = [
        Binding("r", "retry", "Retry"),
        Binding("c", "clear_failed", "Clear failed"),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog")
        self.summaries: list[DestinationSummary] = []

    @property
    def pacs(self) -> PacsApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box queue-box"):
            yield Static("Forwarding queue", classes="dialog-title", markup=False)
            yield Static(EMPTY, id="queue-empty", classes="dialog-text", markup=False)
            yield OptionList(id="queue")
            yield Static("r retries failed, c clears failed, escape closes", classes="hint",
                         markup=False)

    def on_mount(self) -> None:
        self.load()
        self.set_interval(REFRESH_INTERVAL, self.load)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event.worker)

    @work(group="queue", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        states = await self.pacs.backend.forward_queue()
        self.summaries = summarize(states, self.pacs.clock())
        listed = self.query_one("#queue", OptionList)
        highlighted = listed.highlighted
        listed.clear_options()
        listed.add_options([Option(_lines(s), id=s.destination) for s in self.summaries])
        if self.summaries:
            listed.highlighted = min(highlighted or 0, len(self.summaries) - 1)
        listed.display = bool(self.summaries)
        self.query_one("#queue-empty", Static).display = not self.summaries

    def _chosen(self) -> DestinationSummary | None:
        index = self.query_one("#queue", OptionList).highlighted
        return self.summaries[index] if index is not None and self.summaries else None

    @work(group="queue-change", exit_on_error=False)
    async def action_retry(self) -> None:
        chosen = self._chosen()
        if chosen is None:
            return
        again = await self.pacs.backend.retry_forwarding(chosen.destination)
        self.notify(f"{chosen.destination}: {plural(again, 'failed entry', 'failed entries')} "
                    "queued again; waiting ones go now.", timeout=4)
        self.load()

    def action_clear_failed(self) -> None:
        chosen = self._chosen()
        if chosen is None or not chosen.failed:
            return
        question = (f"Delete the {plural(chosen.failed, 'failed entry', 'failed entries')} "
                    f"for {chosen.destination}? Those instances stay in the archive but are "
                    "not forwarded.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._clear(chosen.destination)

        self.app.push_screen(ConfirmDialog("Clear failed entries", question, yes="Delete",
                                           danger=True), answered)

    @work(group="queue-change", exit_on_error=False)
    async def _clear(self, destination: str) -> None:
        cleared = await self.pacs.backend.clear_failed_forwarding(destination)
        self.notify(f"{destination}: {plural(cleared, 'failed entry', 'failed entries')} "
                    "deleted.", timeout=4)
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)


def _lines(summary: DestinationSummary) -> Content:
    """The destination, its counts and times; the last error on a second line."""
    parts = [f"{summary.pending:,} waiting" if summary.pending else "",
             f"{summary.failed:,} failed" if summary.failed else "",
             f"oldest {summary.oldest}", summary.next_try]
    head = Content.from_markup("[b]$name[/b]  $counts", name=printable(summary.destination),
                               counts=" · ".join(part for part in parts if part))
    if not summary.last_error:
        return head
    return Content("\n").join([head, Content(printable(f"  {summary.last_error}"))])
