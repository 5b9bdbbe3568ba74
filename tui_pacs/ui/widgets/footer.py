"""The footer: the screen's most important keys that fit, whole, and always `?` Help.

Textual's Footer lays every shown key out in a row and lets the terminal's
edge cut the last ones: at 80 columns the Local screen lost its own help
key (``? H▏``). This footer gives each screen its keys in the order of the
screen's ``FOOTER`` (the actions that matter most first), drops the keys
that do not fit instead of cutting one, and keeps room for `?` Help so a
newcomer can always find the rest (while a text field has the focus, `?` is
typed into it and the footer shows escape instead).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# What this footer leans on in Textual: Footer.compose, which PacsFooter.compose
# replaces (it reads the private _bindings_ready the same way), and FooterKey,
# a class of a private module. The sha256 of their source in textual 8.2.8:
# tests/ui/test_ui_navigation.py fails when an upgrade changes them, so that
# this copy is checked again instead of drifting.
UPSTREAM: dict[str, tuple[object, str]] = {
    "Footer.compose": (
        Footer.compose, "8514ae6622cb1844d4353b5599245739bafd009052a04e9fb6d4af4c7d9084ce"),
    "FooterKey.__init__": (
        FooterKey.__init__, "ad69cb341018def563cbbffc0899065d30ab5c9bfa737b0fc90a491d0639e808"),
}

HELP_ACTION = "help"
# A compact key takes its key, a space, its description and a margin.
KEY_EXTRA = 2
# The command palette key on the right also has a border and a padding.
PALETTE_EXTRA = 3


def key_width(key_display: str, description: str) -> int:
    return cell_len(key_display) + cell_len(description) + KEY_EXTRA


def fitting(keys: list[tuple[Binding, int]], room: int, keep: str = HELP_ACTION
            ) -> list[Binding]:
    """The bindings of ``keys`` (with their widths, most important first) that fit in
    ``room`` columns, in order, the ``keep`` action always among them."""
    kept = [b for b, w in keys if b.action == keep]
    room -= sum(w for b, w in keys if b.action == keep)
    chosen: set[int] = set()
    for index, (binding, width) in enumerate(keys):
        if binding.action != keep and width <= room:
            chosen.add(index)
            room -= width
    return [b for i, (b, _) in enumerate(keys) if i in chosen] + kept


def ordered(bindings: Iterable[Binding], first: tuple[str, ...]) -> list[Binding]:
    """``bindings`` with the actions named in ``first`` (without their parameters) in
    front, in that order."""
    bindings = list(bindings)
    rank = {action: n for n, action in enumerate(first)}
    return sorted(bindings, key=lambda b: rank.get(b.action.split("(")[0], len(rank)))


class PacsFooter(Footer):
    """A footer that never cuts a key (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._width = 0

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        app = self.app
        active = self.screen.active_bindings
        by_action: dict[str, tuple[Binding, bool, str]] = {}
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in by_action:
                by_action[binding.action] = (binding, enabled, tooltip)
        first = getattr(self.screen, "FOOTER", ())
        bindings = ordered((b for b, _, _ in by_action.values()), first)
        room = self._width or app.size.width
        palette = active.get(app.COMMAND_PALETTE_BINDING) if app.ENABLE_COMMAND_PALETTE else None
        if palette is not None:
            room -= key_width(app.get_key_display(palette.binding),
                              palette.binding.description) + PALETTE_EXTRA - KEY_EXTRA
        widths = [(b, key_width(app.get_key_display(b), b.description)) for b in bindings]
        for binding in fitting(widths, room):
            _, enabled, tooltip = by_action[binding.action]
            yield FooterKey(binding.key, app.get_key_display(binding), binding.description,
                            binding.action, disabled=not enabled,
                            tooltip=tooltip).data_bind(compact=Footer.compact)
        if palette is not None:
            binding = palette.binding
            yield FooterKey(binding.key, app.get_key_display(binding), binding.description,
                            binding.action, classes="-command-palette",
                            disabled=not palette.enabled,
                            tooltip=binding.tooltip or binding.description)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
