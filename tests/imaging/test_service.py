"""The imaging service: rendering in worker threads, caches, prefetch and cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import pydicom_file
from tests.dicom_factory import make_dataset, write_instance, write_study
from tui_pacs.imaging import service as service_module
from tui_pacs.imaging.errors import UnsupportedImage
from tui_pacs.imaging.service import FrameRequest, ImagingService
from tui_pacs.imaging.source import DicomImage
from tui_pacs.imaging.window import WindowSource, manual_window


class GatedPrepare:
    """Wraps ``prepare``: records what is decoded, and can hold the workers until released."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[str, int]] = []
        self.started = threading.Semaphore(0)
        self.gate = threading.Event()
        self.gate.set()
        real = service_module.prepare

        def prepare(image, index):
            self.calls.append((image.name, index))
            self.started.release()
            assert self.gate.wait(10), "test never released the gate"
            return real(image, index)

        monkeypatch.setattr(service_module, "prepare", prepare)

    def hold(self) -> None:
        self.gate.clear()

    def wait_started(self) -> None:
        assert self.started.acquire(timeout=10)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def series(tmp_path) -> list[Path]:
    return write_study(tmp_path / "series", instances=12, rows=64, columns=64)


@pytest.fixture
def service():
    with ImagingService(workers=1) as svc:
        yield svc


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


async def test_render_then_the_cache(service, series):
    request = FrameRequest(series[0], cols=40, rows=20)
    rendered = await service.render(request)
    assert rendered.renderable.width == 40 and rendered.renderable.height == 20
    assert rendered.windows.current.source is WindowSource.FILE
    assert rendered.info.rows == 64 and rendered.pixel_aspect == 1.0
    assert await service.render(request) is rendered
    assert (service.stats.misses, service.stats.hits) == (1, 1)
    assert service.cached(request) is rendered


async def test_a_new_window_reuses_the_decoded_frame(service, series, monkeypatch):
    gated = GatedPrepare(monkeypatch)
    request = FrameRequest(series[0], cols=40, rows=20)
    first = await service.render(request)
    moved = first.windows.adjusted(center_step=100).current
    second = await service.render(request.with_window(moved))
    assert second.windows.current == moved and second.windows.file_choices
    assert gated.calls == [(series[0].name, 0)]
    picture = await service.picture(request.with_window(manual_window(0, 100)))
    assert picture.shape == (64, 64) and picture.dtype == np.uint8
    assert len(gated.calls) == 1


async def test_prefetched_pages_are_cache_hits(series):
    with ImagingService(workers=2) as service:
        requests = [FrameRequest(path, cols=40, rows=20) for path in series]
        await service.render(requests[0])
        service.prefetch(requests[1:])
        wait_for(lambda: service.stats.prefetched == len(series) - 1)
        for request in requests[1:]:
            assert service.cached(request) is not None
            await service.render(request)
        assert service.stats.misses == 1 and service.stats.hits == len(series) - 1


async def test_a_new_prefetch_cancels_what_has_not_started(service, series, monkeypatch):
    gated = GatedPrepare(monkeypatch)
    gated.hold()
    service.prefetch([FrameRequest(path) for path in series[:5]])
    gated.wait_started()  # the single worker is busy with the first
    service.prefetch([FrameRequest(series[-1])])
    assert service.stats.cancelled == 4
    gated.gate.set()
    wait_for(lambda: service.stats.prefetched == 2)
    assert gated.names() == [series[0].name, series[-1].name]


async def test_cancel_prefetch(service, series, monkeypatch):
    gated = GatedPrepare(monkeypatch)
    gated.hold()
    service.prefetch([FrameRequest(path) for path in series[:3]])
    gated.wait_started()
    service.cancel_prefetch()
    gated.gate.set()
    wait_for(lambda: service.stats.prefetched == 1)
    assert service.stats.cancelled == 2 and len(gated.calls) == 1


async def test_render_joins_a_prefetch_of_the_same_frame(service, series, monkeypatch):
    gated = GatedPrepare(monkeypatch)
    gated.hold()
    request = FrameRequest(series[0])
    service.prefetch([request])
    gated.wait_started()
    pending = asyncio.ensure_future(service.render(request))
    await asyncio.sleep(0)
    gated.gate.set()
    await pending
    assert (service.stats.joined, service.stats.misses) == (1, 0)
    assert len(gated.calls) == 1


