"""The local archive grouped by patient: one row per patient, Enter for their studies.

A patient is PatientID with issuer, name and birth date: two hospitals'
"12345" are two rows.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding

from tui_pacs.core.model import Level, display_value
from tui_pacs.ui.rows import Row
from tui_pacs.ui.screens.archive_list import ArchiveListScreen, fixed_to
from tui_pacs.ui.widgets.virtual_table import Column

PATIENT_COLUMNS = [
    Column("PatientName", 18, flex=2),
    Column("PatientID", 14),
    Column("IssuerOfPatientID", 10, drop=3),
    Column("PatientBirthDate", 10),
    Column("PatientSex", 3),
    Column("NumberOfPatientRelatedStudies", 7, justify="right"),
    Column("NumberOfPatientRelatedInstances", 9, justify="right", drop=2),
]

PATIENT_KEYS = ("PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate")


def describe_patient(row: Row) -> str:
    born = display_value("PatientBirthDate", row.get("PatientBirthDate"))
    text = f"{row.get('PatientName') or '(no name)'} ({row.get('PatientID') or 'no ID'})"
    return f"{text}, born {born}" if born else text


class PatientsScreen(ArchiveListScreen):
    LEVEL = Level.PATIENT
    COLUMNS = PATIENT_COLUMNS
    HELP_TITLE = "patients in the local archive"
    NOUN = ("patient", "patients")
    EMPTY = "No patients in the archive."

    BINDINGS: ClassVar = [
        Binding("p", "back", "Studies"),
    ]

    def open_row(self, row: Row) -> None:
        from tui_pacs.ui.screens.studies import StudiesScreen

        self.app.push_screen(StudiesScreen(fixed_to(row, *PATIENT_KEYS),
                                           describe_patient(row)))

    @property
    def pinned_keys(self) -> tuple[str, ...]:
        return PATIENT_KEYS

    def describe(self, row: Row) -> str:
        return describe_patient(row)

    def delete_question(self, row: Row) -> tuple[str, str]:
        studies = row.get("NumberOfPatientRelatedStudies") or 0
        return ("Delete this patient?",
                f"{describe_patient(row)}\n{studies} studies.\n\nTheir files are removed "
                "from the archive for good.")
