"""A dataset as a tree of aligned columns: tag, VR, keyword, value, length.

Sequences and their items are branches whose children are created when
first opened, so a dataset with thousands of nested items costs nothing
until someone looks inside.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui_pacs.ui.datasets import Difference, TagEntry
from tui_pacs.ui.widgets.virtual_table import fit_text

GUIDE = 2
TAG_WIDTH = 11
VR_WIDTH = 2
LENGTH_WIDTH = 7
# The narrowest keyword column, when a long UID takes the rest.
MIN_NAME = 8


class TagTree(Tree[TagEntry]):
    COMPONENT_CLASSES: ClassVar[set[str]] = Tree.COMPONENT_CLASSES | {
        "tag-tree--tag",
        "tag-tree--differs",
        "tag-tree--match",
        "tag-tree--private",
    }

    ICON_NODE = "▶ "
    ICON_NODE_EXPANDED = "▼ "

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("dataset", id=id)
        self.show_root = False
        self.guide_depth = GUIDE
        self.differences: dict[int, Difference] = {}
        self.matches: set[int] = set()
        self._entry_nodes: dict[int, TreeNode[TagEntry]] = {}

    def show(self, entries: list[TagEntry], differences: dict[int, Difference] | None = None
             ) -> None:
        self.clear()
        self._entry_nodes.clear()
        self.differences = differences or {}
        self.matches = set()
        for entry in entries:
            self._add(self.root, entry)
        self.cursor_line = 0

    def mark_differences(self, differences: dict[int, Difference]) -> None:
        self.differences = differences
        self._refresh_labels()

    def mark_matches(self, entries: list[TagEntry]) -> None:
        self.matches = {id(entry) for entry in entries}
        self._refresh_labels()

    def _refresh_labels(self) -> None:
        for node in self._entry_nodes.values():
            node.refresh()

    def _add(self, parent: TreeNode[TagEntry], entry: TagEntry) -> None:
        if entry.children:
            node = parent.add("", data=entry, allow_expand=True)
        else:
            node = parent.add_leaf("", data=entry)
        self._entry_nodes[id(entry)] = node

    def _ensure_children(self, node: TreeNode[TagEntry]) -> None:
        entry = node.data
        if entry is not None and entry.children and not node.children:
            for child in entry.children:
                self._add(node, child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[TagEntry]) -> None:
        self._ensure_children(event.node)

    def reveal(self, entry: TagEntry) -> None:
        """Open the branches above ``entry`` and put the cursor on it."""
        for ancestor in entry.ancestors():
            node = self._entry_nodes.get(id(ancestor))
            if node is None:
                return
            self._ensure_children(node)
            node.expand()
        node = self._entry_nodes.get(id(entry))
        if node is not None:
            # Opened branches get their lines at the next refresh.
            self.call_after_refresh(self._put_cursor_on, node)

    def _put_cursor_on(self, node: TreeNode[TagEntry]) -> None:
        self.move_cursor(node)
        self.scroll_to_node(node, animate=False)

    def expand_everything(self) -> None:
        for entry_id in list(self._entry_nodes):
            node = self._entry_nodes[entry_id]
            self._ensure_children(node)
        self.root.expand_all()

    def collapse_everything(self) -> None:
        for node in self.root.children:
            node.collapse_all()

    # --- drawing -----------------------------------------------------------------

    def render_label(self, node: TreeNode[TagEntry], base_style: Style, style: Style) -> Text:
        entry = node.data
        if entry is None:
            return Text("")
        line = entry.line
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        else:
            icon = "  "
        depth = len(entry.ancestors()) + 1
        room = max(20, self.size.width - depth * GUIDE - len(icon) - 1)
        differs = entry.is_top_level and entry.tag in self.differences
        marker = "≠" if differs else " "
        text = Text(marker + icon, style=style)
        if line.is_item:
            text.append(line.name, style=style)
            return text
        name = line.name + (f" [{line.private_creator}]" if line.private_creator else "")
        name_width = max(12, min(34, room * 36 // 100))
        length = "" if line.length is None else str(line.length)
        value_width = room - TAG_WIDTH - VR_WIDTH - name_width - 3
        show_length = value_width - LENGTH_WIDTH - 1 >= 8
        if show_length:
            value_width -= LENGTH_WIDTH + 1
        if line.vr == "UI":
            name_width, value_width, show_length = whole_uid(line.value, name_width,
                                                             value_width, show_length)
        tag_style = style + self.get_component_rich_style("tag-tree--tag", partial=True)
        text.append(line.tag_text, style=tag_style)
        text.append(f" {line.vr:<{VR_WIDTH}} ", style=tag_style)
        name_style = style
        if line.tag.is_private:
            name_style += self.get_component_rich_style("tag-tree--private", partial=True)
        text.append(fit_text(name, name_width), style=name_style)
        text.append(" " + fit_text(line.value, max(1, value_width)), style=style)
        if show_length:
            text.append(" " + fit_text(length, LENGTH_WIDTH, "right"), style=tag_style)
        if differs:
            text.stylize(self.get_component_rich_style("tag-tree--differs", partial=True))
        if id(entry) in self.matches:
            text.stylize(self.get_component_rich_style("tag-tree--match", partial=True))
        return text


def whole_uid(value: str, name_width: int, value_width: int,
              show_length: bool) -> tuple[int, int, bool]:
    """Widths that show a UID whole: a cut UID is no use to anyone, so the length
    column and then the keyword (down to :data:`MIN_NAME`) give it their room."""
    needed = cell_len(value)
    if needed <= value_width:
        return name_width, value_width, show_length
    if show_length:
        value_width += LENGTH_WIDTH + 1
        show_length = False
    taken = max(0, min(needed - value_width, name_width - MIN_NAME))
    return name_width - taken, value_width + taken, show_length
