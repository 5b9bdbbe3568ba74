"""Application Entity titles: the names DICOM nodes call each other by."""

from __future__ import annotations

AE_TITLE_MAX_LENGTH = 16


def ae_title_problem(title: str) -> str | None:
    """Why ``title`` is not a usable AE title, or None when it is.

    PS3.5 allows up to 16 characters of the default repertoire without control
    characters or backslash; leading and trailing spaces are not significant,
    so a title of only spaces is empty.
    """
    if not isinstance(title, str):
        return "must be a string"
    if not title.strip():
        return "must not be empty"
    if len(title) > AE_TITLE_MAX_LENGTH:
        return f"is {len(title)} characters long, the limit is {AE_TITLE_MAX_LENGTH}"
    if "\\" in title:
        return "must not contain a backslash"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in title):
        return "must not contain control characters"
    if not title.isascii():
        return "must be plain ASCII"
    return None
