"""A yes/no question in a box, answered by key: y or n (enter takes the default)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui_pacs.core.text import printable


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS: ClassVar = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, question: str, *, yes: str = "Yes", no: str = "No",
                 danger: bool = False) -> None:
        super().__init__(classes="dialog")
        # Both may quote a patient's name or a description: shown, never acted on.
        self._title = printable(title)
        self._question = printable(question, keep="\n")
        self._yes = yes
        self._no = no
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self._title, classes="dialog-title", markup=False)
            yield Static(self._question, classes="dialog-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._yes} (y)", id="yes", compact=True,
                             variant="error" if self._danger else "primary")
                yield Button(f"{self._no} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        # The safe answer has the focus: enter on a dangerous question says no.
        self.query_one("#no" if self._danger else "#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
