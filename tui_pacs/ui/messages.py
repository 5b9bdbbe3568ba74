"""Messages the app posts to itself from other threads and contexts.

The archive and the node call their listeners on the event loop but outside
the app's context (their tasks start in pynetdicom threads), where Textual's
timers and notifications do not work; a message brings the news in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.message import Message

from tui_pacs.core.events import AssociationEvent, OperationEvent


@dataclass
class LogArrived(Message):
    """A log record, from any thread (pynetdicom logs from association threads)."""

    created: datetime
    level: int
    logger: str
    text: str
    # The association whose thread logged it (core.association_threads), or 0.
    association: int = 0


class InstanceStored(Message):
    """The archive committed an instance (received, retrieved or imported)."""


@dataclass
class NodeEventArrived(Message):
    """An association or operation event of the node."""

    event: AssociationEvent | OperationEvent


@dataclass
class TransferProgressed(Message):
    """A retrieve or send the app started moved on (from a client thread)."""

    number: int
    done: int
    total: int | None
    failed: int
