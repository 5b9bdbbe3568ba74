"""SQL for queries on the index, built from matchers.

Values only ever travel as bound parameters; the only text put into the SQL is
taken from the fixed column table below, so query keys cannot inject SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tui_pacs.core.matching import (
    HIGH_SENTINEL,
    Matcher,
    Range,
    Single,
    Universal,
    ValueList,
    Wildcard,
    by_component_group,
    fold,
)
from tui_pacs.core.model import ATTRIBUTES_BY_KEYWORD, Level, attributes_up_to


@dataclass(frozen=True)
class Column:
    select: str
    # Where matching looks: a case-folded twin for person names.
    match: str
    integer: bool = False
    # Holds several values, backslash-separated: a query value matches any one.
    multiple: bool = False


def _col(expr: str, match: str | None = None, integer: bool = False,
         multiple: bool = False) -> Column:
    return Column(expr, match or expr, integer, multiple)


COLUMNS: dict[str, Column] = {
    "PatientID": _col("p.patient_id"),
    "IssuerOfPatientID": _col("p.issuer"),
    "PatientName": _col("p.patient_name", "p.patient_name_fold"),
    "PatientBirthDate": _col("p.birth_date"),
    "PatientSex": _col("p.sex"),
    "NumberOfPatientRelatedStudies": _col("p.num_studies", integer=True),
    "NumberOfPatientRelatedSeries": _col("p.num_series", integer=True),
    "NumberOfPatientRelatedInstances": _col("p.num_instances", integer=True),
    "StudyInstanceUID": _col("st.study_uid"),
    "StudyDate": _col("st.study_date"),
    "StudyTime": _col("st.study_time"),
    "AccessionNumber": _col("st.accession_number"),
    "StudyID": _col("st.study_id"),
    "StudyDescription": _col("st.description"),
    "ReferringPhysicianName": _col("st.referring", "st.referring_fold"),
    "ModalitiesInStudy": _col("st.modalities", multiple=True),
    "SOPClassesInStudy": _col("st.sop_classes", multiple=True),
    "NumberOfStudyRelatedSeries": _col("st.num_series", integer=True),
    "NumberOfStudyRelatedInstances": _col("st.num_instances", integer=True),
    "SeriesInstanceUID": _col("se.series_uid"),
    "Modality": _col("se.modality"),
    "SeriesNumber": _col("se.series_number", integer=True),
    "SeriesDescription": _col("se.description"),
    "BodyPartExamined": _col("se.body_part"),
    "SeriesDate": _col("se.series_date"),
    "SeriesTime": _col("se.series_time"),
    "NumberOfSeriesRelatedInstances": _col("se.num_instances", integer=True),
    "SOPInstanceUID": _col("i.sop_uid"),
    "SOPClassUID": _col("i.sop_class_uid"),
    "InstanceNumber": _col("i.instance_number", integer=True),
    "Rows": _col("i.rows", integer=True),
    "Columns": _col("i.columns", integer=True),
    "NumberOfFrames": _col("i.frames", integer=True),
    "ImagePositionPatient": _col("i.image_position"),
    "ImageOrientationPatient": _col("i.image_orientation"),
    "TransferSyntaxUID": _col("i.transfer_syntax"),
}

FROM = {
    Level.PATIENT: "patients p",
    Level.STUDY: "studies st JOIN patients p ON p.id = st.patient_ref",
    Level.SERIES: (
        "series se JOIN studies st ON st.id = se.study_ref "
        "JOIN patients p ON p.id = st.patient_ref"
    ),
    Level.IMAGE: (
        "instances i JOIN series se ON se.id = i.series_ref "
        "JOIN studies st ON st.id = se.study_ref JOIN patients p ON p.id = st.patient_ref"
    ),
}

DEFAULT_ORDER = {
    Level.PATIENT: "p.patient_name, p.patient_id, p.id",
    Level.STUDY: "st.study_date DESC, st.study_time DESC, st.id DESC",
    Level.SERIES: "se.series_number IS NULL, se.series_number, se.id",
    Level.IMAGE: "i.instance_number IS NULL, i.instance_number, i.id",
}

# What the archive keeps about a study that is no DICOM attribute (for its own
# lists, never for C-FIND): name -> SQL, usable at the study level and below.
LOCAL_COLUMNS = {"Protected": "st.protected"}

# The row id of each level, used to order stably and to page.
ROW_ID = {Level.PATIENT: "p.id", Level.STUDY: "st.id", Level.SERIES: "se.id", Level.IMAGE: "i.id"}


class UnknownKey(ValueError):
    """A query key that the index cannot match at this level."""


def keywords_at(level: Level) -> list[str]:
    return [a.keyword for a in attributes_up_to(level)]


def where_clause(level: Level, matchers: dict[str, Matcher]) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its parameters for matchers at ``level``."""
    allowed = set(keywords_at(level))
    parts: list[str] = []
    params: list[Any] = []
    for keyword, matcher in matchers.items():
        if keyword not in allowed:
            raise UnknownKey(keyword)
        if isinstance(matcher, Universal):
            continue
        sql, values = _condition(COLUMNS[keyword], ATTRIBUTES_BY_KEYWORD[keyword].vr, matcher)
        parts.append(sql)
        params.extend(values)
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def select_sql(
    level: Level,
    matchers: dict[str, Matcher],
    order_by: str | None = None,
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
    local: tuple[str, ...] = (),
    keywords: Sequence[str] | None = None,
) -> tuple[str, list[Any], list[str]]:
    """SELECT for a query; returns (sql, params, result keys in column order).

    The columns are ``keywords`` (those of ``level`` and above) or, by
    default, every one of the level and the levels above; ``local`` adds
    columns of :data:`LOCAL_COLUMNS` after them.
    """
    everything = keywords_at(level)
    if keywords is None:
        keywords = everything
    elif not set(keywords) <= set(everything):
        raise UnknownKey(", ".join(sorted(set(keywords) - set(everything))))
    keywords = list(keywords)
    where, params = where_clause(level, matchers)
    if local and level.depth < Level.STUDY.depth:
        raise UnknownKey(local[0])
    columns = [COLUMNS[k].select for k in keywords] + [LOCAL_COLUMNS[name] for name in local]
    sql = f"SELECT {', '.join(columns)} FROM {FROM[level]}{where} ORDER BY "
    if order_by:
        if order_by in local:
            expression = LOCAL_COLUMNS[order_by]
        elif order_by in everything:
            expression = COLUMNS[order_by].select
        else:
            raise UnknownKey(order_by)
        direction = "DESC" if descending else "ASC"
        sql += f"{expression} {direction}, {ROW_ID[level]} {direction}"
    else:
        sql += DEFAULT_ORDER[level]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return sql, params, keywords + list(local)


