"""Choose a configured modality (where to send, which to query)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui_pacs.config import Modality


class PickModality(ModalScreen[Modality | None]):
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, modalities: tuple[Modality, ...]) -> None:
        super().__init__(classes="dialog")
        self._heading = title
        self.modalities = modalities

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self._heading, classes="dialog-title", markup=False)
            if self.modalities:
                yield OptionList(*(Option(f"{m.name}  {m.aet}@{m.host}:{m.port}", id=m.name)
                                   for m in self.modalities), id="modalities")
            else:
                yield Static("No remote modalities yet: add one in Remotes (3, then n).",
                             classes="dialog-text", markup=False)
            yield Static("enter chooses, escape cancels", classes="hint", markup=False)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(next(m for m in self.modalities if m.name == event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
