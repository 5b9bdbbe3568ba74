"""Attribute matching for queries, as PS3.4 C.2.2.2 describes it.

A query value becomes a :class:`Matcher`: universal (empty or ``*``), single
value, wildcard (``*`` and ``?``), range (dates and times, ``A-B``, ``A-``,
``-B``) or a list (backslash-separated UIDs or code strings). The index turns
matchers into SQL; :func:`matches` is the same rule in Python, used to check
the SQL and for values the index does not hold.

Person names (PN) match case-insensitively, as most archives do (Orthanc,
dcm4chee): ``smith*`` finds ``SMITH^JOHN``. Other values match exactly.
A name may hold up to three component groups, alphabetic, ideographic and
phonetic, separated by ``=`` (PS3.5 6.2.1): a query value without ``=``
matches a name when it matches any one of its groups, so ``Yamada^Tarou``
finds ``Yamada^Tarou=山田^太郎=やまだ^たろう``; one with ``=`` matches the
whole value.
"""

from __future__ import annotations

from dataclasses import dataclass

# Value representations whose query values may be ranges.
RANGE_VRS = frozenset({"DA", "TM", "DT"})
# Value representations where a backslash separates alternatives.
LIST_VRS = frozenset({"UI", "CS"})
# Sorts after every character a DICOM value can hold: "1200" + HIGH_SENTINEL
# is above "120030", so an upper bound includes every finer value it starts.
HIGH_SENTINEL = "\U0010ffff"


@dataclass(frozen=True)
class Universal:
    """Matches every value, including an empty one."""


@dataclass(frozen=True)
class Single:
    value: str


@dataclass(frozen=True)
class Wildcard:
    pattern: str


@dataclass(frozen=True)
class Range:
    low: str | None
    high: str | None


@dataclass(frozen=True)
class ValueList:
    values: tuple[str, ...]


Matcher = Universal | Single | Wildcard | Range | ValueList


def exact(keys: dict[str, str]) -> dict[str, Matcher]:
    """Matchers that take values as they are: no wildcards, and empty means empty."""
    return {key: Single(value) for key, value in keys.items()}


def fold(value: str) -> str:
    """The form in which person names are compared."""
    return value.casefold()


def parse_match(value: str | None, vr: str) -> Matcher:
    """Turn a query value of the given VR into a matcher."""
    if value is None:
        return Universal()
    value = value.strip(" \x00")
    if value in ("", "*"):
        return Universal()
    if vr in LIST_VRS and "\\" in value:
        items = tuple(dict.fromkeys(v.strip() for v in value.split("\\") if v.strip()))
        if not items:
            return Universal()
        return ValueList(items) if len(items) > 1 else Single(items[0])
    if vr in RANGE_VRS and "-" in value and value.count("-") == 1:
        low, high = (part.strip() for part in value.split("-"))
        if vr == "DA":
            low, high = normalize_date(low), normalize_date(high)
        if low or high:
            return Range(low or None, high or None)
        return Universal()
    if vr == "DA":
        value = normalize_date(value)
    if vr != "UI" and ("*" in value or "?" in value):
        return Wildcard(value)
    return Single(value)


def normalize_date(value: str) -> str:
    """``2020.01.31`` (the ACR-NEMA form some devices still send) -> ``20200131``."""
    return value.replace(".", "").strip()


def by_component_group(matcher: Matcher, vr: str) -> bool:
    """Whether ``matcher`` is tried on each component group of a person name
    rather than on the whole value: a value or pattern without ``=``."""
    if vr != "PN":
        return False
    if isinstance(matcher, Single):
        return "=" not in matcher.value
    return isinstance(matcher, Wildcard) and "=" not in matcher.pattern


def matches(matcher: Matcher, stored: str | None, vr: str) -> bool:
    """Whether an attribute value held by the archive matches."""
    if isinstance(matcher, Universal):
        return True
    stored = (stored or "").strip()
    if vr == "PN":
        stored = fold(stored)
    if by_component_group(matcher, vr):
        # At most three groups; the third keeps any further "=" (as the SQL does).
        return any(_matches_value(matcher, group, vr) for group in stored.split("=", 2))
    return _matches_value(matcher, stored, vr)


def _matches_value(matcher: Matcher, stored: str, vr: str) -> bool:
    if isinstance(matcher, Single):
        wanted = fold(matcher.value) if vr == "PN" else matcher.value
        if vr in LIST_VRS and "\\" in stored:
            return wanted in stored.split("\\")
        return stored == wanted
    if isinstance(matcher, ValueList):
        candidates = stored.split("\\") if vr in LIST_VRS else [stored]
        return any(c in matcher.values for c in candidates)
    if isinstance(matcher, Wildcard):
        pattern = fold(matcher.pattern) if vr == "PN" else matcher.pattern
        return wildcard_match(pattern, stored)
    if isinstance(matcher, Range):
        if not stored:
            return False
        if matcher.low is not None and stored < matcher.low:
            return False
        if matcher.high is not None and stored > matcher.high + HIGH_SENTINEL:
            return False
        return True
    raise TypeError(f"not a matcher: {matcher!r}")


def wildcard_match(pattern: str, value: str) -> bool:
    """DICOM wildcard matching: ``*`` any run of characters, ``?`` exactly one."""
    # Iterative matcher with backtracking on the last star: linear in practice,
    # and no regular expression built from user input.
    p = v = 0
    star = -1
    mark = 0
    while v < len(value):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star = p
            mark = v
            p += 1
        elif star != -1:
            p = star + 1
            mark += 1
            v = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)
