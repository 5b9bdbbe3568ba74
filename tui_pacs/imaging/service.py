"""Frames rendered off the event loop, cached, and prefetched: the imaging engine for the UI.

Decoding a frame takes milliseconds to tens of milliseconds; a UI paging
through a 300-slice series must never wait for it. ``ImagingService`` runs the
pipeline in its own worker threads, keeps what it made, and works ahead::

    service = ImagingService()
    request = FrameRequest(path, frame=0, cols=80, rows=40)
    rendered = await service.render(request)      # RenderedFrame, from a worker thread
    widget.update(rendered.renderable)            # a rich renderable (half blocks)
    service.prefetch([request.at(next_path), request.at(previous_path)])

    state = rendered.windows                      # WindowState: file windows, presets, auto
    brighter = state.adjusted(center_step=-20)    # a manual window, as a plain value
    await service.render(request.with_window(brighter.current))  # no decoding: cached

What is kept, and why:

* opened images (``DicomImage``: a file's header, and where its pixel data
  is): a multi-frame file's header is parsed once for all its frames, and each
  frame is read from the file, alone, when it is asked for;
* prepared frames (decoded, Modality LUT applied), bounded in bytes: changing
  the window re-runs only the VOI step. Opened images hold no pixels, so a
  2 GB multi-frame costs this budget and the frames in progress, not 2 GB;
* rendered frames, keyed by the whole request (source, frame, window, cells):
  paging back and forth is a dictionary lookup.

Files are keyed by path, modification time and size, so a file replaced in
the archive is read again; datasets by SOPInstanceUID (or identity when they
have none) and must not change while the service holds them.

Prefetch is best effort. ``prefetch(requests)`` replaces the previous
prefetch: queued work that has not started is cancelled, work in progress
finishes into the cache. ``render`` always goes first: it jumps the queue, and
joins a prefetch of the same request instead of starting another. Cancelling
the task awaiting ``render`` (a Textual ``exclusive`` worker being replaced)
cancels its job if it has not started. Errors (``UnsupportedImage``) reach
whoever awaits ``render``; failed prefetches are dropped.

Thread safety: every public method may be called from any thread; the async
ones from the event loop. Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import PriorityQueue

import numpy as np
from pydicom.dataset import Dataset

from tui_pacs.imaging.cache import LruCache
from tui_pacs.imaging.geometry import DEFAULT_CELL, CellShape
from tui_pacs.imaging.halfblock import HalfBlockImage
from tui_pacs.imaging.pipeline import PreparedFrame, halfblock, picture, prepare
from tui_pacs.imaging.source import DicomImage, ImageInfo
from tui_pacs.imaging.window import WindowChoice, WindowState

ImageSource = Path | Dataset

DEFAULT_WORKERS = 2
# Enough for the window around the current slice of a 512x512 series (1 MB of
# float32 values per slice) and for paging back over it; more costs memory
# in a process that sysadmins keep open for days.
DEFAULT_PREPARED_BYTES = 64 << 20
DEFAULT_RENDERED_FRAMES = 64
_OPEN_IMAGES = 8
_RENDER_PRIORITY = 0


@dataclass(frozen=True)
class FrameRequest:
    """What to render: a file or dataset, a frame (0-based), a window and the cells to fill.

    ``window=None`` shows the frame's default: the file's first window or VOI
    LUT, else the automatic one. ``rows=None`` lets the height follow the width.
    """

    source: ImageSource = field(compare=False, hash=False, repr=False)
    frame: int = 0
    cols: int = 80
    rows: int | None = 24
    window: WindowChoice | None = None
    cell: CellShape = DEFAULT_CELL
    source_key: Hashable = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_key", _source_key(self.source))

    def at(self, source: ImageSource, frame: int = 0) -> FrameRequest:
        """The same view of another image (the next slice of a series)."""
        return replace(self, source=source, frame=frame)

    def with_frame(self, frame: int) -> FrameRequest:
        return replace(self, frame=frame)

    def with_window(self, window: WindowChoice | None) -> FrameRequest:
        return replace(self, window=window)

    def with_size(self, cols: int, rows: int | None) -> FrameRequest:
        return replace(self, cols=cols, rows=rows)


@dataclass(frozen=True)
class RenderedFrame:
    """A frame ready to draw, with what a viewer shows around it."""

    request: FrameRequest
    renderable: HalfBlockImage
    windows: WindowState
    info: ImageInfo
    pixel_aspect: float


@dataclass
class CacheStats:
    """Counters since the service started (read them for status lines and benchmarks)."""

    hits: int = 0        # render answered from the rendered-frame cache
    joined: int = 0      # render joined a prefetch already queued or running
    misses: int = 0      # render had to start the work itself
    prefetched: int = 0  # prefetch jobs completed
    cancelled: int = 0   # prefetch jobs dropped before they started


class _Job:
    __slots__ = ("request", "future", "prefetch", "started")

    def __init__(self, request: FrameRequest, prefetch: bool) -> None:
        self.request = request
        self.future: Future[RenderedFrame] = Future()
        self.prefetch = prefetch
        self.started = False


class ImagingService:
    """Renders ``FrameRequest``s in worker threads, with caches and prefetch."""

    def __init__(self, workers: int = DEFAULT_WORKERS,
                 prepared_bytes: int = DEFAULT_PREPARED_BYTES,
                 rendered_frames: int = DEFAULT_RENDERED_FRAMES) -> None:
        self.stats = CacheStats()
        self._images: LruCache[DicomImage] = LruCache(_OPEN_IMAGES)
        self._prepared: LruCache[PreparedFrame] = LruCache(prepared_bytes,
                                                           lambda frame: frame.nbytes)
        self._rendered: LruCache[RenderedFrame] = LruCache(rendered_frames)
        self._lock = threading.Lock()
        self._inflight: dict[FrameRequest, _Job] = {}
        self._queue: PriorityQueue[tuple[int, int, _Job | None]] = PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"imaging-{n}", daemon=True)
                         for n in range(workers)]
        for thread in self._threads:
            thread.start()

    # --- rendering --------------------------------------------------------------

    async def render(self, request: FrameRequest) -> RenderedFrame:
        """The rendered frame, from the cache or a worker thread; raises UnsupportedImage."""
        cached = self._cached(request)
        if cached is not None:
            return cached
        return await asyncio.wrap_future(self._submit_render(request))

    def render_blocking(self, request: FrameRequest) -> RenderedFrame:
        """``render`` for threads (a Textual thread worker): waits for the result."""
        cached = self._cached(request)
        if cached is not None:
            return cached
        return self._submit_render(request).result()

    def cached(self, request: FrameRequest) -> RenderedFrame | None:
        """The rendered frame if it is ready now, else None; never waits."""
        return self._rendered.get(request)

    async def picture(self, request: FrameRequest) -> np.ndarray:
        """The full-size windowed picture (uint8 L or RGB), e.g. for a graphics widget."""
        return await asyncio.to_thread(self._picture, request)

    def prefetch(self, requests: Iterable[FrameRequest]) -> None:
        """Work ahead on ``requests``, nearest first; replaces the previous prefetch."""
        with self._lock:
            self._cancel_prefetch_locked()
            for position, request in enumerate(requests, start=1):
                if self._live_job_locked(request) or request in self._rendered:
                    continue
                self._enqueue_locked(_Job(request, prefetch=True), _RENDER_PRIORITY + position)

    def cancel_prefetch(self) -> None:
        with self._lock:
            self._cancel_prefetch_locked()

    def close(self) -> None:
        """Stop the workers; queued jobs are cancelled. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for job in self._inflight.values():
                job.future.cancel()
            self._inflight.clear()
        for _ in self._threads:
            self._queue.put((-1, next(self._order), None))
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> ImagingService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- scheduling -------------------------------------------------------------

    def _cached(self, request: FrameRequest) -> RenderedFrame | None:
        rendered = self._rendered.get(request)
        if rendered is not None:
            with self._lock:
                self.stats.hits += 1
        return rendered

    def _submit_render(self, request: FrameRequest) -> Future[RenderedFrame]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the imaging service is closed")
            job = self._live_job_locked(request)
            if job is not None:
                self.stats.joined += 1
                if job.prefetch and not job.started:
                    # Queued again at render priority; the worker runs it once.
                    self._queue.put((_RENDER_PRIORITY, next(self._order), job))
                job.prefetch = False  # claimed: the next prefetch must not cancel it
                return job.future
            self.stats.misses += 1
            job = _Job(request, prefetch=False)
            self._enqueue_locked(job, _RENDER_PRIORITY)
            return job.future

    def _live_job_locked(self, request: FrameRequest) -> _Job | None:
        job = self._inflight.get(request)
        return job if job is not None and not job.future.cancelled() else None

    def _enqueue_locked(self, job: _Job, priority: int) -> None:
        self._inflight[job.request] = job
        self._queue.put((priority, next(self._order), job))

    def _cancel_prefetch_locked(self) -> None:
        for request, job in list(self._inflight.items()):
            if job.prefetch and not job.started and job.future.cancel():
                del self._inflight[request]
                self.stats.cancelled += 1

    def _work(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.started or job.future.cancelled():
                    continue
                job.started = True
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                result = self._produce(job.request)
            except BaseException as exc:  # handed to whoever awaits the job
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finally:
                with self._lock:
                    if self._inflight.get(job.request) is job:
                        del self._inflight[job.request]
                    if job.prefetch:
                        self.stats.prefetched += 1

    # --- the work itself (worker threads) ---------------------------------------

    def _produce(self, request: FrameRequest) -> RenderedFrame:
        prepared = self._prepare(request)
        windows = prepared.windows
        if request.window is not None and windows.applies:
            windows = windows.select(request.window)
        pixels = picture(prepared, windows.current)
        aspect = prepared.attributes.pixel_aspect
        rendered = RenderedFrame(
            request=request,
            renderable=halfblock(pixels, aspect, request.cols, request.rows, request.cell),
            windows=windows,
            info=prepared.info,
            pixel_aspect=aspect,
        )
        self._rendered.put(request, rendered)
        return rendered

    def _picture(self, request: FrameRequest) -> np.ndarray:
        prepared = self._prepare(request)
        return picture(prepared, request.window if prepared.windows.applies else None)

    def _prepare(self, request: FrameRequest) -> PreparedFrame:
        key = (request.source_key, request.frame)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = prepare(self._image(request), request.frame)
            self._prepared.put(key, prepared)
        return prepared

    def _image(self, request: FrameRequest) -> DicomImage:
        image = self._images.get(request.source_key)
        if image is None:
            source = request.source
            if isinstance(source, Dataset):
                image = DicomImage(source, str(source.get("SOPInstanceUID", "dataset")))
            else:
                image = DicomImage.open(source)
            self._images.put(request.source_key, image)
        return image


def _source_key(source: ImageSource) -> Hashable:
    if isinstance(source, Dataset):
        uid = source.get("SOPInstanceUID")
        return ("dataset", str(uid)) if uid else ("dataset-object", id(source))
    path = Path(source)
    try:
        stat = path.stat()
    except OSError:
        return ("path", str(path.absolute()), None, None)
    return ("path", str(path.resolve()), stat.st_mtime_ns, stat.st_size)
