"""Receiving C-STORE requests into the archive.

Used wherever instances arrive: the node's C-STORE SCP, the sub-operations
of a C-GET we request, and the listener of a C-MOVE to ourselves. The
dataset is written to the archive's staging directory as its fragments
arrive (:func:`open_dataset`, :mod:`tui_pacs.store.incoming`), exactly as it
came over the wire, never decoded and re-encoded; success goes back only
after the archive has committed it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from io import BytesIO
from typing import Any, Protocol

from pydicom.dataset import Dataset

from tui_pacs.core import status
from tui_pacs.net.wire import commands
from tui_pacs.net.wire.commands import Command
from tui_pacs.net.wire.messages import DatasetSink, Discarded
from tui_pacs.store.archive import Router, StoreFailure, StoreResult
from tui_pacs.store.incoming import IncomingFile

log = logging.getLogger(__name__)

# (status for the peer: a code, or a dataset with the code and an Error
# Comment; what the archive did, or None when nothing was stored)
StoreOutcome = tuple[int | Dataset, StoreResult | None]


class ReceivingArchive(Protocol):
    """Where received datasets go (:class:`~tui_pacs.store.archive.Archive`, or
    its stand-in in an ingest worker process)."""

    def receive(self, sop_class: str, sop_instance: str, transfer_syntax: str,
                source_aet: str) -> IncomingFile: ...

    def store_incoming(self, incoming: IncomingFile, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult: ...

    def store_received(self, dataset: bytes | memoryview, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult: ...


def open_dataset(archive: ReceivingArchive, command: Command, transfer_syntax: str | None,
                 calling_aet: str, allowed: bool) -> DatasetSink | None:
    """Where the dataset of a message goes as it arrives: for a C-STORE request
    on an accepted context, a file of the archive's (:meth:`Archive.receive`),
    or nowhere when the request will be refused; None (memory) for others."""
    if command.field != commands.C_STORE_RQ or transfer_syntax is None:
        return None
    if not allowed:
        return Discarded()
    return archive.receive(command.text(commands.AFFECTED_SOP_CLASS),
                           command.text(commands.AFFECTED_SOP_INSTANCE), transfer_syntax,
                           calling_aet)


def dataset_of(request: Any) -> DatasetSink | None:
    """The dataset a C-STORE request brought, wherever it was written."""
    received: DatasetSink | None = getattr(request, "received_file", None)
    return received if received is not None else getattr(request, "DataSet", None)


def store_dataset(archive: ReceivingArchive, dataset: DatasetSink | None, transfer_syntax: str,
                  source_aet: str, route: Router | None = None) -> StoreOutcome:
    """Store a received dataset (an incoming file, or bytes in memory) sent by
    ``source_aet``; return (status for the peer, result or None). ``route``
    names where to forward it (see :meth:`Archive.store_received`)."""
    try:
        if isinstance(dataset, IncomingFile):
            result = archive.store_incoming(dataset, transfer_syntax, source_aet, route)
        elif isinstance(dataset, BytesIO) and not isinstance(dataset, Discarded):
            with dataset.getbuffer() as data:
                result = archive.store_received(data, transfer_syntax, source_aet, route)
        else:
            return failure(status.CANNOT_UNDERSTAND, "no dataset in the request"), None
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


def dataset_size(dataset: DatasetSink | None) -> int:
    """How many bytes a received dataset has (or had, when it was dropped)."""
    if isinstance(dataset, (IncomingFile, Discarded)):
        return dataset.size
    if isinstance(dataset, BytesIO):
        return dataset.getbuffer().nbytes
    return 0


def drop(dataset: DatasetSink | None) -> None:
    """Remove a received dataset that will not be stored."""
    if isinstance(dataset, IncomingFile):
        dataset.discard()


def answer(send: Callable[[bytes], None], request: Any, outcome: int | Dataset) -> None:
    """Send the C-STORE response for ``request`` with ``send`` (the peer may be gone)."""
    if isinstance(outcome, Dataset):
        code, comment = int(outcome.Status), str(outcome.get("ErrorComment") or "")
    else:
        code, comment = outcome, ""
    command = commands.response(commands.C_STORE_RSP, request.AffectedSOPClassUID,
                                request.MessageID, code,
                                sop_instance=request.AffectedSOPInstanceUID, comment=comment)
    try:
        send(command)
    except (ConnectionError, OSError):
        pass  # the peer went away; what was stored stays stored


def failure(code: int, comment: str) -> Dataset:
    """A status dataset that tells the peer why (Error Comment is at most 64 chars)."""
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds
