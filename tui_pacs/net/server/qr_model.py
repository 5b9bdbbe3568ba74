"""Query/Retrieve identifiers and the archive's index rows (PS3.4 Annex C).

C-FIND: an identifier names a level, the keys to match and the keys to
return. Keys the index holds are matched there (:mod:`tui_pacs.core.matching`
rules: wildcards, ranges, UID lists, person names without regard to case);
every requested key comes back, filled from the index, or empty when the
index does not hold it. Choices where PS3.4 leaves room:

* Keys of the query level and the levels above it are matched, whichever
  model is used (Study Root STUDY queries may match PatientName). The unique
  keys of the levels above are not required: many SCUs leave them out of a
  SERIES or IMAGE query, and matching without them is the relational query
  PS3.4 C.4.1.2.2 describes.
* Keys below the query level, sequences and attributes the index does not
  hold match everything and are returned empty (private creators are
  returned as sent, so private blocks stay well formed).
* The unique key of the query level is always returned, requested or not.
  RetrieveAETitle is answered with our AE title and InstanceAvailability
  with ONLINE when they are requested.
* Values are decoded with the request's Specific Character Set; responses
  are plain ASCII when they can be, ISO_IR 192 (UTF-8) otherwise.
* Responses are written by :mod:`tui_pacs.net.wire.identifiers` without
  pydicom's dataset machinery (:class:`FindResponses`), the index's values
  as they are (multiple values are stored backslash-separated, as on the wire).

C-MOVE and C-GET: the identifier must carry the unique key of the retrieve
level with a value (one UID or a list); the unique keys of the levels above
narrow it further; other keys are ignored, as PS3.4 C.4.2.2.1 prescribes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pynetdicom import sop_class

from tui_pacs.core import status
from tui_pacs.core.matching import Matcher, Universal, parse_match
from tui_pacs.core.model import ATTRIBUTES_BY_KEYWORD, Level
from tui_pacs.net.wire.identifiers import Element, Field, IdentifierWriter

QUERY_RETRIEVE_LEVEL = 0x00080052
SPECIFIC_CHARACTER_SET = 0x00080005
RETRIEVE_AE_TITLE = 0x00080054
INSTANCE_AVAILABILITY = 0x00080056
UTF8 = "ISO_IR 192"


class QueryError(Exception):
    """An identifier the SCP cannot serve; carries the DIMSE status to answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class InformationModel:
    name: str
    levels: tuple[Level, ...]


PATIENT_ROOT = InformationModel("Patient Root", tuple(Level))
STUDY_ROOT = InformationModel("Study Root", (Level.STUDY, Level.SERIES, Level.IMAGE))

MODELS: dict[str, InformationModel] = {
    sop_class.PatientRootQueryRetrieveInformationModelFind: PATIENT_ROOT,
    sop_class.PatientRootQueryRetrieveInformationModelMove: PATIENT_ROOT,
    sop_class.PatientRootQueryRetrieveInformationModelGet: PATIENT_ROOT,
    sop_class.StudyRootQueryRetrieveInformationModelFind: STUDY_ROOT,
    sop_class.StudyRootQueryRetrieveInformationModelMove: STUDY_ROOT,
    sop_class.StudyRootQueryRetrieveInformationModelGet: STUDY_ROOT,
}


def model_of(sop_class_uid: str | None) -> InformationModel:
    try:
        return MODELS[str(sop_class_uid)]
    except KeyError:
        raise QueryError(status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                         f"unsupported information model {sop_class_uid}") from None


def level_of(identifier: Dataset, model: InformationModel) -> Level:
    """The Query/Retrieve Level, checked against the information model."""
    text = _text(identifier.get(QUERY_RETRIEVE_LEVEL))
    if not text:
        raise QueryError(status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                         "QueryRetrieveLevel is missing")
    try:
        level = Level(text.upper())
    except ValueError:
        raise QueryError(status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                         f"QueryRetrieveLevel {text!r} is not PATIENT, STUDY, SERIES "
                         "or IMAGE") from None
    if level not in model.levels:
        raise QueryError(status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                         f"{model.name} has no {level.value} level")
    return level


@dataclass(frozen=True)
class ReturnKey:
    """An attribute the response identifier carries."""

    tag: int
    vr: str
    # The index keyword whose value fills it, or "" for an empty value.
    keyword: str = ""
    # A value that does not come from the index (private creators, ...).
    fixed: Any = None


@dataclass(frozen=True)
class FindQuery:
    model: InformationModel
    level: Level
    matchers: dict[str, Matcher]
    returns: tuple[ReturnKey, ...]

    def describe(self) -> str:
        """A short description for the log: model, level and the matched keys."""
        keys = ", ".join(k for k, m in self.matchers.items() if not isinstance(m, Universal))
        return f"{self.model.name} {self.level.value}" + (f" ({keys})" if keys else "")


