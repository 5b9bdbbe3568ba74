"""What the node did, as rows for the activity screen, and notices worth a popup.

Each association is one row (peer, AE titles, services, counts, status,
duration), its operations kept under it (``Operations``) for the screen to
unfold: a study of 2,700 instances takes one row, not 5,400, and does not
push older history out of the list. The events say which association they
concern (``association``), so two associations from the same host and AE
title never share a row; log lines written by an association's threads
(pynetdicom's errors among them) join its operations.

The node's log lines, the app's own echoes and transfers and every
notification shown are rows of their own (the newest kept, the oldest
dropped): a notification is gone from the screen after a few seconds, its
row keeps the whole text. A row is handed to ``keep`` once it is final (an
association when it ends), for the history that outlives the app.

A notice is raised when a transfer ends: a peer that stored instances here
released (or aborted) its association, a retrieve we served finished or failed.
Nothing here imports Textual.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.core.readable import byte_size, duration, plural
from tui_pacs.core.status import category
from tui_pacs.ui.rows import ListSource, Row

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

KEEP_ROWS = 20_000

# The node's log of associations and operations: the same events as the rows
# made from them, so its records are left to the log file.
NODE_LOGGER = "tui_pacs.node"

# What the activity screen's kind filter cycles through.
KINDS = ("all", "network", "log", "notice", "problems")

# Worse severities win when an association's operations disagree.
_RANK = {"muted": 0, "success": 1, "warning": 2, "error": 3}


@dataclass(frozen=True)
class Notice:
    message: str
    severity: SeverityLevel = "information"  # or "warning", "error"
    title: str = ""


def make_row(**fields: object) -> Row:
    """A row with every column the screen shows, empty unless given."""
    row: Row = {"Time": "", "Kind": "", "Service": "", "Peer": "", "AETs": "", "Counts": "",
                "Status": "", "Duration": "", "Detail": "", "Severity": "muted"}
    row.update(fields)
    return row


class ActivityLog:
    def __init__(self, limit: int = KEEP_ROWS,
                 keep: Callable[[Row], None] | None = None) -> None:
        self.rows = ListSource(limit=limit)
        self.keep = keep
        # The row of each association still running, by its number.
        self._open: dict[int, Row] = {}
        self._numbers = itertools.count(1)

    def _append(self, row: Row, final: bool = True) -> None:
        row["Seq"] = next(self._numbers)
        for child in row.get("Operations", ()):
            child["Seq"] = next(self._numbers)
        self.rows.append(row)
        if final and self.keep is not None:
            self.keep(row)

    def add_loaded(self, rows: list[Row]) -> None:
        """Rows from an earlier run (the history), older than anything added since."""
        for row in rows:
            self._append(row, final=False)

    # --- node events ----------------------------------------------------------

    def add_event(self, event: AssociationEvent | OperationEvent) -> Notice | None:
        row = self._association(event)
        if isinstance(event, OperationEvent):
            self._add_operation(row, event)
            return _operation_done(event)
        _add_child(row, self._child(_association_line(event)))
        if event.kind == "accepted":
            row["Detail"] = row["Detail"] or event.detail
            self.rows.touch()
            return None
        return self._association_ended(row, event)

    def _association(self, event: AssociationEvent | OperationEvent) -> Row:
        row = self._open.get(event.association) if event.association else None
        if row is None:
            row = make_row(Time=event.time, Kind="network", Peer=event.peer,
                           AETs=_aets(event), Status="open", Operations=[],
                           _services=[], _instances=0, _bytes=0, _failed=0, _sent=0,
                           _matches=0, _problem="")
            self._append(row, final=False)
            if event.association:
                self._open[event.association] = row
        return row

    def _child(self, child: Row) -> Row:
        child.update(Seq=next(self._numbers), Within=True)
        return child

    def _add_operation(self, row: Row, event: OperationEvent) -> None:
        kind = category(event.status)
        if event.service not in row["_services"]:
            row["_services"].append(event.service)
            row["Service"] = ",".join(row["_services"])
        if event.service == "C-STORE" and kind != "failure":
            row["_instances"] += event.counts.get("instances", 0)
            row["_bytes"] += event.counts.get("bytes", 0)
            self._fold_store(row, event)
        else:
            _add_child(row, self._child(_operation_line(event)))
        if event.service == "C-STORE" and kind == "failure":
            row["_failed"] += 1
        else:
            row["_failed"] += event.counts.get("failed", 0)
        row["_sent"] += event.counts.get("completed", 0)
        row["_matches"] += event.counts.get("matches", 0)
        row["Counts"] = _counts(row)
        if kind == "failure" and not row["_problem"]:
            row["_problem"] = f"{event.service} {status_text(event.status)}" + (
                f": {event.detail}" if event.detail else "")
            row["Detail"] = row["_problem"]
        _worsen(row, {"failure": "error", "warning": "warning", "cancel": "warning"}.get(
            kind, "success"))
        self.rows.touch()

    def _fold_store(self, row: Row, event: OperationEvent) -> None:
        """Count a stored instance into the association's running C-STORE line."""
        operations = row["Operations"]
        line = operations[-1] if operations and operations[-1].get("_stores") else None
        if line is None:
            line = self._child(_operation_line(event))
            line.update(_stores=0, _bytes=0, _seconds=0.0)
            operations.append(line)
        line["_stores"] += event.counts.get("instances", 0)
        line["_bytes"] += event.counts.get("bytes", 0)
        line["_seconds"] += event.duration
        line["Time"] = event.time
        line["Counts"] = ", ".join(filter(None, [
            plural(line["_stores"], "instance"),
            byte_size(line["_bytes"]) if line["_bytes"] else ""]))
        line["Duration"] = duration(line["_seconds"])
        line["Detail"] = f"latest {event.detail}" if event.detail else ""
        if category(event.status) == "warning":
            line["Status"], line["Severity"] = status_text(event.status), "warning"

    def _association_ended(self, row: Row, event: AssociationEvent) -> Notice | None:
        self._open.pop(event.association, None)
        row["Status"] = event.kind
        row["Duration"] = duration(event.duration)
        row["Detail"] = row["_problem"] or event.detail
        row["Service"] = row["Service"] or "assoc"
        _worsen(row, {"rejected": "error", "aborted": "warning"}.get(event.kind, "muted"))
        self.rows.touch()
        if self.keep is not None:
            self.keep(row)
        return _received_notice(row, event)

    # --- log messages and the app's own work -----------------------------------

    def add_log(self, time: datetime, level: int, logger: str, message: str,
                association: int = 0) -> None:
        """A log record; one written by an association's thread joins its row."""
        if logger == NODE_LOGGER:
            return
        severity = ("error" if level >= logging.ERROR else
                    "warning" if level >= logging.WARNING else "muted")
        line = make_row(Time=time, Kind="log", Service=logging.getLevelName(level),
                        AETs=logger, Detail=message, Severity=severity)
        row = self._open.get(association) if association else None
        if row is None:
            self._append(line)
            return
        _add_child(row, self._child(line))
        if severity != "muted" and not row["_problem"]:
            row["_problem"] = row["Detail"] = message
        _worsen(row, severity)
        self.rows.touch()

    def add_notice(self, time: datetime, title: str, message: str, severity: str) -> None:
        """A notification as it was shown, to be read again later."""
        row_severity = {"information": "muted"}.get(severity, severity)
        self._append(make_row(Time=time, Kind="notice", Service="notice", AETs=title,
                              Detail=message, Severity=row_severity))

    def add_transfer(self, time: datetime, service: str, target: str, counts: str,
                     status: str, seconds: float | None, detail: str, severity: str) -> None:
        """An echo, a checkup, a retrieve or a send the app did (the node's events
        cover what peers do here)."""
        self._append(make_row(Time=time, Kind="network", Service=service, AETs=target,
                              Counts=counts, Status=status, Duration=duration(seconds),
                              Detail=detail, Severity=severity))