def count_sql(level: Level, matchers: dict[str, Matcher]) -> tuple[str, list[Any]]:
    where, params = where_clause(level, matchers)
    return f"SELECT count(*) FROM {FROM[level]}{where}", params


def _condition(column: Column, vr: str, matcher: Matcher) -> tuple[str, list[Any]]:
    target = column.match
    if by_component_group(matcher, vr):
        return _any_component_group(target, matcher)
    if isinstance(matcher, Single):
        value = fold(matcher.value) if vr == "PN" else matcher.value
        if column.integer:
            number = _as_int(value)
            return (f"{target} = ?", [number]) if number is not None else ("0", [])
        if vr == "CS" or column.multiple:
            # Multi-valued columns (ModalitiesInStudy, SOPClassesInStudy) match
            # on any value.
            return f"instr('\\' || {target} || '\\', ?) > 0", [f"\\{value}\\"]
        return f"{target} = ?", [value]
    if isinstance(matcher, ValueList):
        if vr == "CS" or column.multiple:
            ors = " OR ".join([f"instr('\\' || {target} || '\\', ?) > 0"] * len(matcher.values))
            return f"({ors})", [f"\\{v}\\" for v in matcher.values]
        marks = ", ".join("?" * len(matcher.values))
        return f"{target} IN ({marks})", list(matcher.values)
    if isinstance(matcher, Wildcard):
        pattern = fold(matcher.pattern) if vr == "PN" else matcher.pattern
        if column.integer:
            target = f"CAST({target} AS TEXT)"
        return f"{target} GLOB ?", [to_glob(pattern)]
    if isinstance(matcher, Range):
        parts, params = [f"{target} != ''"], []
        if matcher.low is not None:
            parts.append(f"{target} >= ?")
            params.append(matcher.low)
        if matcher.high is not None:
            parts.append(f"{target} <= ?")
            params.append(matcher.high + HIGH_SENTINEL)
        return "(" + " AND ".join(parts) + ")", params
    raise TypeError(f"not a matcher: {matcher!r}")


def _any_component_group(target: str, matcher: Matcher) -> tuple[str, list[Any]]:
    """A person name one of whose component groups (``=``-separated) matches."""
    if isinstance(matcher, Single):
        # The value holds no "=": framed by "=", it can only meet a whole group.
        return f"instr('=' || {target} || '=', ?) > 0", [f"={fold(matcher.value)}="]
    assert isinstance(matcher, Wildcard)
    groups = _component_groups(target)
    sql = " OR ".join(f"{group} GLOB ?" for group in groups)
    return f"({sql})", [to_glob(fold(matcher.pattern))] * len(groups)


def _component_groups(target: str) -> tuple[str, str, str]:
    """SQL for the three component groups of a person name ("" when absent; the
    third holds the rest, as :func:`~tui_pacs.core.matching.matches` splits)."""
    rest = f"substr({target}, instr({target}, '=') + 1)"
    return (
        f"(CASE WHEN instr({target}, '=') > 0 "
        f"THEN substr({target}, 1, instr({target}, '=') - 1) ELSE {target} END)",
        f"(CASE WHEN instr({target}, '=') = 0 THEN '' WHEN instr({rest}, '=') > 0 "
        f"THEN substr({rest}, 1, instr({rest}, '=') - 1) ELSE {rest} END)",
        f"(CASE WHEN instr({target}, '=') = 0 OR instr({rest}, '=') = 0 THEN '' "
        f"ELSE substr({rest}, instr({rest}, '=') + 1) END)",
    )


def to_glob(pattern: str) -> str:
    """DICOM wildcards to SQLite GLOB: ``*`` and ``?`` mean the same; ``[`` is literal."""
    return pattern.replace("[", "[[]")


def _as_int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None
