"""C-MOVE and C-GET as a service class user: blocking, for worker threads.

A C-MOVE to this node needs someone listening on our port: when no node
runs there, a temporary storage SCP does, for the duration of the move.
A C-GET brings the instances back over its own association, so it proposes
storage contexts (with the SCP role) for the SOP classes it expects.
"""

from __future__ import annotations

import dataclasses
import errno
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pynetdicom import StoragePresentationContexts, build_context, build_role
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from tui_pacs.core import diagnosis, status
from tui_pacs.core.diagnosis import Listener
from tui_pacs.core.model import Level
from tui_pacs.core.query import find_identifier, retrieve_identifier
from tui_pacs.core.remote import (
    Connection,
    Diagnosis,
    Failure,
    RemoteFailure,
    RetrieveProgress,
    RetrieveReport,
)
from tui_pacs.net import scu
from tui_pacs.net.association import Cancellation, Session, open_association
from tui_pacs.net.receive import Receiver, StorageListener
from tui_pacs.net.scu import GET_MODELS, MESSAGE_ID, MOVE_MODELS, no_answer, release
from tui_pacs.net.syntaxes import MAX_CONTEXTS, STORED_ENCODINGS, UNCOMPRESSED
from tui_pacs.store.archive import Archive

ProgressCallback = Callable[[RetrieveProgress], None]
_ANY_ADDRESS = ("", "0.0.0.0", "::")
# Answers to the C-FIND before a C-GET after which the C-GET is still worth trying.
_QUERY_REFUSALS = (Failure.OPERATION_FAILED, Failure.SERVICE_NOT_ACCEPTED,
                   Failure.ASSOCIATION_ABORTED)


@dataclass(frozen=True)
class RetrieveRequest:
    """What to retrieve: a level, an information model and the identifying keys."""

    level: Level
    model: str
    keys: dict[str, str] = field(default_factory=dict)

    def identifier(self) -> Dataset:
        return retrieve_identifier(self.level, self.keys)


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


class _Tally:
    """Sub-operation counts from the responses, and what arrived here.

    Responses come on the retrieve's thread, arrivals on the listener's
    association threads: one lock keeps each progress report whole.
    """

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.progress = RetrieveProgress()
        self._on_progress = on_progress
        self._lock = threading.Lock()

    def update(self, answer: Dataset) -> None:
        def count(keyword: str, default: int | None) -> int | None:
            value = answer.get(keyword)
            return int(value) if value is not None else default

        with self._lock:
            now = self.progress
            self.progress = dataclasses.replace(
                now,
                completed=count("NumberOfCompletedSuboperations", now.completed) or 0,
                remaining=count("NumberOfRemainingSuboperations", now.remaining),
                failed=count("NumberOfFailedSuboperations", now.failed) or 0,
                warning=count("NumberOfWarningSuboperations", now.warning) or 0,
            )
            self._notify()

    def arrived(self, received: int) -> None:
        with self._lock:
            self.progress = dataclasses.replace(self.progress, received=received)
            self._notify()

    def _notify(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)


@dataclass
class _Outcome:
    status: int | None = None
    failed_instances: tuple[str, ...] = ()
    cancelled: bool = False
    comment: str = ""


def move(session: Session, request: RetrieveRequest, destination: str, own: OwnNode | None,
         on_progress: ProgressCallback | None, cancellation: Cancellation) -> RetrieveReport:
    """C-MOVE to ``destination``; ``own`` is given when that is this node."""
    started = time.perf_counter()
    tally = _Tally(on_progress)
    receiver = Receiver(own.archive, tally.arrived) if own else None
    listener = None
    receiver_text = f"{destination} (another node)"
    if own is not None and receiver is not None:
        listener = StorageListener(own.aet, own.bind, own.port, session.limits, receiver)
        try:
            listener.start()
            receiver_text = f"a temporary listener on port {own.port}"
        except OSError as exc:
            listener = None
            if exc.errno != errno.EADDRINUSE:
                raise RemoteFailure(diagnosis.cannot_listen(
                    own.bind, own.port, exc.strerror or str(exc))) from None
            receiver_text = f"the node already listening on port {own.port}"
    try:
        sop_class = MOVE_MODELS[request.model]
        assoc, connection = open_association(session, [build_context(sop_class)],
                                             cancellation=cancellation)
        try:
            answers = assoc.send_c_move(request.identifier(), destination, sop_class,
                                        msg_id=MESSAGE_ID)
            outcome = _follow(session, assoc, "C-MOVE", answers, sop_class, tally, cancellation)
        finally:
            release(assoc)
    finally:
        if listener is not None:
            listener.stop()
    observed = receiver if listener is not None else None
    problem = _move_diagnosis(session, outcome, tally.progress, destination, own,
                              connection, observed)
    return _report(session, "C-MOVE", destination, outcome, tally.progress, observed,
                   receiver_text, started, problem)


