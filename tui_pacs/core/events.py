"""What happens on the node, as plain values for logs, the UI and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tui_pacs.core.model import InstanceRecord


@dataclass(frozen=True)
class AssociationEvent:
    """An association was accepted, rejected, released or aborted."""

    time: datetime
    peer: str
    calling_aet: str
    called_aet: str
    # "accepted", "rejected", "released", "aborted"
    kind: str
    detail: str = ""
    duration: float | None = None
    # Which association (see AssociationStats.number); 0 when there was none.
    association: int = 0


@dataclass(frozen=True)
class OperationEvent:
    """One DIMSE operation finished (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET)."""

    time: datetime
    peer: str
    calling_aet: str
    called_aet: str
    service: str
    status: int
    duration: float
    # What the operation counted: matches, completed, failed, warning, bytes...
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    # The association it ran on: what groups operations, not the peer's address
    # and AE title, which two associations may share.
    association: int = 0


@dataclass(frozen=True)
class InstanceStored:
    """An instance was committed to the archive (received, retrieved or imported)."""

    time: datetime
    record: InstanceRecord
    # True when it replaced an archived copy (storage.overwrite_duplicates).
    replaced: bool = False


NodeEvent = AssociationEvent | OperationEvent | InstanceStored
