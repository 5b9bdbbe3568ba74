"""One log line per association and per operation, as text or JSON fields."""

from __future__ import annotations

import logging
from typing import Any

from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.core.status import category

log = logging.getLogger("tui_pacs.node")


def log_event(event: AssociationEvent | OperationEvent) -> None:
    if isinstance(event, AssociationEvent):
        _log_association(event)
    else:
        _log_operation(event)


def _who(event: AssociationEvent | OperationEvent) -> str:
    calling = event.calling_aet or "?"
    called = event.called_aet or "?"
    return f"{calling}@{event.peer or '?'} -> {called}"


def _log_association(event: AssociationEvent) -> None:
    text = f"association {event.kind:<8} {_who(event)}"
    if event.duration is not None:
        text += f"  after {_seconds(event.duration)}"
    if event.detail:
        text += f": {event.detail}"
    level = logging.WARNING if event.kind == "rejected" else logging.INFO
    log.log(level, text, extra={"fields": {
        "event": "association", "kind": event.kind, "peer": event.peer,
        "calling_aet": event.calling_aet, "called_aet": event.called_aet,
        "duration_s": _rounded(event.duration), "detail": event.detail,
    }})


def _log_operation(event: OperationEvent) -> None:
    kind = category(event.status)
    counts = " ".join(f"{name}={value}" for name, value in event.counts.items()
                      if name != "bytes")
    text = (f"{event.service:<7} {_who(event)}  0x{event.status:04X} {kind}"
            f"  {_seconds(event.duration)}")
    if counts:
        text += f"  {counts}"
    if event.detail:
        text += f"  {event.detail}"
    level = logging.WARNING if kind == "failure" else logging.INFO
    fields: dict[str, Any] = {
        "event": "operation", "service": event.service, "peer": event.peer,
        "calling_aet": event.calling_aet, "called_aet": event.called_aet,
        "status": f"0x{event.status:04X}", "status_category": kind,
        "duration_s": _rounded(event.duration), "counts": event.counts,
        "detail": event.detail,
    }
    log.log(level, text, extra={"fields": fields})


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
