"""Retrieves, sends and exports the app runs for its screens: progress, then a notice
and a log row.

They belong to the app, not to a screen: leaving the query screen does not
stop a retrieve. Each one shows in the transfers line of every screen, ends
with a notification and a row in the activity log, and can be cancelled
(the client sends C-CANCEL, or stops after the instance in flight).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui_pacs.core.keys import BadKey
from tui_pacs.core.model import Level
from tui_pacs.core.readable import byte_size, plural
from tui_pacs.core.remote import RemoteFailure, RetrieveProgress, SendProgress
from tui_pacs.core.target import Target
from tui_pacs.services.client import NotInArchive
from tui_pacs.services.export import ExportError, ExportOptions, ExportProgress, Selection
from tui_pacs.ui.messages import TransferProgressed
from tui_pacs.ui.transfers import Transfer

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from tui_pacs.ui.app import PacsApp


@dataclass(frozen=True)
class Outcome:
    message: str
    # "information", "warning" or "error", as notifications have them.
    severity: SeverityLevel
    counts: str = ""
    seconds: float | None = None
    # How it ended, for the notification's title: done, partial, failed or cancelled.
    ending: str = "failed"


def ending(ok: bool, cancelled: bool, some_done: bool) -> str:
    """How a transfer ended, in the word its notification's title uses."""
    if cancelled:
        return "cancelled"
    if ok:
        return "done"
    return "partial" if some_done else "failed"


async def run(app: PacsApp, transfer: Transfer, job) -> None:
    """Await ``job`` (a coroutine returning an Outcome) and report how it ended."""
    try:
        outcome = await job
    except (RemoteFailure, BadKey, NotInArchive, ExportError) as exc:
        outcome = Outcome(_failure_text(exc), "error")
    except asyncio.CancelledError:
        _report(app, transfer, Outcome("cancelled", "warning", ending="cancelled"))
        raise
    _report(app, transfer, outcome)


async def retrieve(app: PacsApp, transfer: Transfer, target: Target, level: Level,
                   keys: dict[str, str]) -> Outcome:
    """C-MOVE (to this node) or C-GET ``keys`` at ``level`` from ``target``."""

    def progress(value: RetrieveProgress) -> None:
        done = value.completed + value.failed + value.warning
        app.post_message(TransferProgressed(transfer.number, done, value.total, value.failed))

    client = app.backend.client
    call = client.move if transfer.service == "C-MOVE" else client.get
    report = await call(target, keys, level=level, on_progress=progress)
    message = f"{plural(report.completed, 'instance')} in {report.seconds:.1f} s"
    if report.received is not None:
        message += f", {report.new} new here"
    failed = report.failed + report.store_failures
    if failed:
        message += f"; {failed} failed"
    if report.cancelled:
        message += "; cancelled"
    if report.diagnosis is not None:
        message += f"; {_diagnosis_text(report.diagnosis)}"
    severity: SeverityLevel
    if report.ok:
        severity = "information"
    else:
        severity = "warning" if report.completed else "error"
    return Outcome(message, severity, f"{report.completed} done, {failed} failed",
                   report.seconds, ending(report.ok, report.cancelled, report.completed > 0))


async def send(app: PacsApp, transfer: Transfer, target: Target, level: Level,
               keys: dict[str, str]) -> Outcome:
    """C-STORE an archived patient, study or series (named by ``keys``) to ``target``."""
    failed = 0

    def progress(value: SendProgress) -> None:
        nonlocal failed
        failed += 0 if value.ok else 1
        app.post_message(TransferProgressed(transfer.number, value.done, value.total, failed))

    report = await app.backend.client.send_archived(target, level, keys,
                                                    on_progress=progress)
    message = f"{report.sent} of {plural(report.total, 'instance')} sent in " \
              f"{report.seconds:.1f} s"
    if report.failures:
        message += f"; {len(report.failures)} failed: {report.failures[0].reason}"
    if report.cancelled:
        message += "; cancelled"
    severity: SeverityLevel
    if report.ok:
        severity = "information"
    else:
        severity = "warning" if report.sent else "error"
    return Outcome(message, severity, f"{report.sent}/{report.total} sent", report.seconds,
                   ending(report.ok, report.cancelled, report.sent > 0))


async def export(app: PacsApp, transfer: Transfer, selections: list[Selection],
                 destination: Path, options: ExportOptions) -> Outcome:
    """Write archived instances to ``destination`` (a directory or a zip file)."""

    def progress(value: ExportProgress) -> None:
        app.post_message(TransferProgressed(transfer.number, value.done, value.total, 0))

    report = await app.backend.export(selections, destination, options, progress)
    message = (f"{plural(report.instances, 'instance')}, {byte_size(report.bytes)}, in "
               f"{report.seconds:.1f} s")
    return Outcome(message, "information", f"{report.instances} exported", report.seconds,
                   ending="done")


def _failure_text(exc: Exception) -> str:
    diagnosis = getattr(exc, "diagnosis", None)
    return _diagnosis_text(diagnosis) if diagnosis is not None else str(exc)


def _diagnosis_text(diagnosis) -> str:
    return "\n".join([diagnosis.summary, *diagnosis.advice])


def _report(app: PacsApp, transfer: Transfer, outcome: Outcome) -> None:
    status = {"information": "ok", "warning": "warn"}.get(outcome.severity, "fail")
    row_severity = "success" if outcome.severity == "information" else outcome.severity
    app.activity.add_transfer(transfer.started, transfer.service, transfer.peer,
                              outcome.counts, status, outcome.seconds,
                              f"{transfer.what}: {outcome.message}", row_severity)
    app.activity_changed()
    app.notify(f"{transfer.title}: {outcome.message}", title=f"Transfer {outcome.ending}",
               severity=outcome.severity, timeout=8)
