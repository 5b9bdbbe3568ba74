"""What the node did, as rows for the activity screen, and notices worth a popup.

Association and operation events, the node's log messages, the app's own
transfers and every notification shown all become rows of one list (the
newest kept, the oldest dropped): a notification is gone from the screen
after a few seconds, its row keeps the whole text.

The instances an association stores share one row, counted up in place, and
the node's own log lines (one per operation) are not repeated here: a study
of 2,700 instances takes a few rows, not 5,400, and does not push older
history out of the list.
A notice is raised when a transfer ends: a peer that stored instances here
released (or aborted) its association, a retrieve we served finished or failed.
Nothing here imports Textual.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.core.status import category
from tui_pacs.ui.rows import ListSource, Row
from tui_pacs.ui.status import byte_size, duration, plural

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

KEEP_ROWS = 20_000

# The node's log of associations and operations: the same events as the rows
# made from them, so its records are left to the log file.
NODE_LOGGER = "tui_pacs.node"

# What the activity screen's kind filter cycles through.
KINDS = ("all", "network", "log", "notice", "problems")


@dataclass(frozen=True)
class Notice:
    message: str
    severity: SeverityLevel = "information"  # or "warning", "error"
    title: str = ""


@dataclass
class _Received:
    instances: int = 0
    failed: int = 0
    bytes: int = 0


class ActivityLog:
    def __init__(self, limit: int = KEEP_ROWS) -> None:
        self.rows = ListSource(limit=limit)
        self._receiving: dict[tuple[str, str], _Received] = {}
        # The C-STORE row of each association storing here, counted up in place.
        self._storing: dict[tuple[str, str], Row] = {}
        self._numbers = itertools.count(1)

    def _append(self, row: Row) -> None:
        row["Seq"] = next(self._numbers)
        self.rows.append(row)

    # --- node events ----------------------------------------------------------

    def add_event(self, event: AssociationEvent | OperationEvent) -> Notice | None:
        if isinstance(event, AssociationEvent):
            self._append(_association_row(event))
            return self._association_ended(event)
        if isinstance(event, OperationEvent):
            if not self._fold_store(event):
                self._append(_operation_row(event))
            return self._operation_done(event)
        return None

    def _fold_store(self, event: OperationEvent) -> bool:
        """Count a stored instance into its association's C-STORE row; False for an
        operation that gets a row of its own (anything else, or a failed store)."""
        if event.service != "C-STORE" or category(event.status) == "failure":
            return False
        key = (event.peer, event.calling_aet)
        row = self._storing.get(key)
        if row is None:
            row = _operation_row(event)
            row.update(_instances=0, _bytes=0, _seconds=0.0)
            self._storing[key] = row
            self._append(row)
        row["_instances"] += 1
        row["_bytes"] += event.counts.get("bytes", 0)
        row["_seconds"] += event.duration
        row["Time"] = event.time
        row["Detail"] = f"latest {event.detail}" if event.detail else ""
        row["Counts"] = ", ".join(filter(None, [plural(row["_instances"], "instance"),
                                                byte_size(row["_bytes"]) if row["_bytes"]
                                                else ""]))
        row["Duration"] = duration(row["_seconds"])
        if category(event.status) == "warning":
            row["Status"], row["Severity"] = status_text(event.status), "warning"
        self.rows.touch()
        return True

    def _association_ended(self, event: AssociationEvent) -> Notice | None:
        if event.kind not in ("released", "aborted"):
            return None
        self._storing.pop((event.peer, event.calling_aet), None)
        received = self._receiving.pop((event.peer, event.calling_aet), None)
        if received is None or not (received.instances or received.failed):
            return None
        who = f"{event.calling_aet or '?'} ({event.peer})"
        message = f"Received {plural(received.instances, 'instance')} from {who}"
        if received.bytes:
            message += f", {byte_size(received.bytes)}"
        if received.failed:
            message += f"; {received.failed} refused"
        if event.kind == "aborted":
            return Notice(message + "; the association was aborted", "warning",
                          "Transfer aborted")
        return Notice(message + ".", "warning" if received.failed else "information",
                      "Transfer received")

    def _operation_done(self, event: OperationEvent) -> Notice | None:
        kind = category(event.status)
        if event.service == "C-STORE":
            received = self._receiving.setdefault((event.peer, event.calling_aet),
                                                  _Received())
            if kind == "failure":
                received.failed += 1
            else:
                received.instances += event.counts.get("instances", 0)
                received.bytes += event.counts.get("bytes", 0)
            return None
        if event.service not in ("C-MOVE", "C-GET"):
            return None
        sent = event.counts.get("completed", 0)
        failed = event.counts.get("failed", 0)
        who = event.calling_aet or event.peer
        if kind == "failure":
            detail = f": {event.detail}" if event.detail else ""
            return Notice(f"{event.service} for {who} failed (0x{event.status:04X}){detail}",
                          "error", "Transfer failed")
        message = f"{event.service} for {who}: sent {plural(sent, 'instance')}"
        if failed:
            message += f", {failed} failed"
        if kind == "cancel":
            return Notice(message + "; cancelled.", "warning", "Transfer cancelled")
        if kind != "success":
            return Notice(message + ".", "warning", "Transfer partial")
        return Notice(message + ".", "information", "Transfer done")

    # --- log messages and the app's own transfers ------------------------------

    def add_log(self, time: datetime, level: int, logger: str, message: str) -> None:
        if logger == NODE_LOGGER:
            return
        severity = ("error" if level >= logging.ERROR else
                    "warning" if level >= logging.WARNING else "muted")
        self._append({"Time": time, "Kind": "log", "Service": logging.getLevelName(level),
                          "Peer": "", "AETs": logger, "Counts": "", "Status": "",
                          "Duration": "", "Detail": message, "Severity": severity})

    def add_notice(self, time: datetime, title: str, message: str, severity: str) -> None:
        """A notification as it was shown, to be read again later."""
        row_severity = {"information": "muted"}.get(severity, severity)
        self._append({"Time": time, "Kind": "notice", "Service": "notice", "Peer": "",
                      "AETs": title, "Counts": "", "Status": "", "Duration": "",
                      "Detail": message, "Severity": row_severity})

    def add_transfer(self, time: datetime, service: str, target: str, counts: str,
                     status: str, seconds: float | None, detail: str, severity: str) -> None:
        """A retrieve or a send the app started (the node's events cover the rest)."""
        self._append({"Time": time, "Kind": "network", "Service": service, "Peer": "",
                          "AETs": target, "Counts": counts, "Status": status,
                          "Duration": duration(seconds), "Detail": detail,
                          "Severity": severity})


def _aets(event: AssociationEvent | OperationEvent) -> str:
    return f"{event.calling_aet or '?'}→{event.called_aet or '?'}"


def _association_row(event: AssociationEvent) -> Row:
    severity = {"rejected": "error", "aborted": "warning"}.get(event.kind, "muted")
    return {"Time": event.time, "Kind": "network", "Service": "assoc", "Peer": event.peer,
            "AETs": _aets(event), "Counts": "", "Status": event.kind,
            "Duration": duration(event.duration), "Detail": event.detail,
            "Severity": severity}


def _operation_row(event: OperationEvent) -> Row:
    kind = category(event.status)
    counts = ", ".join(f"{name} {value}" for name, value in event.counts.items()
                       if name not in ("bytes", "instances") and value)
    if event.counts.get("bytes"):
        counts = ", ".join(filter(None, [counts, byte_size(event.counts["bytes"])]))
    severity = {"failure": "error", "warning": "warning", "cancel": "warning"}.get(kind)
    return {"Time": event.time, "Kind": "network", "Service": event.service,
            "Peer": event.peer, "AETs": _aets(event), "Counts": counts,
            "Status": status_text(event.status), "Duration": duration(event.duration),
            "Detail": event.detail, "Severity": severity or "success"}


def status_text(code: int) -> str:
    """A DIMSE status in a few characters: ``ok``, ``fail A700``, ``warn B000``."""
    kind = category(code)
    if code == 0:
        return "ok"
    short = {"failure": "fail", "warning": "warn"}.get(kind, kind)
    return f"{short} {code:04X}"


def matches_kind(row: Row, kind: str) -> bool:
    if kind == "all":
        return True
    if kind == "problems":
        return row["Severity"] in ("error", "warning")
    return row["Kind"] == kind


def matches_text(row: Row, text: str) -> bool:
    needle = text.strip().lower()
    if not needle:
        return True
    return any(needle in str(row.get(key, "")).lower()
               for key in ("Peer", "AETs", "Service", "Status", "Detail", "Counts"))
