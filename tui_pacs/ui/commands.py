"""The command palette (ctrl+p): every action of the current screen, and more.

Each key binding of the screen and of the app is a command, so nothing is
reachable by key only. Screens add commands that have no key (sort by a
given column) through ``palette_entries()``, and the app those that work from
every screen (echo or query a given modality, retrieve, send, theme).

Textual orders the hits of all providers by score alone, so the app's own
commands are lifted above Textual's generic ones (Keys, Screenshot…) by
``OWN_FIRST``: "theme" or "quit" finds this app's command first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import Hit, Hits, Provider
from textual.dom import DOMNode

# Added to the score of this app's hits; Textual's matcher scores are at most 1.
OWN_FIRST = 1.0


@dataclass(frozen=True)
class PaletteEntry:
    title: str
    help: str
    callback: Callable[[], Any]


class PacsCommands(Provider):
    def _entries(self) -> list[PaletteEntry]:
        entries: list[PaletteEntry] = []
        seen: set[str] = set()
        for entry in _binding_entries(self.screen):
            if entry.title not in seen:
                seen.add(entry.title)
                entries.append(entry)
        palette_entries = getattr(self.screen, "palette_entries", None)
        if palette_entries is not None:
            entries.extend(palette_entries())
        app_entries = getattr(self.app, "palette_entries", None)
        if app_entries is not None:
            entries.extend(e for e in app_entries() if e.title not in seen)
        return entries

    async def discover(self) -> Hits:
        # Hits rather than DiscoveryHits, whose score is always 0: listed before Textual's.
        for entry in self._entries():
            yield Hit(OWN_FIRST, entry.title, entry.callback, entry.title, entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(f"{entry.title} {entry.help}")
            if score > 0:
                yield Hit(OWN_FIRST + score, matcher.highlight(entry.title), entry.callback,
                          help=entry.help)


def _binding_entries(screen) -> Iterator[PaletteEntry]:
    """The screen's and the app's key bindings that have a description."""
    app = screen.app
    for active in screen.active_bindings.values():
        node: DOMNode = active.node
        binding = active.binding
        if not binding.description or not active.enabled:
            continue
        if node is not screen and node is not app:
            continue
        keys = app.get_key_display(binding)
        yield PaletteEntry(binding.description, f"key: {keys}",
                           partial(node.run_action, binding.action))
