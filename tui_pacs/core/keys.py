"""Query keys as people type them: ``-k PatientName=SMITH*`` or ``-k 0010,0010=SMITH*``."""

from __future__ import annotations

import re

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

_TAG = re.compile(r"^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$")


class BadKey(ValueError):
    """A key that is not a DICOM attribute; the message says which."""


def parse_key(text: str) -> tuple[str, str]:
    """``Keyword=Value`` (or ``gggg,eeee=Value``, or just ``Keyword``) -> (keyword, value)."""
    name, _, value = text.partition("=")
    name = name.strip()
    if not name:
        raise BadKey(f"{text!r}: expected Keyword=Value, e.g. PatientName=SMITH*")
    return keyword_of(name), value


def keyword_of(name: str) -> str:
    """The DICOM keyword for a keyword or a tag written as gggg,eeee."""
    match = _TAG.match(name)
    if match:
        tag = int(match.group(1) + match.group(2), 16)
        keyword = keyword_for_tag(tag)
        if not keyword:
            raise BadKey(f"{name}: not a standard attribute tag")
        return keyword
    if tag_for_keyword(name) is None:
        raise BadKey(f"{name}: not a DICOM keyword (for example PatientName, StudyDate)")
    return name


def vr_of(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise BadKey(f"{keyword}: not a DICOM keyword")
    return dictionary_VR(tag)


def parse_keys(texts: list[str] | None) -> dict[str, str]:
    """Several ``-k`` options; a later key with the same keyword wins."""
    keys: dict[str, str] = {}
    for text in texts or []:
        keyword, value = parse_key(text)
        keys[keyword] = value
    return keys