def _add_child(row: Row, child: Row) -> None:
    row["Operations"].append(child)


def _worsen(row: Row, severity: str) -> None:
    if _RANK.get(severity, 0) > _RANK.get(row["Severity"], 0):
        row["Severity"] = severity


def _counts(row: Row) -> str:
    parts = []
    if row["_instances"]:
        parts.append(plural(row["_instances"], "instance"))
    if row["_bytes"]:
        parts.append(byte_size(row["_bytes"]))
    if row["_sent"]:
        parts.append(f"{row['_sent']:,} sent")
    if row["_matches"]:
        parts.append(plural(row["_matches"], "match", "matches"))
    if row["_failed"]:
        parts.append(f"{row['_failed']:,} failed")
    return ", ".join(parts)


def _received_notice(row: Row, event: AssociationEvent) -> Notice | None:
    if event.kind not in ("released", "aborted"):
        return None
    instances, failed = row["_instances"], row["_failed"]
    if "C-STORE" not in row["_services"] or not (instances or failed):
        return None
    who = f"{event.calling_aet or '?'} ({event.peer})"
    message = f"Received {plural(instances, 'instance')} from {who}"
    if row["_bytes"]:
        message += f", {byte_size(row['_bytes'])}"
    if failed:
        message += f"; {failed} refused"
    if event.kind == "aborted":
        return Notice(message + "; the association was aborted", "warning", "Transfer aborted")
    return Notice(message + ".", "warning" if failed else "information", "Transfer received")


