"""Paging through a 2 GB multi-frame in the viewer: each frame is read from the file alone.

The image is sparse (tests/large_datasets.py): a thousand 1024x1024 frames,
three of them with a value of their own. Every frame the viewer reads goes
through ``source.read_frame``, which decodes one frame; the test counts
them. A viewer that read the whole pixel data would hold 2 GB.
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter

import pytest

from tests.dicom_factory import make_dataset
from tests.imaging.helpers import read_back
from tests.large_datasets import write_sparse_multiframe
from tests.ui.conftest import make_app, settle
from tests.ui.test_ui_preview_keys import open_study, wait_for_frame
from tui_pacs.imaging import source
from tui_pacs.store.archive import Archive
from tui_pacs.store.layout import instance_relpath
from tui_pacs.ui.screens.preview import PREFETCH_AHEAD

FRAMES, SIDE = 1000, 1024
VALUES = {0: 1024, 10: 2048, 999: 3072}
# The file's window, C 2048 W 4096 (linear), shows these values as these greys;
# zeros are black. (Its own window: every request the viewer makes is the same
# but for the frame, so none of them is worked on twice.)
WINDOW = (2048, 4096)
GREY = {1024: 64, 2048: 128, 3072: 191}
# Far below the 2 GB a viewer reading the whole pixel data would need.
GROWTH_MB = 400


@pytest.fixture
def large_archive(settings):
    """The data directory holding the 2 GB multi-frame, written in place under
    storage/ and indexed as repair does (importing it would copy 2 GB)."""
    identifiers = make_dataset()
    relpath = instance_relpath(identifiers.StudyInstanceUID, identifiers.SOPInstanceUID)
    path = settings.node.data.joinpath(*relpath.split("/"))
    path.parent.mkdir(parents=True)
    write_sparse_multiframe(path, frames=FRAMES, rows=SIDE, columns=SIDE, values=VALUES,
                            window=WINDOW)

    async def index() -> None:
        archive = await Archive.open(settings.node.data)
        try:
            await archive.reindex_in_place(relpath)
        finally:
            await archive.close()

    asyncio.run(index())
    return settings


@pytest.fixture
def frames_read(monkeypatch) -> list[int]:
    """The index of every frame read from a file, in order."""
    reads: list[int] = []
    real_read = source.read_frame

    def counting(pixels, header, decoder, index):
        reads.append(index)  # list.append is atomic: the imaging threads share it
        return real_read(pixels, header, decoder, index)

    monkeypatch.setattr(source, "read_frame", counting)
    return reads


def grey_shown(screen) -> int:
    picture = read_back(screen.rendered.renderable)
    assert picture.min() == picture.max(), "a frame of one value is one grey"
    return int(picture[0, 0, 0])


async def test_paging_a_2gb_multiframe_reads_one_frame_at_a_time(large_archive, frames_read):
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    app = make_app(large_archive)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_study(pilot, ".1")
        shown = [screen.frame]
        assert grey_shown(screen) == GREY[VALUES[0]]
        for key, frame in [("pagedown", 10), ("end", 999), ("pageup", 989), ("home", 0),
                           ("right", 1)]:
            await pilot.press(key)
            await settle(pilot)
            assert screen.frame == frame
            assert f"frame {frame + 1}/{FRAMES}" in str(screen.query_one("#overlay-bottom")
                                                        .render())
            assert grey_shown(screen) == GREY.get(VALUES.get(frame, 0), 0)
            shown.append(frame)
        await pilot.press("c")
        await wait_for_frame(pilot, screen, 3)
        await pilot.press("c")
        await settle(pilot)
        shown += range(2, screen.frame + 1)

    read = Counter(frames_read)
    assert set(shown) <= set(read), "each frame shown was read"
    assert max(read.values()) == 1, "no frame was read twice"
    ahead = {f + n for f in shown for n in range(1, PREFETCH_AHEAD + 1)}
    assert set(read) <= set(shown) | ahead, "only the frames shown and those just ahead"
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak_before
    assert growth < GROWTH_MB, f"the test process grew by {growth:.0f} MB"
