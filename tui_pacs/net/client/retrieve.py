"""C-MOVE and C-GET as a service class user: blocking, for worker threads.

A C-MOVE to this node needs someone listening on our port: when no node
runs there, a temporary storage SCP does, for the duration of the move.
A C-GET brings the instances back over its own associations
(:mod:`tui_pacs.net.client.get_scu`), as planned by :mod:`tui_pacs.net.client.get_plan`:
a study large enough is split over a few associations at once
(:mod:`tui_pacs.net.client.get_run`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import build_context

from tui_pacs.core import diagnosis, status
from tui_pacs.core.diagnosis import Listener
from tui_pacs.core.model import Level
from tui_pacs.core.query import RetrieveRequest
from tui_pacs.core.remote import (
    Connection,
    Diagnosis,
    RemoteFailure,
    RetrieveProgress,
    RetrieveReport,
)
from tui_pacs.net.bridge import INDEX_TIMEOUT, LoopBridge, LoopGone
from tui_pacs.net.client.association import Cancellation, Session, open_association, when_busy_retry
from tui_pacs.net.client.dialogue import Dialogue
from tui_pacs.net.client.get_plan import PARALLEL_ASSOCIATIONS, GetPlan, Piece, plan_get
from tui_pacs.net.client.get_run import GetRun
from tui_pacs.net.client.receive import Receiver, StorageListener
from tui_pacs.net.client.scu import MOVE_MODELS, release
from tui_pacs.net.client.tally import Outcome, ProgressCallback, Tally
from tui_pacs.store.archive import Archive
from tui_pacs.store.index import UnknownKey, matchers_from_keys

log = logging.getLogger(__name__)

__all__ = ["OwnNode", "RetrieveRequest", "get", "move"]

_ANY_ADDRESS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class OwnNode:
    """This node as a move destination: its AE title, where it listens, its archive."""

    aet: str
    bind: str
    port: int
    archive: Archive

    def listener_for(self, connection: Connection | None) -> Listener:
        """The entry a remote needs to reach us: our address as that remote sees it."""
        host = self.bind
        if host in _ANY_ADDRESS and connection is not None:
            host = connection.local_address
        return Listener(self.aet, host, self.port)


def move(session: Session, request: RetrieveRequest, destination: str, own: OwnNode | None,
         on_progress: ProgressCallback | None, cancellation: Cancellation) -> RetrieveReport:
    """C-MOVE to ``destination``; ``own`` is given when that is this node."""
    started = time.perf_counter()
    tally = Tally(on_progress)
    receiver = Receiver(own.archive, tally.arrived) if own else None
    listener = None
    receiver_text = f"{destination} (another node)"
    if own is not None and receiver is not None:
        listener = StorageListener(own.aet, own.bind, own.port, session.limits, receiver)
        if listener.start_unless_taken("the retrieved instances"):
            receiver_text = f"a temporary listener on port {own.port}"
        else:
            listener = None
            receiver_text = f"the node already listening on port {own.port}"
    try:
        sop_class = MOVE_MODELS[request.model]
        assoc, connection = when_busy_retry(lambda: open_association(
            session, [build_context(sop_class)], cancellation=cancellation), cancellation)
        try:
            dialogue = Dialogue(session, assoc)
            message_id = dialogue.next_id()
            answers = assoc.send_c_move(request.identifier(), destination, sop_class,
                                        msg_id=message_id)
            outcome = _follow(dialogue, message_id, "C-MOVE", answers, sop_class, tally,
                              cancellation)
        finally:
            release(assoc)
    finally:
        if listener is not None:
            listener.stop()
    observed = receiver if listener is not None else None
    sent = tally.progress.completed + tally.progress.warning
    held = _held(own, request) if own is not None and observed is None and sent else None
    problem = _move_diagnosis(session, outcome, tally.progress, destination, own,
                              connection, observed, held)
    return _report(session, "C-MOVE", destination, outcome, tally.progress, observed,
                   receiver_text, started, problem)


def get(session: Session, request: RetrieveRequest, archive: Archive,
        on_progress: ProgressCallback | None, cancellation: Cancellation,
        associations: int = PARALLEL_ASSOCIATIONS) -> RetrieveReport:
    """C-GET into the archive, over up to ``associations`` associations at once
    (see :mod:`tui_pacs.net.client.get_plan`); the report includes the C-FINDs that
    plan it."""
    started = time.perf_counter()
    plan = plan_get(session, request, cancellation, associations)
    tally = Tally(on_progress)
    receiver = Receiver(archive, tally.arrived)
    run = GetRun(session, plan, receiver, tally, cancellation)
    outcome = run.run(associations)
    if plan.split and not receiver.received and _failed(outcome):
        # The remote refused every piece (some do not take lists of UIDs):
        # the retrieve as asked, in one C-GET.
        log.info("C-GET from %s: the pieces were refused (0x%04X), retrieving as one request",
                 session.target, outcome.status or 0)
        plan = GetPlan(plan.sop_classes, [Piece(request)])
        tally = Tally(on_progress)
        receiver = Receiver(archive, tally.arrived)
        run = GetRun(session, plan, receiver, tally, cancellation)
        outcome = run.run(1)
    problem = None
    if outcome.status == status.OUT_OF_RESOURCES_SUBOPERATIONS:
        problem = diagnosis.get_not_sent(outcome.status, outcome.comment, run.offer.description,
                                         run.offer.listed)
    elif _failed(outcome):
        problem = diagnosis.failure_status("C-GET", outcome.status or 0, outcome.comment)
    return _report(session, "C-GET", session.calling_aet, outcome, tally.progress, receiver,
                   f"{run.associations} associations (C-GET)" if run.associations > 1
                   else "this association (C-GET)", started, problem)


def _failed(outcome: Outcome) -> bool:
    return outcome.status is not None and status.category(outcome.status) == "failure"


def _follow(dialogue: Dialogue, message_id: int, service: str,
            answers: Iterable[tuple[Dataset, Dataset | None]], sop_class: str, tally: Tally,
            cancellation: Cancellation) -> Outcome:
    """Read a C-MOVE's responses to the end, counting as they come."""
    cancellation.started(message_id, sop_class)
    number = tally.request()
    outcome = Outcome()
    last = time.perf_counter()
    try:
        for answer, identifier in answers:
            code = answer.get("Status")
            if code is None:
                waited = time.perf_counter() - last
                raise RemoteFailure(dialogue.lost(service, waited))
            last = time.perf_counter()
            tally.update(number, **_counts(answer), final=not _pending(int(code)))
            if _pending(int(code)):
                continue
            outcome.status = int(code)
            outcome.comment = str(answer.get("ErrorComment", ""))
            outcome.cancelled = outcome.status == status.CANCEL
            if identifier is not None:
                outcome.failed_instances = _values(identifier.get("FailedSOPInstanceUIDList"))
    finally:
        cancellation.finished()
    return outcome


