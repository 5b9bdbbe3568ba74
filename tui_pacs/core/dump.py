"""A dataset as lines a person can read, and as the DICOM JSON model.

Used by ``tui-pacs dump`` and by the tag inspector: every element with its
depth, tag, VR, keyword, length and an abbreviated value; sequences nested;
private elements named with their private creator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from tui_pacs.core.text import printable

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
MAX_VALUE_CHARS = 64
# Values longer than this are left out of --json and named by a BulkDataURI.
BULK_THRESHOLD = 1024


@dataclass(frozen=True)
class DumpLine:
    """One element as shown: ``value`` and ``private_creator`` are display text,
    control characters made visible; ``element`` keeps the exact value."""

    depth: int
    tag: BaseTag
    vr: str
    name: str
    value: str
    length: int | None
    private_creator: str = ""
    # A sequence line is followed by its items' lines at depth + 1.
    is_sequence: bool = False
    # An "Item n" line that introduces one sequence item.
    is_item: bool = False
    # The element itself (None for item lines): its whole value, for copying.
    element: DataElement | None = field(default=None, compare=False, repr=False)

    @property
    def tag_text(self) -> str:
        return f"({self.tag.group:04X},{self.tag.element:04X})"


def dump_lines(ds: Dataset, depth: int = 0, include_meta: bool = True) -> Iterator[DumpLine]:
    """Every element of ``ds`` (file meta group first), nested sequences included."""
    meta = getattr(ds, "file_meta", None)
    if include_meta and meta is not None and depth == 0:
        yield from _element_lines(meta, depth)
    yield from _element_lines(ds, depth)


def _element_lines(ds: Dataset, depth: int) -> Iterator[DumpLine]:
    for elem in _elements(ds):
        creator = private_creator_of(ds, elem)
        name = _name(elem, creator)
        if elem.VR == "SQ":
            items = elem.value or []
            yield DumpLine(depth, elem.tag, "SQ", name, f"{len(items)} item(s)",
                           None, printable(creator), is_sequence=True, element=elem)
            for number, item in enumerate(items, start=1):
                yield DumpLine(depth + 1, BaseTag(0xFFFEE000), "", f"Item {number}", "",
                               None, is_item=True)
                yield from _element_lines(item, depth + 2)
        else:
            yield DumpLine(depth, elem.tag, elem.VR or "UN", name, value_text(elem),
                           _length(elem), printable(creator), element=elem)


def _elements(ds: Dataset) -> Iterator[DataElement]:
    for tag in sorted(ds.keys()):
        try:
            yield ds[tag]
        except Exception:  # a value pydicom cannot convert: show it raw
            yield ds.get_item(tag)  # type: ignore[misc]


def private_creator_of(ds: Dataset, elem: DataElement) -> str:
    """The private creator that owns ``elem``, or '' for a public element."""
    tag = elem.tag
    if not tag.is_private or tag.element < 0x1000:
        return ""
    creator = ds.get((tag.group, tag.element >> 8))
    if creator is None:
        return ""
    value = creator.value
    return (value.decode("latin-1") if isinstance(value, bytes) else str(value)).strip()


def _name(elem: DataElement, creator: str) -> str:
    if elem.tag.is_private:
        if elem.tag.element < 0x1000 and elem.tag.element >= 0x10:
            return "Private Creator"
        if creator:
            from pydicom.datadict import private_dictionary_description

            try:
                return private_dictionary_description(elem.tag, creator)
            except KeyError:
                return "Private tag data"
        return "Private tag data"
    return elem.keyword or elem.name


def value_text(elem: DataElement, limit: int = MAX_VALUE_CHARS) -> str:
    """The value for display on one line: binary as a byte count, long text cut
    with an ellipsis, control characters made visible."""
    value = elem.value
    if elem.tag == 0x7FE00010:
        if getattr(elem, "is_undefined_length", False):
            return f"<encapsulated pixel data, {len(value or b'')} bytes>"
        return f"<pixel data, {len(value or b'')} bytes>"
    if elem.VR in BINARY_VRS or isinstance(value, (bytes, bytearray)):
        size = len(value) if value is not None else 0
        return f"<{size} bytes>"
    if value is None or value == "":
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    # A line break in a text value (LT, ST, UT) reads as a space on one line.
    text = printable(text.replace("\r\n", " ").replace("\n", " "))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def full_value_text(elem: DataElement) -> str:
    """The whole value as text, exact (for copying raw), binary as hex.

    Not for display: it keeps any control characters the file holds."""
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _length(elem: DataElement) -> int | None:
    value = elem.value
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    return None


def format_lines(lines: list[DumpLine]) -> list[str]:
    """The dump as plain text, one element per line."""
    out = []
    for line in lines:
        indent = "  " * line.depth
        if line.is_item:
            out.append(f"{indent}{line.name}")
            continue
        creator = f" [{line.private_creator}]" if line.private_creator else ""
        value = f"  {line.value}" if line.value else ""
        out.append(f"{indent}{line.tag_text} {line.vr:2} {line.name}{creator}{value}")
    return out


def to_json_model(ds: Dataset, bulk_data_uri: str) -> dict[str, Any]:
    """PS3.18 Annex F JSON of the dataset (not the file meta group).

    Values over BULK_THRESHOLD bytes (pixel data, mostly) are not inlined:
    they become a BulkDataURI, ``bulk_data_uri`` followed by ``#ggggeeee``.
    """

    def bulk(elem: DataElement) -> str:
        return f"{bulk_data_uri}#{elem.tag.group:04X}{elem.tag.element:04X}"

    return ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=bulk)
