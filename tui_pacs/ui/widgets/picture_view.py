"""The preview's picture in real pixels: textual-image's widget, sized in cells and centred."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static

from tui_pacs.core.text import printable
from tui_pacs.imaging.geometry import Placement

if TYPE_CHECKING:  # importing textual_image.widget queries the terminal
    from textual_image.widget import BaseImage


class PictureView(Container):
    """A Kitty or Sixel picture (or a message instead), centred in the room it is given."""

    DEFAULT_CSS = """
    PictureView {
        height: 1fr;
        width: 1fr;
        align: center middle;
        background: $background;
    }
    PictureView > Static {
        width: 100%;
        text-align: center;
    }
    """

    def __init__(self, widget: type[BaseImage], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.picture = widget()
        self.message = Static("", markup=False)

    def compose(self) -> ComposeResult:
        yield self.picture
        yield self.message

    def show_picture(self, picture: Image.Image, placement: Placement) -> None:
        """``picture`` over ``placement``'s cells: textual-image fills exactly that box."""
        self.picture.styles.width = placement.cols
        self.picture.styles.height = placement.rows
        self.picture.image = picture
        self.picture.display = True
        self.message.display = False

    def show_message(self, message: str) -> None:
        self._drop_picture()
        self.message.update(printable(message, keep="\n"))
        self.message.display = True

    def on_unmount(self) -> None:
        self._drop_picture()

    def _drop_picture(self) -> None:
        # Setting no image deletes a Kitty picture from the terminal's memory.
        self.picture.image = None
        self.picture.display = False
