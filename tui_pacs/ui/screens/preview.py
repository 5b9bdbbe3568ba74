"""The image preview: a series page by page, its frames, and the window by key.

Frames are decoded and rendered by the imaging service in its worker
threads; the screen asks for the current one (latest request wins) and has
the neighbours prefetched, so paging through a series never waits on the
event loop. Instances come in slice order: along the slice normal when the
geometry allows, else by InstanceNumber.

``n``/``N`` go to the next or previous series of the study, ``c`` plays a
multi-frame image at its Frame Time (a Textual timer, so nothing waits), and
``p`` lists the windows to pick one.

Pictures are half blocks, or real pixels when the app was given a graphics
protocol (``ui.graphics``): then the windowed picture is fetched and scaled
to the view's cells in threads too, and textual-image's widget draws it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from PIL import Image
from rich.align import Align
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Static

from tui_pacs.core.matching import Single
from tui_pacs.core.model import Level, display_value
from tui_pacs.core.text import printable
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.geometry import Placement, slice_order
from tui_pacs.imaging.service import FrameRequest, RenderedFrame
from tui_pacs.imaging.window import WindowChoice, WindowState
from tui_pacs.ui.dialogs.pick_window import PickWindow
from tui_pacs.ui.graphics import fit_to_cells
from tui_pacs.ui.rows import Row
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.screens.tags import TagsScreen
from tui_pacs.ui.widgets.footer import PacsFooter
from tui_pacs.ui.widgets.picture_view import PictureView
from tui_pacs.ui.widgets.status_bar import StatusBar
from tui_pacs.ui.widgets.transfers_view import TransfersView

# How many images ahead (and half as many behind) are prepared while one is shown.
PREFETCH_AHEAD = 4
NO_OTHER_WINDOW = ("No other window: the image has none of its own, and the presets "
                   "are for CT (Hounsfield units).")
# How many images (or frames of a single image) PgUp and PgDn move.
PAGE = 10
# The cine pace when the file has no Frame Time (0018,1063), in frames per second.
DEFAULT_FPS = 10
# Window steps, as a fraction of the current width.
LEVEL_STEP = 0.05
WIDTH_STEP = 0.10


@dataclass(frozen=True)
class Slice:
    """One instance of the series being previewed."""

    path: Path
    sop_instance_uid: str
    number: int | None
    frames: int


async def series_slices(archive, series_uid: str) -> list[Slice]:
    """The series' instances in slice order, from the index (no file is opened)."""
    matchers = {"SeriesInstanceUID": Single(series_uid)}
    rows = await archive.index.query(Level.IMAGE, matchers)
    paths = {f.sop_instance_uid: archive.path_of(f)
             for f in await archive.index.files(Level.SERIES, matchers)}
    rows = [row for row in rows if row["SOPInstanceUID"] in paths]
    order = slice_order([r.get("ImagePositionPatient") or "" for r in rows],
                        [r.get("ImageOrientationPatient") or "" for r in rows],
                        [r.get("InstanceNumber") for r in rows])
    return [Slice(paths[rows[n]["SOPInstanceUID"]], rows[n]["SOPInstanceUID"],
                  rows[n].get("InstanceNumber"), rows[n].get("NumberOfFrames") or 1)
            for n in order]


async def study_series(archive, series_uid: str) -> list[Row]:
    """The series of ``series_uid``'s study, by series number (then UID)."""
    found = await archive.index.query(Level.SERIES,
                                      {"SeriesInstanceUID": Single(series_uid)}, limit=1)
    if not found:
        return []
    rows = await archive.index.query(
        Level.SERIES, {"StudyInstanceUID": Single(str(found[0]["StudyInstanceUID"]))})
    return sorted(rows, key=lambda row: (row.get("SeriesNumber") is None,
                                         row.get("SeriesNumber") or 0,
                                         row["SeriesInstanceUID"]))


class ImageView(Static):
    """The picture in half blocks, centred in whatever room the screen gives it."""

    def show_message(self, message: str) -> None:
        self.update(Align.center(message, vertical="middle"))


