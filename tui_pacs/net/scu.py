"""C-ECHO and C-FIND as a service class user: blocking, for worker threads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.sop_class import (
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
from tui_pacs.core.remote import Diagnosis, EchoReport, EchoResult, RemoteFailure
from tui_pacs.net.association import (
    Cancellation,
    Cancelled,
    Session,
    open_association,
    when_busy_retry,
)

FIND_MODELS = {PATIENT_ROOT: PatientRootQueryRetrieveInformationModelFind,
               STUDY_ROOT: StudyRootQueryRetrieveInformationModelFind}
MOVE_MODELS = {PATIENT_ROOT: PatientRootQueryRetrieveInformationModelMove,
               STUDY_ROOT: StudyRootQueryRetrieveInformationModelMove}
GET_MODELS = {PATIENT_ROOT: PatientRootQueryRetrieveInformationModelGet,
              STUDY_ROOT: StudyRootQueryRetrieveInformationModelGet}

# The Message ID of the one request each association carries at a time.
MESSAGE_ID = 1


def echo(session: Session, count: int, cancellation: Cancellation) -> EchoReport:
    """``count`` C-ECHOs over one association, each timed; never raises RemoteFailure."""
    try:
        assoc, connection = open_association(session, [build_context(Verification)],
                                             cancellation=cancellation)
    except RemoteFailure as exc:
        return EchoReport(session.target, session.calling_aet, None, (), exc.diagnosis)
    echoes: list[EchoResult] = []
    problem = None
    try:
        for number in range(1, count + 1):
            if cancellation.requested:
                break
            started = time.perf_counter()
            answer = assoc.send_c_echo(msg_id=number)
            result = EchoResult(_status(answer), time.perf_counter() - started)
            echoes.append(result)
            if result.status is None:
                problem = no_answer(session, assoc, "C-ECHO", result.seconds)
                break
            if not result.ok:
                problem = diagnosis.failure_status("C-ECHO", result.status)
                break
    finally:
        release(assoc)
    return EchoReport(session.target, session.calling_aet, connection, tuple(echoes), problem)


def find(session: Session, model: str, identifier: Dataset, cancellation: Cancellation,
         limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a C-FIND as the pending responses arrive (at most ``limit``).

    Raises RemoteFailure when the association cannot be opened or the remote
    answers with a failure, Cancelled when cancelled.
    """
    sop_class = FIND_MODELS[model]
    assoc, _ = when_busy_retry(lambda: open_association(
        session, [build_context(sop_class)], cancellation=cancellation), cancellation)
    try:
        yield from responses(session, assoc, identifier, sop_class, cancellation, limit)
    finally:
        release(assoc)


def responses(session: Session, assoc: Association, identifier: Dataset, sop_class: str,
              cancellation: Cancellation, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The matches of one C-FIND on an open association.

    After ``limit`` matches the rest is cancelled (C-CANCEL), and the
    responses still on their way are read and dropped, leaving the
    association ready for the next request.
    """
    answers = assoc.send_c_find(identifier, sop_class, msg_id=MESSAGE_ID)
    cancellation.started(MESSAGE_ID, sop_class)
    count = 0
    last = time.perf_counter()
    try:
        for answer, match in answers:
            code = _status(answer)
            if code is None:
                waited = time.perf_counter() - last
                raise RemoteFailure(no_answer(session, assoc, "C-FIND", waited))
            last = time.perf_counter()
            category = status.category(code)
            if category == "pending":
                if match is None or (limit is not None and count >= limit):
                    continue
                count += 1
                yield row_from_identifier(match)
                if count == limit:
                    assoc.send_c_cancel(MESSAGE_ID, query_model=sop_class)
            elif category == "cancel" and cancellation.requested:
                raise Cancelled()
            elif category == "failure":
                raise RemoteFailure(diagnosis.failure_status(
                    "C-FIND", code, str(answer.get("ErrorComment", ""))))
    finally:
        cancellation.finished()


def no_answer(session: Session, assoc: Association, service: str,
              waited: float) -> Diagnosis:
    """Why a request got no response: a timeout, or the remote ended the association."""
    if assoc.is_aborted or waited < session.dimse_timeout * 0.9:
        return diagnosis.aborted_during(session.target, service, session.calling_aet)
    return diagnosis.no_response(session.target, service, session.dimse_timeout)


def release(assoc: Association) -> None:
    if assoc.is_established:
        assoc.release()


def _status(answer: Dataset) -> int | None:
    """The Status of a response; None when none came (timeout, aborted)."""
    value = answer.get("Status") if answer is not None else None
    return int(value) if value is not None else None
