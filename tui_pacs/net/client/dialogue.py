"""The requests we make on one association, and what the wire showed of them.

Each request on an association carries its own Message ID (PS3.7 9.1.1.1):
a remote that tracks them by ID, or logs them, must not see ID 1 twice.
A C-CANCEL is only for a request whose responses are still pending: a
remote may abort the association on one that names a finished request
(pixelmed does). And when the remote ends the association, the diagnosis
follows what happened before: a remote that aborts after our C-CANCEL, or
after answering the same service already, is not refusing our AE title.
"""

from __future__ import annotations

from pynetdicom.association import Association

from tui_pacs.core import diagnosis
from tui_pacs.core.remote import Diagnosis
from tui_pacs.net.client.association import Session


class Dialogue:
    """The requests of one association (pynetdicom's), from one thread."""

    def __init__(self, session: Session, assoc: Association) -> None:
        self.session = session
        self.assoc = assoc
        self._last_id = 0
        self._answered: set[str] = set()
        self._cancelled = False

    def next_id(self) -> int:
        """The Message ID of the next request: 1, 2, 3... (65535 wraps to 1)."""
        self._last_id = self._last_id % 0xFFFF + 1
        return self._last_id

    def answered(self, service: str) -> None:
        """The remote answered a request of ``service`` (its final response came)."""
        self._answered.add(service)

    def response_waiting(self) -> bool:
        """Whether the remote's next response has already arrived, unread."""
        return self.assoc.dimse.peek_msg()[1] is not None

    def cancel(self, message_id: int, sop_class: str) -> None:
        """C-CANCEL the request ``message_id``, whose responses are still pending."""
        self._cancelled = True
        self.assoc.send_c_cancel(message_id, query_model=sop_class)

    def lost(self, service: str, waited: float) -> Diagnosis:
        """Why a request of ``service`` got no response after ``waited`` seconds:
        a timeout, or the remote ended the association (and what came before)."""
        session = self.session
        if not self.assoc.is_aborted and waited >= session.dimse_timeout * 0.9:
            return diagnosis.no_response(session.target, service, session.dimse_timeout)
        if self._cancelled:
            return diagnosis.aborted_after_cancel(session.target, service)
        if service in self._answered:
            return diagnosis.aborted_after_answering(session.target, service)
        return diagnosis.aborted_during(session.target, service, session.calling_aet)
