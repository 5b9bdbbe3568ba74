"""Themes: colour definitions in TOML files, turned into Textual themes.

The built-in themes are the files of the top-level ``themes/`` folder, which
the package carries as ``tui_pacs/themes``. Users add their own files to the
``themes`` folder beside their config file; a user theme with a built-in
name replaces it. A file that is not a valid theme is reported, not fatal.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "tui-pacs-dark"

_COLOURS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
            "background", "surface", "panel", "boost")
_NUMBERS = ("luminosity_spread", "text_alpha")
_FLAGS = ("dark", "ansi")
_KNOWN = {"name", "variables", *_COLOURS, *_NUMBERS, *_FLAGS}


class ThemeError(ValueError):
    """A theme file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class LoadedThemes:
    themes: dict[str, Theme]
    # One line per file that was skipped.
    problems: list[str]


def builtin_theme_files() -> list[Path]:
    folder = resources.files("tui_pacs") / "themes"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml"))


def user_theme_files(folder: Path) -> list[Path]:
    try:
        return sorted(folder.glob("*.toml"))
    except OSError:
        return []


def load_themes(user_folder: Path | None) -> LoadedThemes:
    """Built-in themes, then the user's (which win on equal names)."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    files = builtin_theme_files() + (user_theme_files(user_folder) if user_folder else [])
    for path in files:
        try:
            theme = load_theme_file(path)
        except ThemeError as exc:
            problems.append(str(exc))
            continue
        themes[theme.name] = theme
    return LoadedThemes(themes, problems)


def load_theme_file(path: Path) -> Theme:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{path}: cannot read the theme: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML: {exc}") from None
    return theme_from_document(document, path)


def theme_from_document(document: dict[str, Any], path: Path) -> Theme:
    def fail(key: str, reason: str) -> ThemeError:
        return ThemeError(f"{path}: {key}: {reason}")

    for key in document:
        if key not in _KNOWN:
            raise fail(key, f"unknown key (known: {', '.join(sorted(_KNOWN))})")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "every theme needs a name")
    if "primary" not in document:
        raise fail("primary", "every theme needs a primary colour")
    values: dict[str, Any] = {"name": name.strip()}
    for key in _COLOURS:
        if key in document:
            values[key] = _colour(document[key], key, fail)
    for key in _NUMBERS:
        if key in document:
            value = document[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise fail(key, "must be a number")
            values[key] = float(value)
    for key in _FLAGS:
        if key in document:
            if not isinstance(document[key], bool):
                raise fail(key, "must be true or false")
            values[key] = document[key]
    variables = document.get("variables", {})
    if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise fail("variables", "must be a table of names and strings")
    values["variables"] = dict(variables)
    return Theme(**values)


def _colour(value: Any, key: str, fail) -> str:
    if not isinstance(value, str):
        raise fail(key, "must be a colour such as \"#4d9de0\" or \"ansi_blue\"")
    try:
        Color.parse(value)
    except ColorParseError:
        raise fail(key, f"{value!r} is not a colour") from None
    return value
