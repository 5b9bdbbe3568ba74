"""The identifiers of a highlighted row, in full, and the one ``y`` copies.

Columns cut what does not fit, and UIDs never fit at 80 columns: the line
under each list shows the row's Patient ID, accession number and UIDs
whole, so a sysadmin can read them off (or copy one with ``y``) at any width.
"""

from __future__ import annotations

from textual.app import App
from textual.widgets import Static

from tui_pacs.core.model import Level
from tui_pacs.core.text import printable
from tui_pacs.ui.rows import Row

# What the line under a list shows for a row of each level, in this order.
IDENTIFIERS = {
    Level.PATIENT: (("Patient ID", "PatientID"), ("Issuer", "IssuerOfPatientID")),
    Level.STUDY: (("Patient ID", "PatientID"), ("Accession", "AccessionNumber"),
                  ("Study UID", "StudyInstanceUID")),
    Level.SERIES: (("Series UID", "SeriesInstanceUID"),),
    Level.IMAGE: (("SOP Instance UID", "SOPInstanceUID"),),
}

# What ``y`` copies: the level's UID; a patient has none, so their Patient ID.
COPIED = {Level.PATIENT: ("Patient ID", "PatientID"),
          Level.STUDY: ("Study UID", "StudyInstanceUID"),
          Level.SERIES: ("Series UID", "SeriesInstanceUID"),
          Level.IMAGE: ("SOP Instance UID", "SOPInstanceUID")}


def identifier_text(level: Level, row: Row | None) -> str:
    """``Patient ID PAT1  ·  Accession A1  ·  Study UID 1.2.3``, values as shown."""
    if row is None:
        return ""
    parts = [f"{label} {printable(str(row[key]))}" for label, key in IDENTIFIERS[level]
             if row.get(key)]
    if row.get("Protected"):
        parts.append("protected")
    return "  ·  ".join(parts)


def copy_identifier(app: App, level: Level, row: Row | None) -> None:
    """Put the row's UID (a patient's ID) on the clipboard by OSC 52, and say which."""
    label, key = COPIED[level]
    value = printable(str(row.get(key) or "")) if row is not None else ""
    if not value:
        app.notify(f"Nothing to copy: this row has no {label}.", severity="warning",
                   timeout=3)
        return
    app.copy_to_clipboard(value)
    app.notify(f"Copied {label} {value}.", timeout=3)


class IdentifierLine(Static):
    """The line under a list with the highlighted row's identifiers in full, after
    how many rows are marked (what send, export, delete, protect and retrieve act on)."""

    def __init__(self) -> None:
        super().__init__("", id="identifiers", classes="identifiers", markup=False)
        self._text = ""
        self._marked = 0

    def show(self, level: Level, row: Row | None) -> None:
        self._text = identifier_text(level, row)
        self._redraw()

    def show_marked(self, count: int) -> None:
        self._marked = count
        self._redraw()

    def _redraw(self) -> None:
        marked = f"{self._marked} marked (space unmarks)" if self._marked else ""
        self.update("  ·  ".join(part for part in (marked, self._text) if part))
