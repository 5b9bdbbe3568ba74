"""core/text: what a terminal may receive of a value from a file or a peer."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tui_pacs.core.text import is_printable, json_text, printable

# Everything a terminal acts on, or that reorders what it shows.
HOSTILE = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                            *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C, 0x2028, 0x2029)]


def acts_on_a_terminal(ch: str) -> bool:
    return ch in HOSTILE or unicodedata.category(ch) == "Cs"


def test_the_named_attacks_are_shown_not_sent():
    title = "\x1b]0;PWNED-TITLE\x07"
    clipboard = "\x1b]52;c;cm0gLXJmIH4K\x07"
    assert printable(title) == "\\x1b]0;PWNED-TITLE\\x07"
    assert printable(clipboard) == "\\x1b]52;c;cm0gLXJmIH4K\\x07"
    assert printable("\x9b2J") == "\\x9b2J"
    assert printable("txt\u202eexe.sh") == "txt\\u202eexe.sh"


def test_ordinary_text_is_left_alone():
    for value in ("MÜLLER^ÅSA", "山田^太郎", "1.2.840.10008.5.1.4.1.1.2", "CT\\MR", ""):
        assert printable(value) == value
        assert is_printable(value)


def test_kept_characters_are_only_those_asked_for():
    assert printable("a\tb\nc") == "a\\x09b\\x0ac"
    assert printable("a\tb\nc", keep="\n") == "a\\x09b\nc"
    assert printable("a\tb\nc\x1b", keep="\t\n") == "a\tb\nc\\x1b"


def test_none_and_numbers():
    assert printable(None) == ""
    assert printable(42) == "42"


@given(st.text(alphabet=st.sampled_from(HOSTILE) | st.characters(), max_size=40))
def test_no_control_survives_and_a_second_pass_changes_nothing(value):
    shown = printable(value)
    assert not any(acts_on_a_terminal(ch) for ch in shown)
    assert printable(shown) == shown
    # Nothing is dropped: every character is there, or its visible form.
    assert len(shown) >= len(value)


@given(st.text(alphabet=st.sampled_from(HOSTILE) | st.characters(), max_size=40))
def test_json_keeps_the_exact_value_and_no_raw_control(value):
    text = json_text({"PatientName": value})
    assert json.loads(text) == {"PatientName": value}
    assert not any(acts_on_a_terminal(ch) for ch in text)
