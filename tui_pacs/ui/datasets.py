"""Datasets for the tag inspector: read, shaped as a tree, searched, compared.

Blocking (file reads): the inspector calls these from thread workers.
Nothing here imports Textual.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from tui_pacs.core.dump import DumpLine, dump_lines, full_value_text
from tui_pacs.core.text import printable

# Values longer than this are read from the file only when shown or copied.
DEFER_SIZE = 4096


class Unreadable(Exception):
    """A file that cannot be shown; the message says why."""


@dataclass
class TagEntry:
    """One line of the tree: an element, or a sequence item, with its children."""

    line: DumpLine
    parent: TagEntry | None = None
    children: list[TagEntry] = field(default_factory=list)

    @property
    def tag(self) -> int:
        return int(self.line.tag)

    @property
    def is_top_level(self) -> bool:
        return self.parent is None

    def ancestors(self) -> list[TagEntry]:
        chain, entry = [], self.parent
        while entry is not None:
            chain.append(entry)
            entry = entry.parent
        return chain[::-1]

    def copy_text(self, raw: bool = False) -> str:
        """The whole value, as the clipboard gets it: control characters made
        visible (pasted into a shell, a line break or an escape would act),
        or exactly as the file holds it when ``raw``."""
        element = self.line.element
        if element is None:
            return ""
        if element.VR == "SQ":
            return self.line.value
        text = full_value_text(element)
        return text if raw else printable(text)


def read_dataset(path: Path) -> Dataset:
    try:
        return dcmread(path, force=True, defer_size=DEFER_SIZE)
    except Exception as exc:  # pydicom raises many kinds for a broken file
        raise Unreadable(f"{path.name}: not readable as DICOM: {exc}") from None


def tag_tree(ds: Dataset) -> list[TagEntry]:
    """The dataset's elements as top-level entries; sequences hold items hold elements."""
    roots: list[TagEntry] = []
    # The innermost open entry at each depth.
    open_at: list[TagEntry] = []
    for line in dump_lines(ds):
        del open_at[line.depth:]
        parent = open_at[-1] if open_at else None
        entry = TagEntry(line, parent)
        (parent.children if parent else roots).append(entry)
        open_at.append(entry)
    return roots


def walk(entries: list[TagEntry]) -> Iterator[TagEntry]:
    """Every entry in document order."""
    for entry in entries:
        yield entry
        yield from walk(entry.children)


def tag_forms(tag: int) -> tuple[str, str]:
    group, element = tag >> 16, tag & 0xFFFF
    return f"({group:04x},{element:04x})", f"{group:04x}{element:04x}"


def matches(entry: TagEntry, query: str) -> bool:
    """Does a search for ``query`` find this entry: keyword, tag or value?"""
    needle = query.strip().lower()
    if not needle:
        return False
    line = entry.line
    if line.is_item:
        return False
    haystack = (line.name.lower(), line.private_creator.lower(), line.value.lower(),
                *tag_forms(entry.tag))
    compact = needle.replace("(", "").replace(")", "").replace(",", "")
    return any(needle in text for text in haystack) or compact in tag_forms(entry.tag)[1]


def search(entries: list[TagEntry], query: str) -> list[TagEntry]:
    return [entry for entry in walk(entries) if matches(entry, query)]


@dataclass(frozen=True)
class Difference:
    """A top-level attribute whose value is not the same in every instance of a series."""

    tag: int
    # How many different values it has (absent counts as one).
    values: int
    # In how many instances it is absent.
    missing: int


def differing_tags(paths: list[Path], cancelled: Callable[[], bool] = lambda: False,
                   progress: Callable[[int], None] | None = None) -> dict[int, Difference]:
    """Top-level attributes whose values differ between the files (headers only)."""
    seen: dict[int, set[str]] = {}
    present: dict[int, int] = {}
    read = 0
    for path in paths:
        if cancelled():
            break
        try:
            ds = dcmread(path, force=True, stop_before_pixels=True, defer_size=DEFER_SIZE)
        except Exception:  # a broken file is reported when it is shown, not here
            continue
        read += 1
        for element in _elements(ds):
            seen.setdefault(element.tag, set()).add(_fingerprint(element))
            present[element.tag] = present.get(element.tag, 0) + 1
        if progress is not None:
            progress(read)
    result = {}
    for tag, values in seen.items():
        missing = read - present[tag]
        if len(values) + (1 if missing else 0) > 1:
            result[int(tag)] = Difference(int(tag), len(values) + (1 if missing else 0),
                                          missing)
    return result


def _elements(ds: Dataset) -> Iterator[DataElement]:
    meta = getattr(ds, "file_meta", None)
    for source in (meta, ds):
        if source is None:
            continue
        for tag in source.keys():
            try:
                yield source[tag]
            except Exception:  # a value pydicom cannot convert: compare it raw
                yield source.get_item(tag)  # type: ignore[misc]


def _fingerprint(element: DataElement) -> str:
    value = element.value
    if isinstance(value, (bytes, bytearray)):
        return hashlib.blake2b(value, digest_size=16).hexdigest()
    if element.VR == "SQ":
        text = "\n".join(str(item) for item in value or [])
        return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()
    return full_value_text(element)
