"""Choose a window from a list: the file's, the automatic one, the CT presets.

``w`` cycles through the same windows one by one; with eleven CT presets,
a radiographer who wants "lung" picks it here in two keys instead.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui_pacs.core.text import printable
from tui_pacs.imaging.window import WindowChoice


class PickWindow(ModalScreen[WindowChoice | None]):
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, choices: tuple[WindowChoice, ...],
                 current: WindowChoice | None) -> None:
        super().__init__(classes="dialog")
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static("Window", classes="dialog-title", markup=False)
            options = []
            for number, choice in enumerate(self.choices):
                text = choice.describe()
                if choice.explanation:
                    text += f"  {choice.explanation}"
                options.append(Option(printable(text), id=str(number)))
            yield OptionList(*options, id="windows")
            yield Static("enter chooses, escape cancels", classes="hint", markup=False)

    def on_mount(self) -> None:
        if self.current in self.choices:
            self.query_one(OptionList).highlighted = self.choices.index(self.current)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
