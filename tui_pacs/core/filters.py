"""What people type into filter and query fields, turned into DICOM query keys.

Shared by the local browser's filter bar and the query form. People type
``smith``, ``today`` or ``2024-01-01..2024-01-31``; the archive and remote
nodes want ``*smith*``, ``20240612`` and ``20240101-20240131``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import date as _Date  # StudyFilter's field "date" hides the type there

# Presets of the date field, in the order the "cycle dates" key walks them.
DATE_PRESETS: tuple[tuple[str, str], ...] = (
    ("", "any date"),
    ("today", "today"),
    ("yesterday", "yesterday"),
    ("7d", "last 7 days"),
    ("30d", "last 30 days"),
)

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DICOM_DATE_OR_RANGE = re.compile(r"^(\d{8})?-?(\d{8})?$")
_DAYS = re.compile(r"^(\d{1,4})\s*d(ays?)?$")


class BadFilter(ValueError):
    """A field value that makes no query; the message says which and why."""


def date_range(text: str, today: date) -> str:
    """A date field as a DICOM date or range ("" for any date).

    Accepts the presets (``today``, ``yesterday``, ``7d``, ``30d``, any ``Nd``),
    dates as ``20240115`` or ``2024-01-15``, and ranges as ``A-B``, ``A-``,
    ``-B`` or ``A..B``.
    """
    text = text.strip().lower()
    if not text or text in ("*", "any", "any date"):
        return ""
    if text == "today":
        return _dicom(today)
    if text == "yesterday":
        return _dicom(today - timedelta(days=1))
    if text in ("week", "last 7 days"):
        text = "7d"
    days = _DAYS.match(text)
    if days:
        return f"{_dicom(today - timedelta(days=int(days.group(1)) - 1))}-{_dicom(today)}"
    value = _ISO_DATE.sub(r"\1\2\3", text).replace("..", "-").replace(" ", "")
    match = _DICOM_DATE_OR_RANGE.match(value)
    if not match or not (match.group(1) or match.group(2)) or value == "-":
        raise BadFilter(f"date {text!r}: use today, yesterday, 7d, 20240115, "
                        "2024-01-01..2024-01-31 or 20240101-")
    for part in filter(None, match.groups()):
        _check_date(part, text)
    return value


def next_date_preset(current: str) -> str:
    """The preset after ``current`` (back to "any date" after the last, or from custom)."""
    names = [name for name, _ in DATE_PRESETS]
    try:
        return names[(names.index(current.strip().lower()) + 1) % len(names)]
    except ValueError:
        return names[0]


def date_preset_label(text: str) -> str:
    return dict(DATE_PRESETS).get(text.strip().lower(), text)


def name_pattern(text: str, *, contains: bool) -> str:
    """A person name as typed: wildcards kept; else a prefix (or "contains") match."""
    text = text.strip()
    if not text or _has_wildcard(text):
        return text
    return f"*{text}*" if contains else f"{text}*"


def prefix_pattern(text: str) -> str:
    """IDs and accession numbers: as typed with wildcards, else a prefix match."""
    text = text.strip()
    if not text or _has_wildcard(text):
        return text
    return f"{text}*"


def modality_list(text: str) -> str:
    """``ct mr`` or ``CT,MR`` -> ``CT\\MR`` (any of them)."""
    codes = [code for code in re.split(r"[\s,\\/]+", text.strip().upper()) if code]
    for code in codes:
        if not re.fullmatch(r"[A-Z0-9_]{1,16}", code):
            raise BadFilter(f"modality {code!r}: use codes such as CT, MR or CT,MR")
    return "\\".join(codes)


@dataclass(frozen=True)
class StudyFilter:
    """The filter bar's fields as typed."""

    name: str = ""
    patient_id: str = ""
    date: str = ""
    modality: str = ""
    accession: str = ""
    description: str = ""

    def keys(self, today: _Date, *, contains: bool = True) -> dict[str, str]:
        """Query keys (keyword -> DICOM query value) for the fields filled in.

        ``contains`` makes a name match anywhere in the name (the local
        archive); remote nodes get a prefix match, which every PACS indexes.
        """
        keys = {
            "PatientName": name_pattern(self.name, contains=contains),
            "PatientID": prefix_pattern(self.patient_id),
            "StudyDate": date_range(self.date, today),
            "ModalitiesInStudy": modality_list(self.modality),
            "AccessionNumber": prefix_pattern(self.accession),
            "StudyDescription": name_pattern(self.description, contains=contains),
        }
        return {keyword: value for keyword, value in keys.items() if value}

    @property
    def is_empty(self) -> bool:
        return not any((self.name, self.patient_id, self.date, self.modality, self.accession,
                        self.description))

    def summary(self) -> str:
        """One line for a title bar: ``name smith*, today, CT``."""
        parts = []
        if self.name.strip():
            parts.append(f"name {self.name.strip()}")
        if self.patient_id.strip():
            parts.append(f"ID {self.patient_id.strip()}")
        if self.date.strip():
            parts.append(date_preset_label(self.date))
        if self.modality.strip():
            parts.append(self.modality.strip().upper())
        if self.accession.strip():
            parts.append(f"accession {self.accession.strip()}")
        if self.description.strip():
            parts.append(f"description {self.description.strip()}")
        return ", ".join(parts)


def _has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _dicom(day: date) -> str:
    return day.strftime("%Y%m%d")


def _check_date(value: str, typed: str) -> None:
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise BadFilter(f"date {typed!r}: {value} is not a calendar date") from None
