"""The study filter: name, patient ID, date (or range, or preset), modality, accession.

Posts ``FilterBar.Changed`` with the fields as typed, a moment after the
last key press, so typing a name does not query the archive per letter.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label

from tui_pacs.core.filters import StudyFilter

DEBOUNCE = 0.25

# field id, label, placeholder
LOCAL_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", "any"),
    ("patient_id", "ID", "any"),
    ("date", "Date", "any, today, 7d…"),
    ("modality", "Mod", "any"),
    ("accession", "Acc", "any"),
)
QUERY_FIELDS = LOCAL_FIELDS + (("description", "Desc", "any"),)


class FilterBar(Horizontal):
    BINDINGS: ClassVar = [
        Binding("escape", "done", "Back to the list"),
    ]

    class Changed(Message):
        def __init__(self, bar: FilterBar, value: StudyFilter) -> None:
            super().__init__()
            self.bar = bar
            self.value = value

        @property
        def control(self) -> FilterBar:
            return self.bar

    class Done(Message):
        """Enter (``submitted``) or escape in a field: the user is back to the list."""

        def __init__(self, submitted: bool) -> None:
            super().__init__()
            self.submitted = submitted

    def __init__(self, fields: tuple[tuple[str, str, str], ...] = LOCAL_FIELDS, *,
                 id: str | None = None) -> None:
        super().__init__(id=id, classes="filter-bar")
        self.fields = fields
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        for field, label, placeholder in self.fields:
            yield Label(label, classes="filter-label")
            yield Input(placeholder=placeholder, id=f"filter-{field}", compact=True,
                        classes=f"filter-input filter-{field}")

    @property
    def value(self) -> StudyFilter:
        return StudyFilter(**{field: self.query_one(f"#filter-{field}", Input).value
                              for field, _, _ in self.fields})

    def set_field(self, field: str, text: str) -> None:
        self.query_one(f"#filter-{field}", Input).value = text

    def clear(self) -> None:
        for field, _, _ in self.fields:
            self.set_field(field, "")

    def focus_field(self, field: str = "name") -> None:
        self.query_one(f"#filter-{field}", Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self._post)

    def _post(self) -> None:
        self._timer = None
        self.post_message(self.Changed(self, self.value))

    def flush(self) -> None:
        """Post a pending change now (enter in a field)."""
        if self._timer is not None:
            self._timer.stop()
            self._post()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.flush()
        self.post_message(self.Done(submitted=True))

    def action_done(self) -> None:
        self.flush()
        self.post_message(self.Done(submitted=False))
