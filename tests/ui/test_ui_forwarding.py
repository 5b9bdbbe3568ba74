"""The forwarding queue in the app: Activity's ``w`` lists it per destination, ``r``
retries, ``c`` clears failed entries; the status line counts it while the node runs."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.dicom_factory import make_dataset
from tests.store.test_archive import encoded
from tests.ui.conftest import (
    TODAY,
    TWO_REMOTES,
    listening,
    make_app,
    opened_by,
    screen_text,
    settle,
    until,
)
from tui_pacs.config import ForwardingConfig, Modality, Settings, StorageConfig
from tui_pacs.store.archive import Archive
from tui_pacs.store.forward_queue import stamp
from tui_pacs.store.layout import INDEX_FILE
from tui_pacs.ui.dialogs.confirm import ConfirmDialog
from tui_pacs.ui.dialogs.forward_queue import ForwardQueueDialog


async def queue_up(data: Path, destinations: dict[str, int], study: int = 90) -> None:
    """Receive instances of ``study`` routed to each destination (so many each) and
    fail one attempt each: ``ct3``'s for good, the others' for a while."""
    archive = await Archive.open(data, StorageConfig(min_free_mb=0))
    try:
        number = 0
        for destination, count in destinations.items():
            for _ in range(count):
                number += 1
                await asyncio.to_thread(archive.store_received,
                                        encoded(make_dataset(study=study, instance=number)),
                                        "1.2.840.10008.1.2.1", "CT1", lambda r, d=destination: (d,))
            policy = ForwardingConfig(max_attempts=1 if destination == "ct3" else 10)
            reason = ("association rejected: called AE title not recognised"
                      if destination == "ct3" else "nothing accepts connections (refused)")
            await archive.forward_queue.unreachable(destination, reason, policy)
    finally:
        await archive.close()


def pin_times(data: Path) -> None:
    """Queued five minutes before the app's "now", tried a minute before, and the
    waiting ones due 40 s after: the same picture on every run."""
    def at(offset: timedelta) -> str:
        return stamp(TODAY.astimezone() + offset)

    with sqlite3.connect(data / INDEX_FILE) as conn:
        conn.execute("UPDATE forward_queue SET queued_at = ?, last_attempt = ?",
                     (at(timedelta(minutes=-5)), at(timedelta(minutes=-1))))
        conn.execute("UPDATE forward_queue SET next_attempt = ? WHERE state = 'pending'",
                     (at(timedelta(seconds=40)),))


@pytest.fixture
def queued(seeded) -> Settings:
    """The seeded archive with three instances waiting for pacs and two failed for ct3."""
    asyncio.run(queue_up(seeded.node.data, {"pacs": 3, "ct3": 2}))
    pin_times(seeded.node.data)
    return dataclasses.replace(seeded, modalities=TWO_REMOTES)


def entries(data: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{data / INDEX_FILE}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT destination, state, attempts, next_attempt FROM "
                            "forward_queue ORDER BY destination, id").fetchall()


async def open_queue(pilot) -> ForwardQueueDialog:
    """The forwarding queue, as Activity's w opens it."""
    return await opened_by(pilot, ForwardQueueDialog, "4", "w")


async def test_the_queue_per_destination_with_its_last_error(queued):
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_queue(pilot)
        assert [(s.destination, s.pending, s.failed) for s in dialog.summaries] == [
            ("ct3", 0, 2), ("pacs", 3, 0)]
        text = screen_text(app)
        assert "ct3  2 failed · oldest 09:25:00" in text
        assert "association rejected: called AE title not recognised" in text
        assert "pacs  3 waiting · oldest 09:25:00 · next try in 40 s" in text
        assert "r retries failed, c clears failed, escape closes" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ForwardQueueDialog)


async def test_r_retries_the_highlighted_destination_and_c_clears_its_failed(queued):
    data = queued.node.data
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_queue(pilot)
        await pilot.press("r")  # ct3, the first: its failed entries go back
        await settle(pilot)
        assert [row[:3] for row in entries(data) if row[0] == "ct3"] == [
            ("ct3", "pending", 0)] * 2
        await until(pilot, lambda: dialog.summaries[0].pending == 2)

        await pilot.press("down", "r")  # pacs: its waiting entries are due now
        await settle(pilot)
        assert [row[3] for row in entries(data) if row[0] == "pacs"] == [""] * 3
        await until(pilot, lambda: "pacs  3 waiting · oldest 09:25:00 · sending now"
                    in screen_text(app))

    # One more for ct3, which fails it and the two retried ones for good. Clearing
    # asks first, and only failed entries go.
    await queue_up(data, {"ct3": 1}, study=91)
    app = make_app(queued)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_queue(pilot)
        assert (dialog.summaries[0].failed, dialog.summaries[1].failed) == (3, 0)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert [row[:2] for row in entries(data)] == [("pacs", "pending")] * 3
        await until(pilot, lambda: [s.destination for s in dialog.summaries] == ["pacs"])


async def test_the_status_line_counts_the_queue_while_the_node_runs(queued):
    # The destinations are on loopback ports where nothing listens, and the
    # waiting entries are not due before the test ends.
    down = (Modality("pacs", "PACS", "127.0.0.1", free_port()),
            Modality("ct3", "CT3", "127.0.0.1", free_port()))
    app = make_app(listening(dataclasses.replace(queued, modalities=down)), listen=True)
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: "⇢ 3 · 2 failed" in screen_text(app))