def parse_find(identifier: Dataset, model: InformationModel) -> FindQuery:
    level = level_of(identifier, model)
    usable = _INDEXED_KEYWORDS[level]
    matchers: dict[str, Matcher] = {}
    returns: list[ReturnKey] = []
    for elem in _elements(identifier):
        tag = int(elem.tag)
        if tag in (QUERY_RETRIEVE_LEVEL, SPECIFIC_CHARACTER_SET):
            continue
        keyword = keyword_for_tag(tag)
        if keyword in usable:
            vr = ATTRIBUTES_BY_KEYWORD[keyword].vr
            matchers[keyword] = parse_match(_text(elem), vr)
            returns.append(ReturnKey(tag, vr, keyword))
        elif elem.tag.is_private and elem.tag.element < 0x0100:
            returns.append(ReturnKey(tag, "LO", fixed=_text(elem)))
        else:
            returns.append(ReturnKey(tag, _response_vr(tag, elem.VR)))
    unique = level.unique_key
    if unique not in matchers:
        attribute = ATTRIBUTES_BY_KEYWORD[unique]
        returns.append(ReturnKey(int(Tag(unique)), attribute.vr, unique))
    return FindQuery(model, level, matchers, tuple(returns))


class FindResponses:
    """The response identifiers to one C-FIND query, worked out once: each row
    of the index (the values of :attr:`keywords`, in that order) becomes one
    identifier with exactly the keys asked for."""

    def __init__(self, query: FindQuery, transfer_syntax: str, our_aet: str) -> None:
        keywords: list[str] = []
        elements: list[Element] = [(QUERY_RETRIEVE_LEVEL, "CS", query.level.value)]
        for key in query.returns:
            value: Any = None
            if key.fixed is not None:
                value = key.fixed
            elif key.keyword:
                value = Field(len(keywords))
                keywords.append(key.keyword)
            elif key.tag == RETRIEVE_AE_TITLE:
                value = our_aet
            elif key.tag == INSTANCE_AVAILABILITY:
                value = "ONLINE"
            elements.append((key.tag, key.vr or "UN", value))
        # The index columns each row holds, in order.
        self.keywords = tuple(keywords)
        self._utf8 = IdentifierWriter([*elements, (SPECIFIC_CHARACTER_SET, "CS", UTF8)],
                                      transfer_syntax, "utf-8")
        self._ascii: IdentifierWriter | None
        try:
            self._ascii = IdentifierWriter(elements, transfer_syntax, "ascii")
        except UnicodeEncodeError:  # a value sent in the request (a private creator)
            self._ascii = None

    def identifier(self, row: Sequence[Any]) -> bytes:
        """The identifier for one row: plain ASCII when it can be, else UTF-8
        saying so."""
        if self._ascii is not None:
            try:
                return self._ascii.write(row)
            except UnicodeEncodeError:
                pass
        return self._utf8.write(row)


def parse_retrieve(identifier: Dataset,
                   model: InformationModel) -> tuple[Level, dict[str, Matcher]]:
    """The level and the unique-key matchers of a C-MOVE or C-GET identifier."""
    level = level_of(identifier, model)
    matchers: dict[str, Matcher] = {}
    for above in model.levels[:model.levels.index(level) + 1]:
        keyword = above.unique_key
        if keyword not in identifier:
            continue
        matcher = parse_match(_text(identifier[keyword]), ATTRIBUTES_BY_KEYWORD[keyword].vr)
        if not isinstance(matcher, Universal):
            matchers[keyword] = matcher
    if level.unique_key not in matchers:
        raise QueryError(status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                         f"{level.unique_key} is needed to retrieve at {level.value} level")
    return level, matchers


# --- helpers -------------------------------------------------------------------


# Keys the index matches at each level: its own and those of the levels above
# (TransferSyntaxUID is file meta information, never part of an identifier).
_INDEXED_KEYWORDS: dict[Level, frozenset[str]] = {
    level: frozenset(a.keyword for a in ATTRIBUTES_BY_KEYWORD.values()
                     if a.level.depth <= level.depth and a.keyword != "TransferSyntaxUID")
    for level in Level
}


def _elements(identifier: Dataset) -> Iterator[DataElement | RawDataElement]:
    for tag in identifier.keys():
        if tag.group in (0x0000, 0x0002):
            continue
        try:
            yield identifier[tag]
        except Exception:  # a value pydicom cannot convert: keep it raw
            yield identifier.get_item(tag)  # type: ignore[misc]


def _text(elem: DataElement | RawDataElement | None) -> str:
    """A query value as text (multiple values joined by backslashes). A value
    pydicom could not convert (an IS of "INFINITY") is matched as the bytes
    say, so it matches nothing rather than everything."""
    if elem is None:
        return ""
    if isinstance(elem, RawDataElement):
        return bytes(elem.value or b"").decode("latin-1").strip(" \x00")
    value = elem.value
    if value is None or isinstance(value, (bytes, bytearray)):
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    if isinstance(value, Dataset) or type(value).__name__ == "Sequence":
        return ""
    return str(value).strip(" \x00")


def _response_vr(tag: int, requested: str | None) -> str:
    """The VR a returned key is answered in: the data dictionary's, whatever
    the requester wrote (RetrieveAETitle sent as US must still come back as
    our AE title); the requester's where the dictionary offers a choice it
    made, or does not know the tag."""
    try:
        known = dictionary_VR(tag)
    except KeyError:
        return requested or "UN"
    choices = known.split(" or ")
    return requested if requested in choices else choices[0]


