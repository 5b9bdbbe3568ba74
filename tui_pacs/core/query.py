"""Identifiers for C-FIND, C-MOVE and C-GET requests, and rows from C-FIND answers.

Keys come as ``{keyword: value}`` (see :mod:`tui_pacs.core.keys`): a value is
matched the way PS3.4 C.2.2.2 says (wildcards, ranges, UID lists); an empty
value asks the remote to return that attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from tui_pacs.core.keys import BadKey
from tui_pacs.core.model import DEFAULT_COLUMNS, Level

PATIENT_ROOT = "patient"
STUDY_ROOT = "study"
INFORMATION_MODELS = (PATIENT_ROOT, STUDY_ROOT)

# Attributes about the query itself, not about what matched.
_QUERY_ONLY = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle",
                         "InstanceAvailability"})
_NUMERIC_VRS = frozenset({"US", "UL", "SS", "SL", "UV", "SV"})
_NUMBER_STRING_VRS = frozenset({"IS"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "SQ"})


@dataclass(frozen=True)
class RetrieveRequest:
    """What to retrieve: a level, an information model and the identifying keys."""

    level: Level
    model: str
    keys: dict[str, str] = field(default_factory=dict)

    def identifier(self) -> Dataset:
        return retrieve_identifier(self.level, self.keys)


def information_model(level: Level, model: str | None) -> str:
    """The Q/R information model to use: the one asked for, else the natural one."""
    if model is None:
        return PATIENT_ROOT if level is Level.PATIENT else STUDY_ROOT
    if model not in INFORMATION_MODELS:
        raise BadKey(f"{model!r} is not an information model (patient, study)")
    if model == STUDY_ROOT and level is Level.PATIENT:
        raise BadKey("the study root information model has no PATIENT level; "
                     "use -m patient")
    return model


def default_return_keys(level: Level) -> tuple[str, ...]:
    """What a query at ``level`` asks back: the columns shown, and the unique keys
    of the levels above (to drill down or retrieve)."""
    keys = list(DEFAULT_COLUMNS[level])
    if level in (Level.SERIES, Level.IMAGE):
        keys.append("StudyInstanceUID")
    if level is Level.IMAGE:
        keys.append("SeriesInstanceUID")
    keys.append(level.unique_key)
    return tuple(dict.fromkeys(keys))


def infer_level(keys: dict[str, str], default: Level = Level.STUDY) -> Level:
    """The level a retrieve means: that of the deepest unique key given."""
    for level in reversed(Level):
        if keys.get(level.unique_key, "").strip():
            return level
    return default


def find_identifier(level: Level, keys: dict[str, str],
                    return_keys: tuple[str, ...] | None = None) -> Dataset:
    """A C-FIND identifier: matching keys, then empty return keys."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level.value
    for keyword in return_keys if return_keys is not None else default_return_keys(level):
        if keyword not in keys:
            set_key(ds, keyword, "")
    for keyword, value in keys.items():
        set_key(ds, keyword, value)
    declare_character_set(ds, keys)
    return ds


def retrieve_identifier(level: Level, keys: dict[str, str]) -> Dataset:
    """A C-MOVE or C-GET identifier: the level and the keys saying what to retrieve."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level.value
    for keyword, value in keys.items():
        set_key(ds, keyword, value)
    declare_character_set(ds, keys)
    return ds


def set_key(ds: Dataset, keyword: str, value: str) -> None:
    """``keyword`` as a matching key (``value``) or a return key (empty); raises BadKey."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise BadKey(f"{keyword}: not a DICOM keyword")
    # Some attributes have several possible VRs ("OB or OW", "US or SS"): take the first.
    vr = dictionary_VR(tag).split(" or ")[0]
    if vr in _BINARY_VRS:
        if value:
            raise BadKey(f"{keyword} ({vr}) cannot be matched from the command line")
        ds.add_new(tag, vr, None)
        return
    if vr in _NUMERIC_VRS:
        if not value:
            ds.add_new(tag, vr, None)
            return
        try:
            ds.add_new(tag, vr, int(value))
        except ValueError:
            raise BadKey(f"{keyword}={value}: {keyword} takes a whole number") from None
        return
    ds.add_new(tag, vr, value)


def declare_character_set(ds: Dataset, keys: dict[str, str]) -> None:
    """Keys typed beyond ASCII are sent in UTF-8, and the identifier says so."""
    if not all(value.isascii() for value in keys.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"


def row_from_identifier(ds: Dataset) -> dict[str, Any]:
    """A C-FIND answer as a dict keyed by keyword, like the archive index's rows.

    Numbers (IS, US, ...) become ints, everything else text; multiple values
    are joined with backslashes; sequences and binary values are left out.
    """
    row: dict[str, Any] = {}
    for elem in ds:
        keyword = elem.keyword
        if not keyword or keyword in _QUERY_ONLY or elem.VR in _BINARY_VRS:
            continue
        row[keyword] = _plain(elem.value, elem.VR)
    return row


def _plain(value: Any, vr: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    if vr in _NUMERIC_VRS or vr in _NUMBER_STRING_VRS:
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)
