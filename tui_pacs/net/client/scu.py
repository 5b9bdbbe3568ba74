"""C-ECHO and C-FIND (the Q/R models, the modality worklist) as a service class user:
blocking, for worker threads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tui_pacs.core import diagnosis, status
from tui_pacs.core.query import PATIENT_ROOT, STUDY_ROOT, row_from_identifier
from tui_pacs.core.remote import EchoReport, EchoResult, RemoteFailure
from tui_pacs.core.worklist import row_from_worklist
from tui_pacs.net.client.association import (
    Cancellation,
    Cancelled,
    Session,
    open_association,
    when_busy_retry,
)
from tui_pacs.net.client.dialogue import Dialogue

FIND_MODELS = {PATIENT_ROOT: PatientRootQueryRetrieveInformationModelFind,
               STUDY_ROOT: StudyRootQueryRetrieveInformationModelFind}
MOVE_MODELS = {PATIENT_ROOT: PatientRootQueryRetrieveInformationModelMove,
               STUDY_ROOT: StudyRootQueryRetrieveInformationModelMove}
GET_MODELS = {PATIENT_ROOT: PatientRootQueryRetrieveInformationModelGet,
              STUDY_ROOT: StudyRootQueryRetrieveInformationModelGet}

# How long past a C-FIND's limit the rest is read before it is cancelled.
DRAIN_SECONDS = 0.25

def echo(session: Session, count: int, cancellation: Cancellation) -> EchoReport:
    """``count`` C-ECHOs over one association, each timed; never raises RemoteFailure."""
    try:
        assoc, connection = open_association(session, [build_context(Verification)],
                                             cancellation=cancellation)
    except RemoteFailure as exc:
        return EchoReport(session.target, session.calling_aet, None, (), exc.diagnosis)
    dialogue = Dialogue(session, assoc)
    echoes: list[EchoResult] = []
    problem = None
    try:
        for _ in range(count):
            if cancellation.requested:
                break
            result = echo_once(dialogue)
            echoes.append(result)
            if result.status is None:
                problem = dialogue.lost("C-ECHO", result.seconds)
                break
            if not result.ok:
                problem = diagnosis.failure_status("C-ECHO", result.status)
                break
    finally:
        release(assoc)
    return EchoReport(session.target, session.calling_aet, connection, tuple(echoes), problem)


def echo_once(dialogue: Dialogue) -> EchoResult:
    """One timed C-ECHO; its status is None when no response came."""
    if not dialogue.assoc.is_established:
        return EchoResult(None, 0.0)
    started = time.perf_counter()
    answer = dialogue.assoc.send_c_echo(msg_id=dialogue.next_id())
    result = EchoResult(_status(answer), time.perf_counter() - started)
    if result.status is not None:
        dialogue.answered("C-ECHO")
    return result


def find(session: Session, model: str, identifier: Dataset, cancellation: Cancellation,
         limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a C-FIND as the pending responses arrive (at most ``limit``).

    Raises RemoteFailure when the association cannot be opened or the remote
    answers with a failure, Cancelled when cancelled.
    """
    return _query(session, FIND_MODELS[model], identifier, cancellation, limit,
                  row_from_identifier)


def worklist(session: Session, identifier: Dataset, cancellation: Cancellation,
             limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Scheduled procedure steps (Modality Worklist C-FIND), one flat row each, as
    :func:`find` yields matches."""
    return _query(session, ModalityWorklistInformationFind, identifier, cancellation, limit,
                  row_from_worklist)


def _query(session: Session, sop_class: str, identifier: Dataset, cancellation: Cancellation,
           limit: int | None, read: Callable[[Dataset], dict[str, Any]],
           ) -> Iterator[dict[str, Any]]:
    assoc, _ = when_busy_retry(lambda: open_association(
        session, [build_context(sop_class)], cancellation=cancellation), cancellation)
    try:
        yield from responses(Dialogue(session, assoc), identifier, sop_class, cancellation,
                             limit, read)
    finally:
        release(assoc)


def responses(dialogue: Dialogue, identifier: Dataset, sop_class: str,
              cancellation: Cancellation, limit: int | None = None,
              read: Callable[[Dataset], dict[str, Any]] = row_from_identifier,
              ) -> Iterator[dict[str, Any]]:
    """The matches of one C-FIND on an open association, each made a row by ``read``.

    Past ``limit`` matches, the responses are read and dropped until the
    final one, leaving the association ready for the next request. Those of
    a remote that is still sending them ``DRAIN_SECONDS`` after the limit are
    cancelled (C-CANCEL): only on a pending response, with no other already
    waiting, so that the cancel names a request still in progress. A remote
    that finishes sooner is not sent one: reading a few more responses costs
    less, and some remotes (pixelmed) abort the association on any C-CANCEL.
    """
    assoc = dialogue.assoc
    if not assoc.is_established:
        raise RemoteFailure(dialogue.lost("C-FIND", 0.0))
    message_id = dialogue.next_id()
    answers = assoc.send_c_find(identifier, sop_class, msg_id=message_id)
    cancellation.started(message_id, sop_class)
    count = 0
    limit_reached: float | None = None
    cancelled = False
    last = time.perf_counter()
    try:
        for answer, match in answers:
            code = _status(answer)
            if code is None:
                waited = time.perf_counter() - last
                raise RemoteFailure(dialogue.lost("C-FIND", waited))
            last = time.perf_counter()
            category = status.category(code)
            if category == "pending":
                if limit is None or count < limit:
                    if match is not None:
                        count += 1
                        yield read(match)
                        if count == limit:
                            limit_reached = time.perf_counter()
                elif (not cancelled and limit_reached is not None
                      and last - limit_reached >= DRAIN_SECONDS
                      and not dialogue.response_waiting()):
                    dialogue.cancel(message_id, sop_class)
                    cancelled = True
                continue
            dialogue.answered("C-FIND")
            if category == "cancel" and cancellation.requested:
                raise Cancelled()
            if category == "failure":
                raise RemoteFailure(diagnosis.failure_status(
                    "C-FIND", code, str(answer.get("ErrorComment", ""))))
    finally:
        cancellation.finished()


def release(assoc: Association) -> None:
    if assoc.is_established:
        assoc.release()


def _status(answer: Dataset) -> int | None:
    """The Status of a response; None when none came (timeout, aborted)."""
    value = answer.get("Status") if answer is not None else None
    return int(value) if value is not None else None
