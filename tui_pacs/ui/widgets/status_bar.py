"""The top line of every screen: the node at a glance, and where you are."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui_pacs.ui.status import StatusSnapshot, byte_size, plural

# Screens reachable from everywhere, with the key that opens them.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("1", "local", "Local"),
    ("2", "query", "Query"),
    ("3", "remotes", "Remotes"),
    ("4", "activity", "Activity"),
)
# Below this width only the current section is named.
ALL_SECTIONS_WIDTH = 110


class StatusBar(Widget):
    """Shows the app's ``status`` (a StatusSnapshot) and the current section."""

    status: reactive[StatusSnapshot | None] = reactive(None)
    section: reactive[str] = reactive("local")

    def __init__(self, section: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(StatusBar.section, section)

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._app_status_changed)

    def _app_status_changed(self, status: StatusSnapshot | None) -> None:
        self.status = status

    def render(self) -> Content:
        left = self._node_text()
        right = self._sections_text(self.size.width - left.cell_length - 2)
        gap = max(1, self.size.width - left.cell_length - right.cell_length)
        return Content.assemble(left, " " * gap, right)

    def _node_text(self) -> Content:
        status = self.status
        if status is None:
            return Content.from_markup(" [b]tui-pacs[/b]  starting…")
        node = Content.from_markup(" [b]$aet[/b]", aet=status.aet)
        if status.listen_error:
            state = Content.from_markup("  [$text-error]✗ $error[/]", error=status.listen_error)
            return Content.assemble(node, state)
        if status.listening:
            state = Content.from_markup(f"  [$text-success]●[/] :{status.port}")
        else:
            state = Content.from_markup("  [$text-muted]○ not listening[/]")
        parts = [node, state]
        if status.studies is not None:
            parts.append(Content(f"  {plural(status.studies, 'study', 'studies')}"))
        if status.listening:
            parts.append(Content(f"  {plural(status.active_associations, 'assoc', 'assoc')}"))
            parts.append(Content(f"  {byte_size(status.bytes_received)} in"))
        return Content.assemble(*parts)

    def _sections_text(self, room: int) -> Content:
        if self.size.width >= ALL_SECTIONS_WIDTH:
            parts = []
            for key, section, title in SECTIONS:
                if section == self.section:
                    parts.append(Content.from_markup(f"[reverse] {key} {title} [/reverse]"))
                else:
                    parts.append(Content.from_markup(f" [$text-muted]{key}[/] {title} "))
            return Content.assemble(*parts, " ")
        title = next((t for _, s, t in SECTIONS if s == self.section), self.section)
        text = Content.from_markup(f"[b]{title}[/b] ")
        return text if text.cell_length <= room else Content("")
