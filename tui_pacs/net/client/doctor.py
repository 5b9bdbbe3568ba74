"""The checks a query/retrieve needs, in the order a connection makes them.

Blocking, for a worker thread: yields each :class:`Check` as soon as it is
known. A failed step skips the steps that depend on it, saying so. The
reverse path of C-MOVE is tested for real: one small instance found by
C-FIND is moved to this node (and so lands in the archive). A modality
marked ``tls`` gets a TLS step that shows its certificate; ``worklist``
adds a worklist query for today's steps.
Storage commitment is an optional last step
(:mod:`~tui_pacs.net.client.doctor_commit`).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tui_pacs.core import diagnosis
from tui_pacs.core.commitment import Reference
from tui_pacs.core.model import Level
from tui_pacs.core.query import STUDY_ROOT
from tui_pacs.core.remote import Check, CheckState, RemoteFailure
from tui_pacs.core.worklist import row_from_worklist, worklist_identifier, worklist_keys
from tui_pacs.net.client.association import (
    Cancellation,
    Session,
    open_association,
    probe_tcp,
    resolve,
)
from tui_pacs.net.client.dialogue import Dialogue
from tui_pacs.net.client.doctor_commit import COMMIT, commit_check
from tui_pacs.net.client.retrieve import OwnNode, RetrieveRequest, move
from tui_pacs.net.client.scu import echo_once, release, responses
from tui_pacs.net.client.tls_check import inspect_tls

# Studies looked at to find a small instance to move.
STUDIES_SAMPLED = 10
# Scheduled procedure steps read before the worklist check stops counting.
STEPS_SAMPLED = 10

NAME_RESOLUTION = "name resolution"
TCP = "TCP connection"
TLS = "TLS"
ASSOCIATION = "association"
ECHO = "C-ECHO"
FIND = "C-FIND (study level)"
WORKLIST = "C-FIND (worklist)"
LISTENING = "listening for C-MOVE"


def checkup(session: Session, own: OwnNode, cancellation: Cancellation, *,
            worklist: bool = False,
            commit: tuple[Reference, ...] | None = None) -> Iterator[Check]:
    """``worklist`` adds a worklist query for today's steps; ``commit`` the
    storage commitment step, asking about these instances (none: negotiation
    only)."""
    target = session.target
    move_check = f"C-MOVE to {own.aet}"
    names = [NAME_RESOLUTION, TCP, *([TLS] if target.tls else []), ASSOCIATION, ECHO, FIND,
             *([WORKLIST] if worklist else []), LISTENING, move_check]
    if commit is not None:
        names.append(COMMIT)

    def skip_rest(after: str, reason: str) -> Iterator[Check]:
        for name in names[names.index(after) + 1:]:
            yield Check.skipped(name, reason)

    try:
        address, _ = resolve(target)
    except RemoteFailure as exc:
        yield Check.failed(NAME_RESOLUTION, exc.diagnosis)
        yield from skip_rest(NAME_RESOLUTION, "needs the remote's address")
        return
    same = address == target.host
    yield Check.ok(NAME_RESOLUTION, f"{target.host} is an address" if same
                   else f"{target.host} is {address}")

    try:
        seconds = probe_tcp(target, address, session.connect_timeout)
    except RemoteFailure as exc:
        yield Check.failed(TCP, exc.diagnosis)
        yield from skip_rest(TCP, "needs a TCP connection")
        return
    yield Check.ok(TCP, f"port {target.port} accepts connections ({_ms(seconds)})")

    if target.tls:
        tls_check = _tls(session)
        yield tls_check
        if tls_check.state is not CheckState.OK:
            yield from skip_rest(TLS, "needs a TLS connection we trust")
            return

    contexts = [build_context(Verification),
                build_context(StudyRootQueryRetrieveInformationModelFind),
                build_context(StudyRootQueryRetrieveInformationModelMove)]
    if worklist:
        contexts.append(build_context(ModalityWorklistInformationFind))
    try:
        assoc, _ = open_association(session, contexts, cancellation=cancellation)
    except RemoteFailure as exc:
        yield Check.failed(ASSOCIATION, exc.diagnosis)
        yield from skip_rest(ASSOCIATION, "needs an association")
        return
    yield Check.ok(ASSOCIATION, f"accepted for calling AE title {session.calling_aet}, "
                                f"called AE title {target.aet}")
    try:
        offered: set[str] = {cx.abstract_syntax for cx in assoc.accepted_contexts
                             if cx.abstract_syntax}
        dialogue = Dialogue(session, assoc)
        yield _echo(dialogue, offered)
        find_check, sample = _find_sample(dialogue, offered, cancellation)
        yield find_check
        if worklist:
            yield _worklist(dialogue, offered, cancellation)
    finally:
        release(assoc)

    listening = _listening(own)
    yield listening
    if find_check.state is not CheckState.OK or listening.state is not CheckState.OK:
        yield Check.skipped(move_check, "needs C-FIND and a listener")
    elif StudyRootQueryRetrieveInformationModelMove not in offered:
        yield Check.failed(move_check, diagnosis.service_not_accepted(
            target, [("Study Root C-MOVE", 3)]))
    elif sample is None:
        yield Check.skipped(move_check, "the remote has no instance to move: this step "
                                        "could not be tested")
    else:
        yield _move(session, own, sample, move_check, cancellation)
    if commit is not None:
        yield commit_check(session, own, commit, cancellation)


def _tls(session: Session) -> Check:
    """The handshake, and the certificate the remote presents, trusted or not."""
    try:
        report = inspect_tls(session)
    except RemoteFailure as exc:
        return Check.failed(TLS, exc.diagnosis)
    first, *facts = report.lines(datetime.now(UTC))
    if not report.trusted:
        return Check.failed(TLS, diagnosis.certificate_not_trusted(session.target, report),
                            tuple(facts))
    return Check.ok(TLS, first, tuple(facts))


def _echo(dialogue: Dialogue, offered: set[str]) -> Check:
    if Verification not in offered:
        return Check.failed(ECHO, diagnosis.service_not_accepted(
            dialogue.session.target, [("Verification", 3)]))
    result = echo_once(dialogue)
    if result.status is None:
        return Check.failed(ECHO, dialogue.lost("C-ECHO", result.seconds))
    if not result.ok:
        return Check.failed(ECHO, diagnosis.failure_status("C-ECHO", result.status))
    return Check.ok(ECHO, f"success ({_ms(result.seconds)})")


def _find_sample(dialogue: Dialogue, offered: set[str],
                 cancellation: Cancellation) -> tuple[Check, dict[str, Any] | None]:
    """The C-FIND check, and a small instance found on the way (or None)."""
    model = StudyRootQueryRetrieveInformationModelFind
    if model not in offered:
        return Check.failed(FIND, diagnosis.service_not_accepted(
            dialogue.session.target, [("Study Root C-FIND", 3)])), None

    def query(level: Level, limit: int | None, **keys: str) -> list[dict[str, Any]]:
        ds = Dataset()
        ds.QueryRetrieveLevel = level.value
        for keyword, value in keys.items():
            setattr(ds, keyword, value)
        return list(responses(dialogue, ds, model, cancellation, limit))

    try:
        studies = query(Level.STUDY, STUDIES_SAMPLED, StudyInstanceUID="",
                        NumberOfStudyRelatedInstances="")
        if not studies:
            return Check.ok(FIND, "answered: the remote has no studies"), None
        shown = (f"{len(studies)} or more studies" if len(studies) == STUDIES_SAMPLED
                 else f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}")
        check = Check.ok(FIND, f"answered: {shown}")
        study = _smallest(studies, "NumberOfStudyRelatedInstances")
        series = query(Level.SERIES, None, StudyInstanceUID=study["StudyInstanceUID"],
                       SeriesInstanceUID="", NumberOfSeriesRelatedInstances="")
        if not series:
            return check, None
        chosen = _smallest(series, "NumberOfSeriesRelatedInstances")
        instances = query(Level.IMAGE, 1, StudyInstanceUID=study["StudyInstanceUID"],
                          SeriesInstanceUID=chosen["SeriesInstanceUID"], SOPInstanceUID="")
    except RemoteFailure as exc:
        return Check.failed(FIND, exc.diagnosis), None
    if not instances or not instances[0].get("SOPInstanceUID"):
        return check, None
    return check, {"StudyInstanceUID": study["StudyInstanceUID"],
                   "SeriesInstanceUID": chosen["SeriesInstanceUID"],
                   "SOPInstanceUID": instances[0]["SOPInstanceUID"]}


def _worklist(dialogue: Dialogue, offered: set[str], cancellation: Cancellation) -> Check:
    """A worklist query for the steps scheduled today, as a modality makes it."""
    model = ModalityWorklistInformationFind
    if model not in offered:
        return Check.failed(WORKLIST, diagnosis.service_not_accepted(
            dialogue.session.target, [("Modality Worklist C-FIND", 3)]))
    identifier = worklist_identifier(worklist_keys({}, when="today"))
    try:
        steps = list(responses(dialogue, identifier, model, cancellation, STEPS_SAMPLED,
                               row_from_worklist))
    except RemoteFailure as exc:
        return Check.failed(WORKLIST, exc.diagnosis)
    count = len(steps)
    shown = (f"{count} or more steps" if count == STEPS_SAMPLED
             else "no step" if not count else f"{count} step{'' if count == 1 else 's'}")
    return Check.ok(WORKLIST, f"answered: {shown} scheduled today")


def _smallest(rows: list[dict[str, Any]], count_key: str) -> dict[str, Any]:
    """The row with the fewest instances but at least one (counts may be missing)."""
    def size(row: dict[str, Any]) -> int:
        value = row.get(count_key)
        return value if isinstance(value, int) and value > 0 else 1 << 30
    return min(rows, key=size)


def _listening(own: OwnNode) -> Check:
    """Whether a move to us can be received: a node listens, or a listener can."""
    with socket.socket(socket.AF_INET6 if ":" in own.bind else socket.AF_INET) as probe:
        # As the listener will: only a listening socket, not old connections, is in the way.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((own.bind, own.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return Check.ok(LISTENING, f"a node already listens on port {own.port}")
            return Check.failed(LISTENING, diagnosis.cannot_listen(
                own.bind, own.port, exc.strerror or str(exc)))
    return Check.ok(LISTENING, f"port {own.port} is free: a temporary listener will receive "
                               "the move")


def _move(session: Session, own: OwnNode, sample: dict[str, str], name: str,
          cancellation: Cancellation) -> Check:
    request = RetrieveRequest(Level.IMAGE, STUDY_ROOT, sample)
    try:
        report = move(session, request, own.aet, own, None, cancellation)
    except RemoteFailure as exc:
        return Check.failed(name, exc.diagnosis)
    if report.diagnosis is not None:
        return Check.failed(name, report.diagnosis)
    if not report.completed and not report.received:
        return Check.skipped(name, "the remote found nothing to move: this step could not "
                                   "be tested")
    if report.received is None:
        return Check.ok(name, f"the remote reports {report.completed} instance(s) sent; "
                              f"{report.receiver} received them")
    return Check.ok(name, f"{report.received} instance(s) arrived and stored "
                          f"({_ms(report.seconds)})")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
