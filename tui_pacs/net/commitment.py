"""Storage commitment on the wire, for both roles: presentation contexts, and
an N-EVENT-REPORT received into the inbox.

A report reaches us on the association of our request (the remote is its
acceptor), or on an association the remote opens to us, proposing the
Push Model with itself in the SCP role (SCP/SCU role selection). Whoever
receives it (the node, the temporary listener of ``tui-pacs commit``, the
requesting association itself) hands it to
:class:`~tui_pacs.store.commitment_inbox.CommitmentInbox` before answering.
"""

from __future__ import annotations

import logging
from typing import Any

from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, build_role
from pynetdicom.presentation import PresentationContext

from tui_pacs.core import status
from tui_pacs.core.commitment import (
    ALL_COMMITTED,
    SOME_FAILED,
    STORAGE_COMMITMENT_PUSH_MODEL,
    BadCommitmentDataset,
    CommitmentResult,
    read_report,
)
from tui_pacs.store.commitment_inbox import CommitmentInbox

log = logging.getLogger(__name__)

TRANSFER_SYNTAXES: list[str | UID] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
# N-EVENT-REPORT statuses (PS3.7 10.1.1.1.8).
NO_SUCH_EVENT_TYPE = 0x0113
INVALID_ARGUMENT_VALUE = 0x0115


def request_context() -> PresentationContext:
    """The context of an association that asks for commitment (we are the SCU)."""
    return build_context(STORAGE_COMMITMENT_PUSH_MODEL, TRANSFER_SYNTAXES)


def report_negotiation() -> tuple[PresentationContext, Any]:
    """The context and role selection of an association that reports a
    commitment (we are the SCP, so we ask for that role)."""
    return (build_context(STORAGE_COMMITMENT_PUSH_MODEL, TRANSFER_SYNTAXES),
            build_role(STORAGE_COMMITMENT_PUSH_MODEL, scu_role=False, scp_role=True))


def accept_commitment(ae: Any) -> None:
    """Let ``ae`` accept requests for commitment and reports of one, the latter
    from a requestor that asks for the SCP role."""
    ae.add_supported_context(STORAGE_COMMITMENT_PUSH_MODEL, TRANSFER_SYNTAXES,
                             scu_role=True, scp_role=True)


def receive_report(event: Any, inbox: CommitmentInbox,
                   ) -> tuple[int, CommitmentResult | None, str]:
    """Read the report of an EVT_N_EVENT_REPORT and keep it: (status for the
    remote, the report or None, what went wrong)."""
    assoc = event.assoc
    remote = assoc.acceptor if assoc.is_requestor else assoc.requestor
    reporter = str(remote.ae_title or "").strip()
    event_type = int(event.event_type or 0)
    if event_type not in (ALL_COMMITTED, SOME_FAILED):
        return (NO_SUCH_EVENT_TYPE, None, f"{reporter} sent a storage commitment event of "
                f"type {event_type}, which is not a commitment result")
    try:
        result = read_report(event_type, event.event_information, reporter,
                             same_association=assoc.is_requestor)
    except BadCommitmentDataset as exc:
        return (INVALID_ARGUMENT_VALUE, None,
                f"a storage commitment report from {reporter} is unusable: {exc}")
    except Exception as exc:  # the event information does not decode
        return (INVALID_ARGUMENT_VALUE, None,
                f"a storage commitment report from {reporter} cannot be decoded: {exc}")
    try:
        inbox.deliver(result)
    except OSError as exc:
        return (status.PROCESSING_FAILURE, result,
                f"the storage commitment report of transaction {result.transaction_uid} "
                f"cannot be kept: {exc.strerror or exc}")
    return status.SUCCESS, result, ""


class ReportReceiver:
    """EVT_N_EVENT_REPORT handler of the commit command: on its own association
    and on its temporary listener."""

    def __init__(self, inbox: CommitmentInbox) -> None:
        self._inbox = inbox

    def handle(self, event: Any) -> tuple[int, None]:
        code, _, problem = receive_report(event, self._inbox)
        if problem:
            log.warning("%s", problem)
        return code, None