async def test_render_jumps_the_prefetch_queue(service, series, monkeypatch):
    gated = GatedPrepare(monkeypatch)
    gated.hold()
    service.prefetch([FrameRequest(path) for path in series[:6]])
    gated.wait_started()
    pending = asyncio.ensure_future(service.render(FrameRequest(series[-1])))
    await asyncio.sleep(0.05)
    gated.gate.set()
    await pending
    assert gated.names()[:2] == [series[0].name, series[-1].name]


async def test_cancelling_the_awaiting_task_cancels_its_job(service, series, monkeypatch):
    gated = GatedPrepare(monkeypatch)
    gated.hold()
    service.prefetch([FrameRequest(series[0])])
    gated.wait_started()
    pending = asyncio.ensure_future(service.render(FrameRequest(series[1])))
    await asyncio.sleep(0.05)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    gated.gate.set()
    second = await service.render(FrameRequest(series[2]))
    assert second.info.sop_instance_uid.endswith(".3")
    assert series[1].name not in gated.names()


async def test_errors_reach_the_renderer_and_not_the_prefetcher(service, tmp_path, series):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"not dicom at all")
    service.prefetch([FrameRequest(broken), FrameRequest(series[0])])
    wait_for(lambda: service.stats.prefetched == 2)
    with pytest.raises(UnsupportedImage, match="not a DICOM file"):
        await service.render(FrameRequest(broken))
    with pytest.raises(UnsupportedImage, match="no such file"):
        await service.render(FrameRequest(tmp_path / "missing.dcm"))


async def test_frames_of_different_sizes_fit_the_same_box(service, tmp_path):
    wide = write_instance(tmp_path / "wide.dcm", make_dataset(instance=1, rows=32, columns=128))
    tall = write_instance(tmp_path / "tall.dcm", make_dataset(instance=2, rows=128, columns=32))
    request = FrameRequest(wide, cols=40, rows=20)
    wide_frame = await service.render(request)
    tall_frame = await service.render(request.at(tall))
    assert (wide_frame.renderable.width, wide_frame.renderable.height) == (40, 5)
    assert (tall_frame.renderable.width, tall_frame.renderable.height) == (10, 20)


async def test_a_replaced_file_is_read_again(service, tmp_path):
    path = write_instance(tmp_path / "x.dcm", make_dataset(rows=16, columns=16))
    before = await service.render(FrameRequest(path))
    ds = make_dataset(rows=32, columns=8)
    write_instance(path, ds)
    after = await service.render(FrameRequest(path))
    assert (before.info.rows, after.info.rows) == (16, 32)


async def test_datasets_render_too(service):
    ds = make_dataset(rows=20, columns=20)
    rendered = await service.render(FrameRequest(ds, cols=10, rows=10))
    assert rendered.renderable.width == 10
    assert FrameRequest(ds) == FrameRequest(make_dataset(rows=20, columns=20))  # same UID


def test_many_threads_at_once(series):
    with ImagingService(workers=2) as service:
        requests = [FrameRequest(path, cols=30, rows=15) for path in series] * 4
        results: list = [None] * len(requests)

        def render(number: int) -> None:
            results[number] = service.render_blocking(requests[number])

        threads = [threading.Thread(target=render, args=(n,)) for n in range(len(requests))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert all(result is not None for result in results)
        for request, result in zip(requests, results, strict=True):
            assert result.request == request
        assert service.stats.misses + service.stats.joined + service.stats.hits == len(requests)
        assert service.stats.misses >= len(series)  # each frame was made at least once


def test_closed_service_refuses_work(series):
    service = ImagingService(workers=1)
    service.close()
    service.close()
    with pytest.raises(RuntimeError, match="closed"):
        service.render_blocking(FrameRequest(series[0]))


async def test_a_cine_file_is_read_once_for_all_its_frames(service, monkeypatch):
    opened = []
    real_open = DicomImage.open.__func__

    def counting_open(cls, path):
        opened.append(path)
        return real_open(cls, path)

    monkeypatch.setattr(DicomImage, "open", classmethod(counting_open))
    request = FrameRequest(pydicom_file("examples_ybr_color.dcm"), cols=32, rows=12)
    frames = [await service.render(request.with_frame(n)) for n in range(30)]
    assert len(opened) == 1
    assert len({id(frame.renderable) for frame in frames}) == 30
    bigger = await service.render(request.with_frame(3).with_size(64, None))
    assert (bigger.renderable.width, bigger.renderable.height) == (64, 24)
