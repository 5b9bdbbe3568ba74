"""Writing the app's choices back to the config file: modalities, theme, last remote.

The file is edited, not regenerated (tomlkit keeps the user's comments,
order and layout), validated as a whole with the same rules that load it,
and replaced atomically: a crash leaves the old file or the new one, never
half of one. Blocking file I/O: call it from a thread.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from tui_pacs.config import ConfigError, Modality, Settings, parse_settings


def set_theme(path: Path, theme: str) -> Settings:
    return _set_ui(path, "theme", theme)


def set_last_remote(path: Path, name: str) -> Settings:
    return _set_ui(path, "last_remote", name)


def _set_ui(path: Path, key: str, value: str) -> Settings:
    def change(document: TOMLDocument) -> None:
        ui = document.get("ui")
        if ui is None:
            ui = tomlkit.table()
            document["ui"] = ui
        ui[key] = value

    return edit_config(path, change)


def add_modality(path: Path, modality: Modality) -> Settings:
    def change(document: TOMLDocument) -> None:
        if _find(document, modality.name) is not None:
            raise ConfigError(f"{path}: a modality named {modality.name!r} already exists")
        _modalities(document).append(_table(modality))

    return edit_config(path, change)


def update_modality(path: Path, name: str, modality: Modality) -> Settings:
    """Replace the modality called ``name`` (it may get a new name)."""

    def change(document: TOMLDocument) -> None:
        table = _find(document, name)
        if table is None:
            raise ConfigError(f"{path}: no modality named {name!r}")
        if modality.name != name and _find(document, modality.name) is not None:
            raise ConfigError(f"{path}: a modality named {modality.name!r} already exists")
        # Assign key by key so the comments in and around the table stay.
        for key, value in _values(modality).items():
            table[key] = value
        if not modality.tls and "tls" in table:
            del table["tls"]

    return edit_config(path, change)


def remove_modality(path: Path, name: str) -> Settings:
    def change(document: TOMLDocument) -> None:
        aot = document.get("modalities") or []
        for position, table in enumerate(aot):
            if table.get("name") == name:
                del aot[position]
                if not len(aot):
                    del document["modalities"]
                return
        raise ConfigError(f"{path}: no modality named {name!r}")

    return edit_config(path, change)


def edit_config(path: Path, change: Callable[[TOMLDocument], None]) -> Settings:
    """Apply ``change`` to the file's document, validate, write; the new Settings.

    Raises ConfigError (nothing written) when the file cannot be read or
    parsed, or when the result would not load.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    change(document)
    settings = parse_settings(document.unwrap(), path)
    _write_atomically(path, tomlkit.dumps(document))
    return settings


def _write_atomically(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the config file: "
                          f"{exc.strerror or exc}") from None


def _modalities(document: TOMLDocument) -> AoT:
    aot = document.get("modalities")
    if aot is None:
        aot = tomlkit.aot()
        document.append("modalities", aot)
    return aot


def _find(document: TOMLDocument, name: str) -> Table | None:
    return next((t for t in document.get("modalities") or [] if t.get("name") == name), None)


def _values(modality: Modality) -> dict[str, object]:
    values: dict[str, object] = {"name": modality.name, "aet": modality.aet,
                                 "host": modality.host, "port": modality.port}
    if modality.tls:
        values["tls"] = True
    return values


def _table(modality: Modality) -> Table:
    table = tomlkit.table()
    for key, value in _values(modality).items():
        table[key] = value
    table.add(tomlkit.nl())
    return table