def _operation_done(event: OperationEvent) -> Notice | None:
    if event.service not in ("C-MOVE", "C-GET"):
        return None
    kind = category(event.status)
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


def _aets(event: AssociationEvent | OperationEvent) -> str:
    return f"{event.calling_aet or '?'}→{event.called_aet or '?'}"


def _association_line(event: AssociationEvent) -> Row:
    severity = {"rejected": "error", "aborted": "warning"}.get(event.kind, "muted")
    return make_row(Time=event.time, Kind="network", Service="assoc", Status=event.kind,
                    Duration=duration(event.duration), Detail=event.detail,
                    Severity=severity)


def _operation_line(event: OperationEvent) -> Row:
    kind = category(event.status)
    counts = ", ".join(f"{name} {value}" for name, value in event.counts.items()
                       if name not in ("bytes", "instances") and value)
    if event.counts.get("bytes"):
        counts = ", ".join(filter(None, [counts, byte_size(event.counts["bytes"])]))
    severity = {"failure": "error", "warning": "warning", "cancel": "warning"}.get(kind)
    return make_row(Time=event.time, Kind="network", Service=event.service, Counts=counts,
                    Status=status_text(event.status), Duration=duration(event.duration),
                    Detail=event.detail, Severity=severity or "success")


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
    """The row, or one of its operations, mentions ``text``."""
    needle = text.strip().lower()
    if not needle:
        return True
    return any(needle in str(line.get(key, "")).lower()
               for line in (row, *row.get("Operations", ()))
               for key in ("Peer", "AETs", "Service", "Status", "Detail", "Counts"))


class UnfoldedRows:
    """The rows as the activity screen lists them: each association whose
    number is in ``unfolded`` followed by its operations."""

    def __init__(self, rows: ListSource) -> None:
        self.rows = rows
        self.unfolded: set[int] = set()
        self._view: list[Row] = []
        # What _view was made from: the source's view (rebuilt whenever a row
        # changed) and the unfolded rows.
        self._base: list[Row] | None = None
        self._unfolded_then: frozenset[int] = frozenset()

    def view(self) -> list[Row]:
        base = self.rows.view()
        if base is not self._base or self.unfolded != self._unfolded_then:
            view: list[Row] = []
            for row in base:
                view.append(row)
                if row["Seq"] in self.unfolded:
                    view.extend(row.get("Operations", ()))
            self._view, self._base = view, base
            self._unfolded_then = frozenset(self.unfolded)
        return self._view

    async def count(self) -> int:
        return len(self.view())

    async def fetch(self, offset: int, limit: int) -> list[Row]:
        return self.view()[offset:offset + limit]