def _counts(answer: Dataset) -> dict[str, int | None]:
    """The sub-operation counts of a response, None for those it leaves out."""
    def count(keyword: str) -> int | None:
        value = answer.get(keyword)
        return int(value) if value is not None else None

    return {"remaining": count("NumberOfRemainingSuboperations"),
            "completed": count("NumberOfCompletedSuboperations"),
            "failed": count("NumberOfFailedSuboperations"),
            "warning": count("NumberOfWarningSuboperations")}


def _pending(code: int) -> bool:
    return status.category(code) == "pending"


def _values(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _held(own: OwnNode, request: RetrieveRequest) -> int | None:
    """How many instances of ``request`` the archive holds after a move that the
    node already listening received (another process, perhaps not this
    archive's node); None when the keys cannot be asked of the index."""
    archive = own.archive
    try:
        query = archive.index.count(Level.IMAGE, matchers_from_keys(request.keys))
        return LoopBridge(archive.loop).run(query, INDEX_TIMEOUT)
    except (UnknownKey, LoopGone):
        return None


def _move_diagnosis(session: Session, outcome: Outcome, progress: RetrieveProgress,
                    destination: str, own: OwnNode | None, connection: Connection,
                    observed: Receiver | None, held: int | None) -> Diagnosis | None:
    """Why a move to this node brought nothing, when it did not. ``observed``:
    our own listener's receipts; ``held``: else, what the archive holds."""
    target = session.target
    listener = own.listener_for(connection) if own else None
    code = outcome.status
    failed = code is not None and status.category(code) == "failure"
    if code == status.MOVE_DESTINATION_UNKNOWN:
        return diagnosis.destination_unknown(target, destination, listener)
    if outcome.cancelled:
        return None
    sent = progress.completed + progress.warning
    if listener is not None and observed is not None and sent and not observed.received:
        return diagnosis.nothing_arrived(target, listener, sent)
    if listener is not None and held == 0 and sent:
        return diagnosis.not_in_archive(target, listener, sent)
    if listener is not None and failed and not sent and not (observed and observed.received):
        return diagnosis.not_delivered(target, listener, code or 0, progress.failed)
    if failed:
        return diagnosis.failure_status("C-MOVE", code or 0, outcome.comment)
    return None


def _report(session: Session, service: str, destination: str, outcome: Outcome,
            progress: RetrieveProgress, observed: Receiver | None, receiver_text: str,
            started: float, problem: Diagnosis | None) -> RetrieveReport:
    return RetrieveReport(
        target=session.target,
        service=service,
        destination=destination,
        status=outcome.status,
        completed=progress.completed,
        failed=progress.failed,
        warning=progress.warning,
        received=observed.received if observed else None,
        new=observed.new if observed else 0,
        duplicates=observed.duplicates if observed else 0,
        store_failures=observed.failures if observed else 0,
        failed_instances=outcome.failed_instances,
        receiver=receiver_text,
        seconds=time.perf_counter() - started,
        cancelled=outcome.cancelled,
        diagnosis=problem,
    )
