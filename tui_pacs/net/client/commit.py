"""Storage commitment as a service class user: blocking, for worker threads.

The request (N-ACTION) names the instances under a fresh Transaction UID;
the remote answers it at once and reports later, with an N-EVENT-REPORT on
the same association (which stays open while we wait) or on one it opens to
our AE title. That one reaches whatever listens on our port: when nothing
does, a temporary listener of this command; when a node does (the app, or
``tui-pacs serve``), the node. Every path ends in the data directory's
:class:`~tui_pacs.store.commitment_inbox.CommitmentInbox`, where the
command waits for its transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from pydicom.uid import generate_uid
from pynetdicom import evt

from tui_pacs.config import LimitsConfig
from tui_pacs.core import diagnosis, status
from tui_pacs.core.commitment import (
    REQUEST_COMMITMENT,
    STORAGE_COMMITMENT_PUSH_MODEL,
    WELL_KNOWN_INSTANCE,
    CommitmentResult,
    CommitReport,
    Reference,
    request_dataset,
)
from tui_pacs.core.remote import Connection, Diagnosis, RemoteFailure, SendFailure
from tui_pacs.net.client.association import Cancellation, Session, open_association, when_busy_retry
from tui_pacs.net.client.dialogue import Dialogue
from tui_pacs.net.client.listener import TemporaryListener
from tui_pacs.net.client.retrieve import OwnNode
from tui_pacs.net.client.scu import release
from tui_pacs.net.commitment import ReportReceiver, accept_commitment, request_context
from tui_pacs.net.wire.ae import NODELAY_HANDLERS
from tui_pacs.store.commitment_inbox import CommitmentInbox

# How long a remote that reported on an association of its own may take to
# read our answer and release it, once we have the report (seconds).
REPORT_LINGER = 5.0


class ReportListener(TemporaryListener):
    """Receives storage commitment reports while a commit command waits for one."""

    def __init__(self, aet: str, bind: str, port: int, limits: LimitsConfig,
                 receiver: ReportReceiver) -> None:
        super().__init__(aet, bind, port, limits)
        self._receiver = receiver

    def add_contexts(self, ae: Any) -> None:
        accept_commitment(ae)

    def server_options(self) -> dict[str, Any]:
        return {"evt_handlers": [*NODELAY_HANDLERS,
                                 (evt.EVT_N_EVENT_REPORT, self._receiver.handle)]}


class _OnTheAssociation:
    """Receives a report on the requesting association.

    pynetdicom answers an N-EVENT-REPORT in a thread of its own, after the
    handler has handed the report to the inbox (which wakes the command).
    The command joins that thread before it releases the association, so
    that the answer goes out first: a remote that saw the release first
    would take its report for unanswered, and send it again."""

    def __init__(self, receiver: ReportReceiver) -> None:
        self._receiver = receiver
        self._threads: list[threading.Thread] = []

    def handle(self, event: Any) -> tuple[int, None]:
        self._threads.append(threading.current_thread())
        return self._receiver.handle(event)

    def answered(self, timeout: float) -> None:
        """Wait until every report received here has been answered."""
        for thread in self._threads:
            thread.join(timeout)


def commit(session: Session, references: Sequence[Reference], own: OwnNode, wait: float,
           cancellation: Cancellation, unreadable: Sequence[SendFailure] = ()) -> CommitReport:
    """Ask the remote to commit ``references``; wait up to ``wait`` seconds for
    its report. Raises RemoteFailure when the request cannot be made."""
    started = time.perf_counter()
    transaction_uid = generate_uid()
    inbox = CommitmentInbox(own.archive.data_dir)
    receiver = ReportReceiver(inbox)
    listener = ReportListener(own.aet, own.bind, own.port, session.limits, receiver)
    listening = listener.start_unless_taken("storage commitment reports")
    receiver_text = (f"a temporary listener on port {own.port}" if listening
                     else f"the node already listening on port {own.port}")
    try:
        result, connection = _request_and_wait(session, transaction_uid, references,
                                               receiver, inbox, wait, cancellation)
    finally:
        if listening:
            # A remote that reported to it is still to read our answer and release.
            listener.stop(linger=REPORT_LINGER)
    problem: Diagnosis | None = None
    if result is None and not cancellation.requested:
        problem = diagnosis.no_commitment_report(
            session.target, own.listener_for(connection), wait, node_listening=not listening)
    return CommitReport(
        target=session.target, calling_aet=session.calling_aet,
        transaction_uid=transaction_uid, requested=tuple(references), result=result,
        receiver=receiver_text, seconds=time.perf_counter() - started,
        unreadable=tuple(unreadable), cancelled=cancellation.requested, diagnosis=problem)


def _request_and_wait(session: Session, transaction_uid: str, references: Sequence[Reference],
                      receiver: ReportReceiver, inbox: CommitmentInbox, wait: float,
                      cancellation: Cancellation) -> tuple[CommitmentResult | None, Connection]:
    """The N-ACTION, then the report: (the report or None, the connection)."""
    on_the_association = _OnTheAssociation(receiver)
    assoc, connection = when_busy_retry(lambda: open_association(
        session, [request_context()],
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_the_association.handle)],
        cancellation=cancellation), cancellation)
    try:
        dialogue = Dialogue(session, assoc)
        asked = time.perf_counter()
        answer, _ = assoc.send_n_action(
            request_dataset(transaction_uid, references), REQUEST_COMMITMENT,
            STORAGE_COMMITMENT_PUSH_MODEL, WELL_KNOWN_INSTANCE, msg_id=dialogue.next_id())
        code = answer.get("Status")
        if code is None:
            raise RemoteFailure(dialogue.lost("N-ACTION", time.perf_counter() - asked))
        if status.category(int(code)) == "failure":
            raise RemoteFailure(diagnosis.failure_status(
                "N-ACTION", int(code), str(answer.get("ErrorComment", ""))))
        # The association stays open: the remote may report on it.
        result = inbox.wait(transaction_uid, wait, lambda: cancellation.requested)
    finally:
        on_the_association.answered(session.dimse_timeout)
        release(assoc)
    return result, connection
