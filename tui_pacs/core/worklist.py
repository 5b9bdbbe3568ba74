"""Modality worklist queries (PS3.4 K.6): the identifier, and rows from the answers.

A worklist entry is a scheduled procedure step: the patient and the
requested procedure at the top level of the identifier, the step itself
(station, modality, start date and time) inside the one item of the
Scheduled Procedure Step Sequence. Matching keys on the step go inside that
item, as the standard requires, and so do the return keys asked of it.
Rows come back flat, keyed by keyword like the rows of a C-FIND in the
Q/R models, the step's attributes beside the patient's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydicom.dataset import Dataset

from tui_pacs.core.filters import date_range
from tui_pacs.core.keys import BadKey
from tui_pacs.core.query import declare_character_set, row_from_identifier, set_key

STEP_SEQUENCE = "ScheduledProcedureStepSequence"

# Attributes of the Scheduled Procedure Step item (PS3.4 Table K.6-1).
STEP_KEYS = frozenset({
    "ScheduledStationAETitle", "ScheduledStationName", "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepEndDate", "ScheduledProcedureStepEndTime", "Modality",
    "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID", "ScheduledProcedureStepStatus", "PreMedication",
    "RequestedContrastAgent", "CommentsOnTheScheduledProcedureStep",
})

# What `worklist` and the Query screen show, in this order.
WORKLIST_COLUMNS: tuple[str, ...] = (
    "PatientName", "PatientID", "AccessionNumber", "RequestedProcedureDescription",
    "RequestedProcedureID", "ScheduledStationAETitle", "Modality",
    "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
)

# Asked back besides the columns: enough to tell steps apart and to find the study later.
RETURN_KEYS: tuple[str, ...] = WORKLIST_COLUMNS + (
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription",
)


def worklist_keys(keys: dict[str, str], *, station: str | None = None,
                  modality: str | None = None, when: str | None = None,
                  today: date | None = None) -> dict[str, str]:
    """``keys`` with the usual filters of a worklist added: the scheduled station's
    AE title, the modality, and the step's start date (``today``, ``7d``,
    ``20240115``, ``2024-01-01..2024-01-31``; raises BadFilter)."""
    keys = dict(keys)
    if station:
        keys["ScheduledStationAETitle"] = station.strip()
    if modality:
        keys["Modality"] = modality.strip().upper()
    if when:
        keys["ScheduledProcedureStepStartDate"] = date_range(when, today or date.today())
    return keys


def worklist_identifier(keys: dict[str, str],
                        return_keys: tuple[str, ...] = RETURN_KEYS) -> Dataset:
    """The C-FIND identifier of a worklist query: each key at its place (the step's
    inside the sequence item), then the return keys not already matched."""
    if STEP_SEQUENCE in keys:
        raise BadKey(f"{STEP_SEQUENCE} is matched through its attributes, "
                     "e.g. -k Modality=CT or -k ScheduledStationAETitle=CT1")
    ds, step = Dataset(), Dataset()
    for keyword in return_keys:
        if keyword not in keys:
            set_key(step if keyword in STEP_KEYS else ds, keyword, "")
    for keyword, value in keys.items():
        set_key(step if keyword in STEP_KEYS else ds, keyword, value)
    ds.ScheduledProcedureStepSequence = [step]
    declare_character_set(ds, keys)
    return ds


def row_from_worklist(ds: Dataset) -> dict[str, Any]:
    """A worklist answer as one flat row: the top level and the step's attributes.

    The standard allows one item in the sequence; a remote that sends more
    is shown by its first.
    """
    row = row_from_identifier(ds)
    steps = ds.get(STEP_SEQUENCE)
    if steps:
        row.update(row_from_identifier(steps[0]))
    return row
