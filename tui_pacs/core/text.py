"""Text from files and peers made safe to show on a terminal.

Anyone may store on the node, so any value in the archive, any C-FIND answer,
AE title or error comment may hold a terminal control sequence: ``ESC ] 0 ;``
retitles the window, OSC 52 overwrites the clipboard, ``CSI 2 J`` clears the
screen, and a bidirectional override makes ``txt.exe`` read as ``exe.txt``.
Every value shown to a person passes through :func:`printable` (or
:func:`json_text` for JSON), the one place that decides what a terminal may
receive. What it neutralises is shown, not dropped: ``\\x1b``, ``\\x9b``,
``\\u202e``, so that a sysadmin sees that a value was hostile.

Also here: sizes as people read them (:func:`byte_size`).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

# C0 controls, DEL and C1 controls: a terminal acts on each of these.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
# Bidirectional marks, embeddings, overrides and isolates ("Trojan Source"),
# and the Unicode line and paragraph separators some viewers break lines on.
_FORMATTING = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
               0x2028, 0x2029]
# Lone surrogates (undecodable bytes kept by surrogateescape) cannot be
# encoded for the terminal at all.
_SURROGATES = range(0xD800, 0xE000)


# Any character printable() would replace: most values hold none, and one
# search costs less than translating every character.
_ANY = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                  "\u2028\u2029\ud800-\udfff]")


def _visible(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@functools.cache
def _table(keep: str) -> dict[int, str]:
    kept = {ord(c) for c in keep}
    return {code: _visible(code) for code in (*_CONTROLS, *_FORMATTING, *_SURROGATES)
            if code not in kept}


def printable(value: object, keep: str = "") -> str:
    """``value`` as text a terminal shows and never acts on.

    C0 and C1 control characters, DEL, bidirectional controls and lone
    surrogates become a visible escape (ESC is ``\\x1b``). ``keep`` names the
    ones the output format has a place for, such as ``"\\n"`` in a
    multi-line report or ``"\\t"`` between tab-separated columns.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if _ANY.search(text) is None:
        return text
    return text.translate(_table(keep))


def is_printable(text: str, keep: str = "") -> bool:
    """True when :func:`printable` would leave ``text`` as it is."""
    return printable(text, keep) == text


@functools.cache
def _json_table() -> dict[int, str]:
    # JSON itself escapes C0; the rest a terminal would still act on (or,
    # for lone surrogates, could not be written to it at all).
    return {code: f"\\u{code:04x}"
            for code in (0x7F, *range(0x80, 0xA0), *_FORMATTING, *_SURROGATES)}


def json_text(data: Any, **dumps_args: Any) -> str:
    """``data`` as JSON that keeps every value exact and is safe on a terminal.

    ``json.dumps`` escapes C0 controls but passes DEL, C1 and bidirectional
    controls through; these become ``\\uXXXX`` escapes too, which a JSON
    reader turns back into the same characters. (They can only occur inside
    strings: JSON's own syntax is ASCII.)
    """
    dumps_args.setdefault("ensure_ascii", False)
    return json.dumps(data, **dumps_args).translate(_json_table())
