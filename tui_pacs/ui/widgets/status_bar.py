"""The top line of every screen: the node at a glance, and where you are."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from tui_pacs.core.node_report import StatusReport
from tui_pacs.core.readable import byte_size, plural
from tui_pacs.store.forward_queue import FAILED, PENDING

# Screens reachable from everywhere, with the key that opens them.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("1", "local", "Local"),
    ("2", "query", "Query"),
    ("3", "remotes", "Remotes"),
    ("4", "activity", "Activity"),
)
# The sections' names, shortest last: the longest that leaves room for the node's
# AE title and state is shown, so every screen can be found at 60 columns.
LABELS = ("{key} {title}", "{key}{title}", "{key}{short}")
SHORT = {"local": "Loc", "query": "Qry", "remotes": "Rem", "activity": "Act"}


class StatusBar(Widget):
    """Shows the app's ``status`` (the StatusReport ``tui-pacs status`` prints) and the
    sections, the current one marked; the node's details give way to the sections
    when the line is short."""

    status: reactive[StatusReport | None] = reactive(None)
    section: reactive[str] = reactive("local")

    def __init__(self, section: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(StatusBar.section, section)

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._app_status_changed)

    def _app_status_changed(self, status: StatusReport | None) -> None:
        self.status = status

    def render(self) -> Content:
        width = self.size.width
        node = self._node_parts()
        for label in LABELS:  # the last one is kept when none fits
            sections = self._sections_text(label)
            if node[0].cell_length + sections.cell_length < width:
                break
        while len(node) > 1 and (sum(p.cell_length for p in node) + sections.cell_length
                                 >= width):
            node.pop()
        left = Content.assemble(*node)
        gap = max(1, width - left.cell_length - sections.cell_length)
        return Content.assemble(left, " " * gap, sections)

    def _node_parts(self) -> list[Content]:
        """The node's AE title and state, then details, least needed last."""
        status = self.status
        if status is None:
            return [Content.from_markup(" [b]tui-pacs[/b]  starting…")]
        node = Content.from_markup(" [b]$aet[/b]", aet=status.aet)
        if status.listen_error:
            state = Content.from_markup("  [$text-error]✗ $error[/]", error=status.listen_error)
            return [Content.assemble(node, state)]
        if status.listening:
            state = Content.from_markup(f"  [$text-success]●[/] :{status.port}")
        else:
            state = Content.from_markup("  [$text-muted]○ not listening[/]")
        if status.attention:  # kept with the state; `tui-pacs status` says what they are
            state = Content.assemble(state, Content.from_markup(
                "  [b $text-warning]! $problems[/]",
                problems=plural(len(status.attention), "problem")))
        parts = [Content.assemble(node, state)]
        pending, failed = forwarding_totals(status)
        if pending or failed:
            parts.append(_forwarding(pending, failed))
        if status.archive is not None:
            parts.append(Content(f"  {plural(status.archive.studies, 'study', 'studies')}"))
        if status.listening:
            parts.append(Content(f"  {plural(status.associations_now, 'assoc', 'assoc')}"))
            if status.today is not None:
                parts.append(Content(f"  {byte_size(status.today.bytes)} today"))
        return parts

    def _sections_text(self, label: str) -> Content:
        parts = []
        for key, section, title in SECTIONS:
            text = label.format(key=key, title=title, short=SHORT.get(section, title))
            if section == self.section:
                parts.append(Content.from_markup("[reverse] $text [/reverse]", text=text))
            else:
                parts.append(Content.from_markup(" [$text-muted]$key[/]$rest ",
                                                 key=key, rest=text[len(key):]))
        return Content.assemble(*parts, " ")


def forwarding_totals(status: StatusReport) -> tuple[int, int]:
    """(waiting, failed) entries of the forwarding queue, over every destination."""
    section = status.sections.get("forwarding", {})
    return (sum(counts.get(PENDING, 0) for counts in section.values()),
            sum(counts.get(FAILED, 0) for counts in section.values()))


def _forwarding(pending: int, failed: int) -> Content:
    """The forwarding queue: entries waiting, and failed ones (which need someone)."""
    parts = [Content(f"{pending:,}")] if pending else []
    if failed:
        parts.append(Content.from_markup("[$text-error]$failed failed[/]", failed=f"{failed:,}"))
    return Content.assemble("  ⇢ ", Content(" · ").join(parts))