def get(session: Session, request: RetrieveRequest, archive: Archive,
        sop_classes: Iterable[str], on_progress: ProgressCallback | None,
        cancellation: Cancellation) -> RetrieveReport:
    """C-GET into the archive, offering to store ``sop_classes`` (a broad set if none)."""
    started = time.perf_counter()
    tally = _Tally(on_progress)
    receiver = Receiver(archive, tally.arrived)
    sop_class = GET_MODELS[request.model]
    storage = get_storage_contexts(list(sop_classes))
    roles = [build_role(uid, scp_role=True)
             for uid in dict.fromkeys(cx.abstract_syntax for cx in storage)]
    assoc, _ = open_association(session, [build_context(sop_class), *storage], ext_neg=roles,
                                evt_handlers=receiver.handlers, cancellation=cancellation)
    try:
        answers = assoc.send_c_get(request.identifier(), sop_class, msg_id=MESSAGE_ID)
        outcome = _follow(session, assoc, "C-GET", answers, sop_class, tally, cancellation)
    finally:
        release(assoc)
    problem = None
    if outcome.status is not None and status.category(outcome.status) == "failure":
        problem = diagnosis.failure_status("C-GET", outcome.status, outcome.comment)
    return _report(session, "C-GET", session.calling_aet, outcome, tally.progress, receiver,
                   "this association (C-GET)", started, problem)


def expected_sop_classes(session: Session, request: RetrieveRequest,
                         cancellation: Cancellation) -> list[str]:
    """The SOP classes a C-GET will bring, asked with a C-FIND first; [] when the
    remote does not say (it may not answer that query, or not to us).

    A study or patient asks for SOPClassesInStudy (one answer per study);
    when a study leaves it out, and for series and instances, an IMAGE level
    query asks each instance's SOPClassUID.
    """
    try:
        if request.level in (Level.PATIENT, Level.STUDY):
            classes = _ask(session, request, cancellation, Level.STUDY, "SOPClassesInStudy")
            if classes is not None:
                return classes
        return _ask(session, request, cancellation, Level.IMAGE, "SOPClassUID") or []
    except RemoteFailure as exc:
        if exc.diagnosis.failure in _QUERY_REFUSALS:
            return []
        raise


def _ask(session: Session, request: RetrieveRequest, cancellation: Cancellation,
         level: Level, keyword: str) -> list[str] | None:
    """The values of ``keyword`` over the matches at ``level``; None if one lacks it."""
    identifier = find_identifier(level, request.keys,
                                 return_keys=(keyword, level.unique_key))
    values = [row.get(keyword) for row in
              scu.find(session, request.model, identifier, cancellation)]
    if not all(values):
        return None
    return list(dict.fromkeys(uid for value in values for uid in str(value).split("\\")))


def get_storage_contexts(sop_classes: list[str]) -> list[PresentationContext]:
    """Storage contexts for a C-GET: for the SOP classes expected, one context per
    encoding an archive may hold, so each instance can come back unchanged; for
    too many classes, or none known, the usual storage classes uncompressed."""
    room = MAX_CONTEXTS - 1  # one context is the C-GET's own
    per_class = 1 + len(STORED_ENCODINGS)
    if sop_classes and len(sop_classes) * per_class <= room:
        contexts = []
        for uid in sop_classes:
            contexts.append(build_context(uid, list(UNCOMPRESSED)))
            contexts += [build_context(uid, [syntax]) for syntax in STORED_ENCODINGS]
        return contexts
    classes = sop_classes[:room] if sop_classes else [
        cx.abstract_syntax for cx in StoragePresentationContexts][:room]
    return [build_context(uid, list(UNCOMPRESSED)) for uid in classes]


def _follow(session: Session, assoc: Association, service: str,
            answers: Iterable[tuple[Dataset, Dataset | None]], sop_class: str, tally: _Tally,
            cancellation: Cancellation) -> _Outcome:
    """Read a C-MOVE or C-GET's responses to the end, counting as they come."""
    cancellation.started(MESSAGE_ID, sop_class)
    outcome = _Outcome()
    last = time.perf_counter()
    try:
        for answer, identifier in answers:
            code = answer.get("Status")
            if code is None:
                waited = time.perf_counter() - last
                raise RemoteFailure(no_answer(session, assoc, service, waited))
            last = time.perf_counter()
            tally.update(answer)
            if status.category(int(code)) == "pending":
                continue
            outcome.status = int(code)
            outcome.comment = str(answer.get("ErrorComment", ""))
            outcome.cancelled = outcome.status == status.CANCEL
            if identifier is not None:
                outcome.failed_instances = _values(identifier.get("FailedSOPInstanceUIDList"))
    finally:
        cancellation.finished()
    return outcome


def _values(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _move_diagnosis(session: Session, outcome: _Outcome, progress: RetrieveProgress,
                    destination: str, own: OwnNode | None, connection: Connection,
                    observed: Receiver | None) -> Diagnosis | None:
    """Why a move to this node brought nothing, when it did not."""
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
    if listener is not None and failed and not sent and not (observed and observed.received):
        return diagnosis.not_delivered(target, listener, code or 0, progress.failed)
    if failed:
        return diagnosis.failure_status("C-MOVE", code or 0, outcome.comment)
    return None


def _report(session: Session, service: str, destination: str, outcome: _Outcome,
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
