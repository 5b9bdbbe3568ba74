import pytest

from tui_pacs.core.matching import (
    Range,
    Single,
    Universal,
    ValueList,
    Wildcard,
    matches,
    parse_match,
    wildcard_match,
)


@pytest.mark.parametrize("value, vr, expected", [
    ("", "PN", Universal()),
    ("*", "LO", Universal()),
    (None, "DA", Universal()),
    ("SMITH^JOHN", "PN", Single("SMITH^JOHN")),
    ("SMI*", "PN", Wildcard("SMI*")),
    ("?MITH", "LO", Wildcard("?MITH")),
    ("20200101-20201231", "DA", Range("20200101", "20201231")),
    ("20200101-", "DA", Range("20200101", None)),
    ("-20201231", "DA", Range(None, "20201231")),
    ("2020.01.01", "DA", Single("20200101")),
    ("1000-1200", "TM", Range("1000", "1200")),
    ("1.2.3\\1.2.4", "UI", ValueList(("1.2.3", "1.2.4"))),
    ("1.2.3*", "UI", Single("1.2.3*")),
    ("CT\\MR", "CS", ValueList(("CT", "MR"))),
    ("A-B", "LO", Single("A-B")),
])
def test_parse(value, vr, expected):
    assert parse_match(value, vr) == expected


@pytest.mark.parametrize("query, vr, stored, expected", [
    ("SMITH*", "PN", "Smith^John", True),
    ("smith^john", "PN", "SMITH^JOHN", True),
    ("SMITH", "PN", "SMITH^JOHN", False),
    ("ABC", "LO", "abc", False),
    ("A?C", "LO", "ABC", True),
    ("A?C", "LO", "ABBC", False),
    ("*B*", "LO", "ABC", True),
    ("20200101-20201231", "DA", "20200615", True),
    ("20200101-20201231", "DA", "20210101", False),
    ("20200101-20201231", "DA", "", False),
    ("-20201231", "DA", "19991231", True),
    ("1000-1200", "TM", "120030", True),
    ("1000-1200", "TM", "120100", False),
    ("1000-1200", "TM", "095959", False),
    ("CT", "CS", "CT\\SR", True),
    ("MR\\US", "CS", "CT\\SR", False),
    ("1.2\\1.3", "UI", "1.3", True),
    ("", "PN", "", True),
    # A value without "=" meets any component group; one with "=" the whole name.
    ("Yamada^Tarou", "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("山田^太郎", "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("やまだ*", "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
    ("yamada*", "PN", "Yamada^Tarou=山田^太郎", True),
    ("Yamada", "PN", "Yamada^Tarou=山田^太郎", False),
    ("Y*郎", "PN", "Yamada^Tarou=山田^太郎", False),
    ("Yamada^Tarou=山田^太郎", "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう", False),
    ("Yamada^Tarou=*", "PN", "Yamada^Tarou=山田^太郎=やまだ^たろう", True),
])
def test_matches(query, vr, stored, expected):
    assert matches(parse_match(query, vr), stored, vr) is expected


@pytest.mark.parametrize("pattern, value, expected", [
    ("*", "", True), ("", "", True), ("?", "", False), ("a*b*c", "aXbYc", True),
    ("a*b*c", "aXbY", False), ("**a", "bba", True), ("a?", "ab", True), ("[a]", "[a]", True),
])
def test_wildcard(pattern, value, expected):
    assert wildcard_match(pattern, value) is expected
