"""What every service handler shares: settings, policy, archive, and a way to
report what happened.

Handlers run in pynetdicom's association threads. They read the settings
once per operation (the node may swap them at any time, see
:meth:`ServerContext.update`) and report each finished operation as an
:class:`~tui_pacs.core.events.OperationEvent`, which the node turns into a log
line, status counters and UI updates on the event loop.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tui_pacs.config import Modality, Settings
from tui_pacs.core.events import NodeEvent, OperationEvent
from tui_pacs.core.status import category
from tui_pacs.core.target import Target
from tui_pacs.net.bridge import LoopBridge
from tui_pacs.net.client.association import Session
from tui_pacs.net.server.policy import AccessPolicy
from tui_pacs.net.storage import ReceivingArchive
from tui_pacs.store.index import Index, StoredFile


class ServedArchive(ReceivingArchive, Protocol):
    """What the node's services use of the archive: an
    :class:`~tui_pacs.store.archive.Archive`, or in an ingest worker process its
    stand-in (:mod:`tui_pacs.services.ingest_worker`)."""

    data_dir: Path
    index: Index

    def path_of(self, stored: StoredFile | str) -> Path: ...


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of an association."""

    address: str
    calling_aet: str
    called_aet: str

    @classmethod
    def of(cls, assoc: Any) -> Peer:
        requestor = assoc.requestor
        primitive = getattr(requestor, "primitive", None)
        called = getattr(primitive, "called_ae_title", None) or assoc.acceptor.ae_title
        return cls(
            address=str(requestor.address or ""),
            calling_aet=str(getattr(primitive, "calling_ae_title", None)
                            or requestor.ae_title or "").strip(),
            called_aet=str(called or "").strip(),
        )


@dataclass
class AssociationStats:
    """What one association did, for its closing log line."""

    # Which association, for the events to say which one they concern.
    number: int
    started: float = field(default_factory=time.monotonic)
    accepted: bool = False
    # Its closing event (released, aborted, rejected) has been sent.
    reported: bool = False
    operations: int = 0
    stored: int = 0
    bytes_received: int = 0
    failed: int = 0


class ServerContext:
    """``numbers`` gives each association its number (an ingest worker process
    takes every Nth, so that numbers stay unique across the node);
    ``active_elsewhere`` says how many associations the node's other
    processes serve (for limits.max_associations)."""

    def __init__(self, settings: Settings, archive: ServedArchive, bridge: LoopBridge,
                 on_event: Any, numbers: Iterator[int] | None = None,
                 active_elsewhere: Callable[[], int] = lambda: 0) -> None:
        self.settings = settings
        self.policy = AccessPolicy(settings)
        self.archive = archive
        self.bridge = bridge
        self._on_event = on_event
        self._numbers = numbers if numbers is not None else itertools.count(1)
        self.active_elsewhere = active_elsewhere
        # Set when the node stops: long operations end between sub-operations.
        self.stopping = threading.Event()
        self._stats: weakref.WeakKeyDictionary[Any, AssociationStats] = (
            weakref.WeakKeyDictionary())
        self._stats_lock = threading.Lock()

    def update(self, settings: Settings) -> None:
        """Use new settings from the next operation or association on."""
        self.settings = settings
        self.policy = AccessPolicy(settings)

    def emit(self, event: NodeEvent) -> None:
        self.bridge.post(self._on_event, event)

    def stats(self, assoc: Any) -> AssociationStats:
        with self._stats_lock:
            stats = self._stats.get(assoc)
            if stats is None:
                stats = self._stats[assoc] = AssociationStats(next(self._numbers))
            return stats

    def operation(self, assoc: Any, service: str) -> Operation:
        """Start timing one DIMSE operation on ``assoc``."""
        return Operation(self, assoc, service)

    def session_with(self, modality: Modality) -> Session:
        """How this node calls a configured modality (a move destination, a
        storage commitment requester): as itself, with its limits and TLS
        settings (the same rules as ``tui-pacs send``)."""
        settings = self.settings
        target = Target(modality.aet, modality.host, modality.port, modality.name,
                        modality.tls)
        return Session(target, settings.node.aet, settings.limits, tls=settings.tls)


class Operation:
    """One DIMSE operation in progress; :meth:`finish` reports it."""

    def __init__(self, context: ServerContext, assoc: Any, service: str) -> None:
        self.context = context
        self.assoc = assoc
        self.service = service
        self.peer = Peer.of(assoc)
        self._started = time.monotonic()

    def finish(self, status: int, counts: dict[str, int] | None = None,
               detail: str = "") -> None:
        stats = self.context.stats(self.assoc)
        stats.operations += 1
        if category(status) == "failure":
            stats.failed += 1
        self.context.emit(OperationEvent(
            time=datetime.now(),
            peer=self.peer.address,
            calling_aet=self.peer.calling_aet,
            called_aet=self.peer.called_aet,
            service=self.service,
            status=status,
            duration=time.monotonic() - self._started,
            counts=dict(counts or {}),
            detail=detail,
            association=stats.number,
        ))
