"""Receiving C-STORE requests into the archive.

Used wherever instances arrive: the node's C-STORE SCP, the sub-operations
of a C-GET we request, and the listener of a C-MOVE to ourselves. The
dataset is written exactly as it came over the wire, never decoded and
re-encoded; success goes back only after the archive has committed it.
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any, Protocol

from pydicom.dataset import Dataset

from tui_pacs.core import status
from tui_pacs.store.archive import Archive, StoreFailure, StoreResult

log = logging.getLogger(__name__)


class StoreEvent(Protocol):
    """What :func:`store_event` reads of an EVT_C_STORE (``pynetdicom.evt.Event``)."""

    @property
    def assoc(self) -> Any: ...
    @property
    def request(self) -> Any: ...
    @property
    def context(self) -> Any: ...


def store_event(event: StoreEvent, archive: Archive) -> tuple[int | Dataset, StoreResult | None]:
    """Store the dataset of an EVT_C_STORE; return (status for the peer, result or None)."""
    calling = event.assoc.requestor.ae_title.strip()
    data_set: BytesIO | None = getattr(event.request, "DataSet", None)
    if data_set is None:
        return failure(status.CANNOT_UNDERSTAND, "no dataset in the request"), None
    raw = data_set.getbuffer()
    try:
        return store_dataset(archive, raw, event.context.transfer_syntax, calling)
    finally:
        del raw


def store_dataset(archive: Archive, dataset: bytes | memoryview,
                  transfer_syntax: str, source_aet: str
                  ) -> tuple[int | Dataset, StoreResult | None]:
    """Store an encoded dataset sent by ``source_aet``; return (status for the
    peer, result or None), as :func:`store_event`."""
    try:
        result = archive.store_received(dataset, transfer_syntax, source_aet)
    except StoreFailure as exc:
        if exc.out_of_space or exc.too_large:
            code = status.OUT_OF_RESOURCES
        elif exc.invalid:
            code = status.CANNOT_UNDERSTAND
        else:
            code = status.PROCESSING_FAILURE
        log.warning("C-STORE from %s refused (0x%04X): %s", source_aet, code, exc)
        return failure(code, str(exc)), None
    return status.SUCCESS, result


def failure(code: int, comment: str) -> Dataset:
    """A status dataset that tells the peer why (Error Comment is at most 64 chars)."""
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds
