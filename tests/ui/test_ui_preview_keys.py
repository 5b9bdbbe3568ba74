"""The viewer keys a radiographer expects: next and previous series, PgUp/PgDn by
ten, Home/End, a window picker, cine at the file's Frame Time, and a reason when
w or r can change nothing."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.dicom_factory import make_dataset, write_instance, write_study
from tests.ui.conftest import make_app, screen_text, seed, settle
from tui_pacs.core.matching import Single
from tui_pacs.core.model import Level
from tui_pacs.ui.dialogs.pick_window import PickWindow
from tui_pacs.ui.screens.preview import PreviewScreen

FRAMES = 24


def cine_file(folder, name: str, frame_time: float | None, study: int) -> list:
    """A grayscale multi-frame image without windows of its own (OT, no rescale)."""
    ds = make_dataset(study=study, modality="OT", rows=16, columns=16)
    for keyword in ("WindowCenter", "WindowWidth", "RescaleIntercept", "RescaleSlope"):
        delattr(ds, keyword)
    ds.NumberOfFrames = FRAMES
    if frame_time is not None:
        ds.FrameTime = frame_time
    frames = np.arange(FRAMES * 16 * 16, dtype=np.uint16).reshape(FRAMES, 16, 16)
    ds.PixelData = (frames % 4096).tobytes()
    return [write_instance(folder / name, ds)]


@pytest.fixture
def viewer_data(settings, tmp_path):
    """Study 1: series 1 of 25 CT images and series 2 of 3; studies 8 and 9: a cine
    at 40 ms a frame and one without a Frame Time."""
    files = write_study(tmp_path / "a", study=1, series=1, instances=25,
                        study_date="20240115")
    # Series 1 and 2 of three images, of which only series 2 is kept.
    files += write_study(tmp_path / "b", study=1, series=2, instances=3)[3:]
    files += cine_file(tmp_path, "cine40.dcm", 40, study=8)
    files += cine_file(tmp_path, "cine.dcm", None, study=9)
    asyncio.run(seed(settings.node.data, files))
    return settings


async def open_study(pilot, study_uid_suffix: str) -> PreviewScreen:
    app = pilot.app
    rows = app.screen.table.loaded_rows()
    app.screen.table.cursor_row = next(n for n, r in enumerate(rows)
                                       if r["StudyInstanceUID"].endswith(study_uid_suffix))
    await pilot.press("v")
    await settle(pilot)
    assert isinstance(app.screen, PreviewScreen) and app.screen.rendered is not None
    return app.screen


async def test_paging_by_ten_first_last_and_other_series(viewer_data):
    app = make_app(viewer_data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_study(pilot, ".1")
        assert len(screen.slices) == 25
        await pilot.press("pagedown", "pagedown")
        await settle(pilot)
        assert screen.position == 20 and "image 21/25" in screen_text(app)
        await pilot.press("pagedown", "pageup")
        await settle(pilot)
        assert screen.position == 14
        await pilot.press("end")
        await settle(pilot)
        assert screen.position == 24
        await pilot.press("home")
        await settle(pilot)
        assert screen.position == 0

        series = await app.backend.archive.index.query(
            Level.SERIES, {"StudyInstanceUID": Single(await study_uid(app, screen))})
        second = next(r["SeriesInstanceUID"] for r in series if r["SeriesNumber"] == 2)
        await pilot.press("n")
        await settle(pilot)
        assert screen.series_uid == second and len(screen.slices) == 3
        assert "series 2" in screen_text(app)
        await pilot.press("n")  # there is no third: a note, and series 2 stays
        await settle(pilot)
        assert screen.series_uid == second
        await pilot.press("N")
        await settle(pilot)
        assert len(screen.slices) == 25 and screen.series_uid != second


async def study_uid(app, screen: PreviewScreen) -> str:
    [row] = await app.backend.archive.index.query(
        Level.SERIES, {"SeriesInstanceUID": Single(screen.series_uid)})
    return row["StudyInstanceUID"]


async def test_window_picker_lists_the_presets(viewer_data):
    app = make_app(viewer_data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_study(pilot, ".1")
        await pilot.press("p")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, PickWindow)
        assert "lung" in screen_text(app)
        picker.query_one("#windows").highlighted = next(
            n for n, c in enumerate(picker.choices) if c.label == "lung")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        current = screen.windows.current
        assert current.label == "lung" and current.window.center == -600
        assert "preset: lung" in screen_text(app)


async def wait_for_frame(pilot, screen: PreviewScreen, frame: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while screen.frame < frame:
        assert time.monotonic() < deadline, f"the cine stayed at frame {screen.frame}"
        await pilot.pause(0.02)


async def test_cine_plays_at_the_frame_time_and_stops(viewer_data):
    app = make_app(viewer_data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_study(pilot, ".8")
        assert screen.cine_interval == pytest.approx(0.04)
        await pilot.press("end")
        await settle(pilot)
        assert screen.frame == FRAMES - 1  # one image: End is its last frame
        await pilot.press("home", "pagedown")
        await settle(pilot)
        assert screen.frame == 10  # PgDn moves ten frames
        await pilot.press("c")
        assert screen.playing
        await wait_for_frame(pilot, screen, 13)
        await pilot.press("c")
        stopped_at = screen.frame
        await pilot.pause(0.2)
        assert not screen.playing and screen.frame == stopped_at
        await pilot.press("c")
        await wait_for_frame(pilot, screen, stopped_at + 1)
        await pilot.press("escape")  # leaving stops it
        await settle(pilot)
        assert not screen.playing


async def test_cine_without_frame_time_and_windows_that_cannot_change(viewer_data):
    app = make_app(viewer_data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_study(pilot, ".9")
        assert screen.cine_interval == pytest.approx(0.1)
        before = screen.windows.current
        await pilot.press("w")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        notes = [str(n.message) for n in app._notifications]
        assert any(note.startswith("No other window") for note in notes)
        assert any("no window of its own" in note for note in notes)
        assert screen.windows.current == before and screen.window is None
        screen.cine_tick()  # the timer's step, driven directly
        await settle(pilot)
        assert screen.frame == 1 and "frame 2/24" in screen_text(app)


async def test_a_tick_already_due_when_the_cine_stops_moves_nothing(viewer_data):
    # Textual runs a timer's callback as a message: one may be due after stop().
    app = make_app(viewer_data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_study(pilot, ".8")
        screen.action_play()
        stopped_at = screen.frame
        screen.call_next(screen._tick_while_playing)  # the timer fired: its tick waits
        screen.stop_cine()
        await settle(pilot)
        assert not screen.playing and screen.frame == stopped_at