class PreviewScreen(PacsScreen):
    HELP_TITLE = "image preview"

    BINDINGS: ClassVar = [
        Binding("escape", "back", "Back"),
        Binding("down,j,space", "step(1)", "Next image"),
        Binding("up,k", "step(-1)", "Previous image", show=False),
        Binding("pagedown", "page(1)", "Ten on", show=False),
        Binding("pageup", "page(-1)", "Ten back", show=False),
        Binding("home", "first", "First image", show=False),
        Binding("end", "last", "Last image", show=False),
        Binding("right,l", "frame(1)", "Next frame", show=False),
        Binding("left,h", "frame(-1)", "Previous frame", show=False),
        Binding("n", "series(1)", "Next series", show=False),
        Binding("N", "series(-1)", "Previous series", show=False),
        Binding("c", "play", "Play", show=False),
        Binding("w", "next_window", "Window"),
        Binding("p", "pick_window", "Presets"),
        Binding("a", "auto_window", "Auto window", show=False),
        Binding("r", "reset_window", "File window", show=False),
        Binding("period", "level(1)", "Level up", show=False),
        Binding("comma", "level(-1)", "Level down", show=False),
        Binding("right_square_bracket", "width(1)", "Wider window", show=False),
        Binding("left_square_bracket", "width(-1)", "Narrower window", show=False),
        Binding("t", "tags", "Tags"),
    ]

    def __init__(self, series_uid: str, start_sop_uid: str | None = None,
                 context: str = "") -> None:
        super().__init__()
        self.series_uid = series_uid
        self.start_sop_uid = start_sop_uid
        self.context = context
        self.slices: list[Slice] = []
        self.position = 0
        self.frame = 0
        # The window chosen by the user; None shows each image's default.
        self.window: WindowChoice | None = None
        self.windows: WindowState | None = None
        self.rendered: RenderedFrame | None = None
        self._error = ""
        self._cine: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(self.SECTION)
        yield Static("", id="overlay-top", classes="title", markup=False)
        graphics = self.pacs.graphics
        if graphics is None:
            yield ImageView("", id="image")
        else:
            yield PictureView(graphics.widget, id="image")
        yield Static("", id="overlay-bottom", classes="overlay", markup=False)
        yield TransfersView()
        yield PacsFooter()

    def on_mount(self) -> None:
        self._load_series()

    # --- what is shown ------------------------------------------------------------

    @work(group="preview-series", exclusive=True, exit_on_error=False)
    async def _load_series(self) -> None:
        self.stop_cine()
        self.slices = await series_slices(self.backend.archive, self.series_uid)
        if not self.slices:
            self._show_error("This series has no instances any more.")
            return
        self.position = next((n for n, s in enumerate(self.slices)
                              if s.sop_instance_uid == self.start_sop_uid), 0)
        self.show()

    @property
    def current(self) -> Slice | None:
        return self.slices[self.position] if self.slices else None

    def request(self, position: int | None = None, frame: int | None = None) -> FrameRequest:
        """What to render: an image of the series (this one), a frame, the window chosen."""
        slice_ = self.slices[self.position if position is None else position]
        view = self._view()
        return FrameRequest(slice_.path, frame=self.frame if frame is None else frame,
                            cols=max(1, view.size.width), rows=max(1, view.size.height),
                            window=self.window)

    def show(self) -> None:
        if not self.slices:
            return
        self._draw(self.request())
        self._prefetch()

    @work(group="preview-render", exclusive=True, exit_on_error=False)
    async def _draw(self, request: FrameRequest) -> None:
        try:
            rendered = await self.backend.imaging.render(request)
            fitted = await self._fit(request, rendered) if self.pacs.graphics else None
        except UnsupportedImage as exc:
            self._show_error(str(exc))
            return
        self._error = ""
        self.rendered = rendered
        self.windows = rendered.windows
        if fitted is None:
            self.query_one(ImageView).update(Align.center(rendered.renderable,
                                                          vertical="middle"))
        else:
            self.query_one(PictureView).show_picture(*fitted)
        self._update_overlay()

    async def _fit(self, request: FrameRequest,
                   rendered: RenderedFrame) -> tuple[Image.Image, Placement]:
        """The full-size windowed picture scaled to the view, for a graphics widget."""
        pixels = await self.backend.imaging.picture(request)
        assert self.pacs.graphics is not None  # only called with a graphics widget
        return await asyncio.to_thread(fit_to_cells, pixels, rendered.pixel_aspect,
                                       request.cols, request.rows, self.pacs.graphics.cell)

    def _prefetch(self) -> None:
        """The next frames of this image (a cine), then the images around it."""
        frames = self.slices[self.position].frames
        wanted = [self.request(frame=frame) for frame in
                  range(self.frame + 1, min(frames, self.frame + 1 + PREFETCH_AHEAD))]
        for offset in [*range(1, PREFETCH_AHEAD + 1), *range(-1, -PREFETCH_AHEAD // 2 - 1, -1)]:
            position = self.position + offset
            if 0 <= position < len(self.slices):
                wanted.append(self.request(position, frame=0))
        self.backend.imaging.prefetch(wanted)

    def _show_error(self, message: str) -> None:
        self._error = message
        self.rendered = None
        self._view().show_message(message)
        self._update_overlay()

    def _view(self) -> ImageView | PictureView:
        """The picture's room: half blocks or a graphics widget."""
        return self.query_one("#image")  # type: ignore[return-value]

    def _update_overlay(self) -> None:
        top = [self.context] if self.context else []
        bottom = []
        slice_ = self.current
        if slice_ is not None:
            bottom.append(f"image {self.position + 1}/{len(self.slices)}")
            if slice_.number is not None:
                bottom.append(f"#{slice_.number}")
            if slice_.frames > 1:
                playing = " ▶" if self.playing else ""
                bottom.append(f"frame {self.frame + 1}/{slice_.frames}{playing}")
        rendered = self.rendered
        if rendered is not None:
            info = rendered.info
            if rendered.windows.current is not None:
                bottom.append(rendered.windows.current.describe())
            bottom.append(f"{info.columns}×{info.rows} {info.photometric}")
            if info.modality:
                top.append(info.modality)
        self.query_one("#overlay-top", Static).update(printable("  ·  ".join(top)))
        self.query_one("#overlay-bottom", Static).update(printable("  ·  ".join(bottom)))

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.show)

    # --- paging ---------------------------------------------------------------------

    def go_to(self, position: int, frame: int = 0, *, cine: bool = False) -> None:
        """Show an image and frame; any move but the cine's own stops the cine."""
        if not cine:
            self.stop_cine()
        if not self.slices:
            return
        position = max(0, min(position, len(self.slices) - 1))
        frame = max(0, min(frame, self.slices[position].frames - 1))
        if (position, frame) != (self.position, self.frame):
            self.position, self.frame = position, frame
            self.show()

    def action_step(self, delta: int) -> None:
        self.go_to(self.position + delta)

    def action_page(self, direction: int) -> None:
        """Ten images on or back; in a series of one multi-frame image, ten frames."""
        if len(self.slices) == 1:
            self.action_frame(direction * PAGE)
        else:
            self.go_to(self.position + direction * PAGE)

    def action_first(self) -> None:
        self.go_to(0)

    def action_last(self) -> None:
        """The last image, at its last frame."""
        if self.slices:
            self.go_to(len(self.slices) - 1, self.slices[-1].frames - 1)

    def action_frame(self, delta: int) -> None:
        self.go_to(self.position, self.frame + delta)

    # --- the cine ---------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._cine is not None

    def action_play(self) -> None:
        """Play the image's frames round and round, or stop them."""
        slice_ = self.current
        if self.playing:
            self.stop_cine()
        elif slice_ is None or slice_.frames < 2:
            self.notify("Nothing to play: this image has a single frame.", timeout=3)
        else:
            self._cine = self.set_interval(self.cine_interval, self._tick_while_playing)
            self._update_overlay()

    @property
    def cine_interval(self) -> float:
        """Seconds between frames: the file's Frame Time, else 1/10 s."""
        frame_time = self.rendered.info.frame_time if self.rendered else None
        return frame_time / 1000 if frame_time else 1 / DEFAULT_FPS

    def _tick_while_playing(self) -> None:
        # Textual runs a timer's callback as a message: one may be due after stop.
        if self.playing:
            self.cine_tick()

    def cine_tick(self) -> None:
        """The timer's step: the next frame, after the last the first."""
        slice_ = self.current
        if slice_ is None:
            self.stop_cine()
            return
        self.go_to(self.position, (self.frame + 1) % slice_.frames, cine=True)

    def stop_cine(self) -> None:
        if self._cine is not None:
            self._cine.stop()
            self._cine = None
            self._update_overlay()

    def on_screen_suspend(self) -> None:
        self.stop_cine()

    # --- other series of the study ------------------------------------------------------

    def action_series(self, direction: int) -> None:
        self._other_series(direction)

    # Its own group: it starts _load_series, which would cancel it in a shared one.
    @work(group="preview-other-series", exclusive=True, exit_on_error=False)
    async def _other_series(self, direction: int) -> None:
        siblings = await study_series(self.backend.archive, self.series_uid)
        uids = [row["SeriesInstanceUID"] for row in siblings]
        here = uids.index(self.series_uid) if self.series_uid in uids else 0
        wanted = here + direction
        if not 0 <= wanted < len(uids):
            edge = "last" if direction > 0 else "first"
            self.notify(f"This is the {edge} series of the study.", timeout=3)
            return
        self.stop_cine()
        row = siblings[wanted]
        self.series_uid, self.start_sop_uid = uids[wanted], None
        self.context = describe_for_preview(row)
        self.position = self.frame = 0
        self._load_series()

    # --- the window ------------------------------------------------------------------

    def _adjustable_windows(self) -> WindowState | None:
        """The image's windows, or None after saying why there are none to change."""
        if self.windows is None:
            self.notify("No image is shown, so there is no window to change.", timeout=3)
            return None
        if not self.windows.applies:
            self.notify("Windows do not apply to colour images.", timeout=3)
            return None
        return self.windows

    def choose_window(self, choice: WindowChoice | None) -> None:
        self.window = choice
        self.show()

    def _window_choices(self) -> tuple[WindowState, tuple[WindowChoice, ...]] | None:
        """The windows and the choices among them, or None after saying why
        there is nothing to choose."""
        windows = self._adjustable_windows()
        if windows is None:
            return None
        choices = windows.choices()
        if len(choices) < 2:
            self.notify(NO_OTHER_WINDOW, timeout=4)
            return None
        return windows, choices

    def action_next_window(self) -> None:
        """The file's windows, then auto, then the CT presets, round and round."""
        found = self._window_choices()
        if found is None:
            return
        windows, choices = found
        current = windows.current
        position = choices.index(current) + 1 if current in choices else 0
        self.choose_window(choices[position % len(choices)])

    def action_auto_window(self) -> None:
        windows = self._adjustable_windows()
        if windows is not None and windows.auto is not None:
            self.choose_window(windows.auto)

    def action_reset_window(self) -> None:
        """Back to the image's own window; when that is already shown, say why
        nothing changes (an image without windows is shown with the automatic one)."""
        windows = self._adjustable_windows()
        if windows is None:
            return
        if self.window is not None:
            self.choose_window(None)
        elif not windows.file_choices:
            self.notify("This image has no window of its own (no Window Center/Width or "
                        "VOI LUT): it is shown with the automatic window.", timeout=4)
        else:
            self.notify("The image's own window is already shown.", timeout=3)

    def action_pick_window(self) -> None:
        """The windows as a list (file, auto, CT presets) to choose one from."""
        found = self._window_choices()
        if found is None:
            return
        windows, choices = found

        def picked(choice: WindowChoice | None) -> None:
            if choice is not None:
                self.choose_window(choice)

        self.app.push_screen(PickWindow(choices, windows.current), picked)

    def action_level(self, direction: int) -> None:
        self._adjust(center=direction * LEVEL_STEP)

    def action_width(self, direction: int) -> None:
        self._adjust(width=direction * WIDTH_STEP)

    def _adjust(self, center: float = 0.0, width: float = 0.0) -> None:
        windows = self._adjustable_windows()
        if windows is None:
            return
        current = windows.current
        start = current.window if current and current.window else (
            windows.auto.window if windows.auto else None)
        if start is None:
            return
        adjusted = windows.adjusted(center_step=center * start.width,
                                         width_step=width * start.width)
        self.choose_window(adjusted.current)

    # --- elsewhere ---------------------------------------------------------------------

    def action_back(self) -> None:
        self.stop_cine()
        self.backend.imaging.cancel_prefetch()
        self.app.pop_screen()

    def action_tags(self) -> None:
        if self.slices:
            self.app.push_screen(TagsScreen([s.path for s in self.slices], self.position,
                                            self.context))


def describe_for_preview(row: Row) -> str:
    """The overlay's first line: patient, study and series."""
    patient = f"{row.get('PatientName') or '(no name)'} ({row.get('PatientID') or 'no ID'})"
    parts = [patient, display_value("StudyDate", row.get("StudyDate")),
             row.get("StudyDescription") or ""]
    number = row.get("SeriesNumber")
    if number is not None:
        parts.append(f"series {number} {row.get('SeriesDescription') or ''}".strip())
    return "  ".join(p for p in parts if p)
