"""Large C-FIND answers stream: the node's first responses leave before the
index has been read past them, a C-CANCEL stops the rest, and an answer
longer than the network timeout is not cut. The index is held at a row by
the test (not timed), so none depends on the machine's speed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

from tests.index_factory import make_index
from tests.server.node_fixtures import associate, query, settings_for, started
from tui_pacs.config import LimitsConfig
from tui_pacs.net.server.find_scp import RESPONSES_PER_WRITE
from tui_pacs.store.index import Index

STUDIES = 2000
# Rows the index hands out before the test holds it: several writes' worth.
HELD_AT = 5 * RESPONSES_PER_WRITE


class HeldIndex:
    """The node's index, its rows held after the first ``HELD_AT`` of a
    query: until :attr:`let_go` is set, or for ``pause`` seconds."""

    def __init__(self, index: Index, pause: float | None) -> None:
        self._stream = index.stream
        self._pause = pause
        self.let_go = threading.Event()
        self.rows_read = 0

    def stream(self, *args: Any) -> Iterator[tuple[Any, ...]]:
        with closing(self._stream(*args)) as rows:
            for row in rows:
                if self.rows_read == HELD_AT:
                    if self._pause is None:
                        assert self.let_go.wait(30), "the test never let the index go"
                    else:
                        self.let_go.wait(self._pause)
                self.rows_read += 1
                yield row


async def node_with_held_index(tmp_path, monkeypatch, studies, pause=None, **changes):
    make_index(tmp_path / "data", studies)
    node = await started(settings_for(tmp_path / "data", **changes))
    held = HeldIndex(node.archive.index, pause)
    monkeypatch.setattr(node.archive.index, "stream", held.stream)
    return node, held


def find_all(node, on_first=None) -> tuple[int, int, bool]:
    """C-FIND for every study: (pending responses, final status, released
    cleanly); ``on_first()`` runs when the first pending response arrives."""
    assoc = associate(node, [FIND])
    pending, final = 0, None
    for status, _ in assoc.send_c_find(query("STUDY", StudyInstanceUID=""), FIND):
        if status.Status == 0xFF00:
            pending += 1
            if pending == 1 and on_first is not None:
                on_first()
        else:
            final = status.Status
    assoc.release()
    return pending, final, assoc.is_released and not assoc.is_aborted


async def test_the_first_responses_leave_before_the_index_is_read_whole(tmp_path, monkeypatch):
    node, held = await node_with_held_index(tmp_path, monkeypatch, STUDIES)
    read_at_first_response = []

    def first_response_came():
        read_at_first_response.append(held.rows_read)
        held.let_go.set()

    try:
        pending, final, _ = await asyncio.to_thread(find_all, node, first_response_came)
    finally:
        await node.stop()
    assert (pending, final) == (STUDIES, 0x0000)
    # The index was held after HELD_AT rows of 2,000 until the first response came.
    assert read_at_first_response[0] <= HELD_AT


async def test_a_c_cancel_stops_the_answer(tmp_path, monkeypatch):
    studies = 10 * STUDIES
    node, held = await node_with_held_index(tmp_path, monkeypatch, studies)

    def find_then_cancel():
        assoc = associate(node, [FIND])
        pending, final = 0, None
        for status, _ in assoc.send_c_find(query("STUDY", StudyInstanceUID=""), FIND,
                                           msg_id=7):
            if status.Status == 0xFF00:
                pending += 1
                if pending == 1:
                    # The index is held until the C-CANCEL is on its way.
                    assoc.send_c_cancel(7, query_model=FIND)
                    held.let_go.set()
            else:
                final = status.Status
        assoc.release()
        return pending, final

    try:
        pending, final = await asyncio.to_thread(find_then_cancel)
    finally:
        await node.stop()
    assert final == 0xFE00
    assert 1 <= pending < studies


async def test_an_answer_longer_than_the_network_timeout_is_not_cut(tmp_path, monkeypatch):
    """The requester is silent while it is answered; the timeout counts from
    the end of the answer (it was cut after its final response)."""
    timeout = 0.5
    # The answer takes longer than the timeout: the index is held for three,
    # a few rows before its end (what is left is answered at once).
    studies = HELD_AT + 5
    node, _ = await node_with_held_index(tmp_path, monkeypatch, studies, pause=3 * timeout,
                                         limits=LimitsConfig(network_timeout=timeout))
    try:
        pending, final, released = await asyncio.to_thread(find_all, node)
    finally:
        await node.stop()
    assert (pending, final) == (studies, 0x0000)
    assert released, "the node aborted the association after its answer"
