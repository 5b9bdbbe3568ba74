"""Reloading the config file while the node runs (``tui-pacs serve`` on SIGHUP).

What may change live is a list of sections, :data:`RELOADABLE`: each says
where its value is in :class:`~tui_pacs.config.Settings`, how to tell what
changed (lines for the log) and, when its service keeps a copy of its own,
how that service takes the new value. Every reload goes through
:meth:`Node.apply_settings <tui_pacs.services.node.Node.apply_settings>`,
as the app's changes do, so associations in progress keep the settings they
started with and the next ones get the new ones.

A file that does not load is refused in one line and the settings in use
stay. Sections that only apply at start (``[node]``, ``[tls]``,
``[limits]``, ``[storage]``) are left as they are, with a line saying they
changed in the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tui_pacs.config import ANYONE, CONFIGURED_MODALITIES, SERVICES, ConfigError, Settings
from tui_pacs.services import systemd
from tui_pacs.services.node import Node

log = logging.getLogger("tui_pacs.reload")

# Sections of the app alone: the node does not use them.
APP_ONLY = ("ui", "activity")


def described(old: Any, new: Any) -> list[str]:
    """What changed, one line each: the fields of a dataclass (``key now NEW (was
    OLD)``), the entries of a list of named ones (added, removed, changed), or
    the value itself."""
    if dataclasses.is_dataclass(old):
        return [f"{f.name} now {_shown(getattr(new, f.name))} "
                f"(was {_shown(getattr(old, f.name))})"
                for f in dataclasses.fields(old) if getattr(old, f.name) != getattr(new, f.name)]
    if isinstance(old, tuple) and all(hasattr(entry, "name") for entry in (*old, *new)):
        before = {entry.name: entry for entry in old}
        after = {entry.name: entry for entry in new}
        lines = [f"added {name}: {_entry(entry)}" for name, entry in after.items()
                 if name not in before]
        lines += [f"removed {name}" for name in before if name not in after]
        lines += [f"{name} now {_entry(after[name])} (was {_entry(entry)})"
                  for name, entry in before.items() if name in after and after[name] != entry]
        return lines
    return [f"now {_shown(new)} (was {_shown(old)})"]


@dataclass(frozen=True)
class Reloadable:
    """A section of the config file that changes while the node runs."""

    # Its name in the file and in the log; also its attribute of Settings.
    name: str
    # What changed from the old value to the new one, one line each.
    changes: Callable[[Any, Any], list[str]] = described
    # For a service keeping its own copy: give it the new value (after
    # Node.apply_settings has given the node the new settings).
    apply: Callable[[Node, Any], None] | None = None


def described_access(old: Any, new: Any) -> list[str]:
    lines = [f"allowed calling AE titles for {service} now "
             f"{_callers(getattr(new, service))} (was {_callers(getattr(old, service))})"
             for service in SERVICES if getattr(old, service) != getattr(new, service)]
    if old.check_called_aet != new.check_called_aet:
        lines.append(f"called AE title checked now {_on(new.check_called_aet)} "
                     f"(was {_on(old.check_called_aet)})")
    return lines


RELOADABLE: list[Reloadable] = [
    Reloadable("access", described_access),
    Reloadable("modalities"),
    Reloadable("retention"),
    Reloadable("forward"),
    Reloadable("forwarding"),
]


class Reloader:
    """Reloads the node's settings from ``read()``: the config file with the
    command line's options on top, as at start."""

    def __init__(self, node: Node, read: Callable[[], Settings]) -> None:
        self._node = node
        self._read = read
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """Read the file and apply what may change live; False when it was refused."""
        async with self._lock:  # a second SIGHUP waits for the first reload
            systemd.reloading("reloading the config file")
            try:
                return await self._reload()
            finally:
                systemd.ready(self._node.status.summary)

    async def _reload(self) -> bool:
        current = self._node.settings
        try:
            new = await asyncio.to_thread(self._read)
        except ConfigError as exc:
            log.error("reload refused, the settings in use are kept: %s", exc)
            return False
        applied = current
        changed: list[tuple[Reloadable, Any]] = []
        for section in RELOADABLE:
            value = getattr(new, section.name)
            if value != getattr(current, section.name):
                applied = dataclasses.replace(applied, **{section.name: value})
                changed.append((section, value))
        self._node.apply_settings(applied)
        for section, value in changed:
            if section.apply is not None:
                section.apply(self._node, value)
            for line in section.changes(getattr(current, section.name), value):
                log.info("%s: %s", section.name, line)
        later = list(_changed_at_start(current, new))
        if later:
            log.warning("changed in %s but applied only at the next start: %s", new.path,
                        ", ".join(f"[{name}]" for name in later))
        if not changed and not later:
            log.info("reloaded %s: nothing changed", new.path)
        return True


def _changed_at_start(current: Settings, new: Settings) -> Iterator[str]:
    live = {section.name for section in RELOADABLE}
    for field in dataclasses.fields(Settings):
        if field.name in live or field.name in APP_ONLY or field.name == "path":
            continue
        if getattr(current, field.name) != getattr(new, field.name):
            yield field.name


def _callers(entries: tuple[str, ...]) -> str:
    names = {ANYONE: "anyone", CONFIGURED_MODALITIES: "the configured modalities"}
    return ", ".join(names.get(entry, entry) for entry in entries) or "no one"


def _on(value: bool) -> str:
    return "on" if value else "off"


def _entry(entry: Any) -> str:
    fields = dataclasses.fields(entry)
    return ", ".join(f"{f.name} {_shown(getattr(entry, f.name))}" for f in fields
                     if f.name != "name")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return _on(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return str(value)
