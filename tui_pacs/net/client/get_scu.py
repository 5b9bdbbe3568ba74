"""C-GET as a service class user, on our own upper layer (:mod:`tui_pacs.net.client.upper_layer`).

The instances of a C-GET come back as C-STORE requests over the same
association, and each is acknowledged only once the archive holds it
durably. Through pynetdicom, even on the tuned reactor, each instance
crossed three threads and was decoded and answered through pydicom: about
3.5 ms of CPU per CT image, which made a retrieve split over parallel
associations CPU-bound. Here one thread reads each message as its PDUs
come, hands the dataset's bytes to the store callback and writes the
response (about half the CPU per image, measured with bench/retrieve.py).

A C-CANCEL may be sent from another thread while the get is read
(:meth:`GetAssociation.send_c_cancel`); :meth:`abort` from another thread
ends it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Self

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import build_context
from pynetdicom.dsutils import decode, encode
from pynetdicom.presentation import PresentationContext

from tui_pacs.core import diagnosis, status
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.client.association import Session
from tui_pacs.net.client.upper_layer import UpperLayerAssociation
from tui_pacs.net.wire import commands
from tui_pacs.net.wire.commands import (
    AFFECTED_SOP_CLASS,
    AFFECTED_SOP_INSTANCE,
    C_GET_RQ,
    C_GET_RSP,
    C_STORE_RQ,
    C_STORE_RSP,
    COMPLETED,
    ERROR_COMMENT,
    FAILED,
    MESSAGE_ID,
    REMAINING,
    WARNING,
)
from tui_pacs.net.wire.messages import DatasetSink, Message

# A status for the sender and, for failures, a few words that say why.
StoreOutcome = tuple[int, str]


@dataclass(frozen=True)
class Incoming:
    """An instance the remote sends: its identity and its encoded dataset."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    dataset: DatasetSink


@dataclass(frozen=True)
class GetResponse:
    """A C-GET response: its status and sub-operation counts (None when not given)."""

    status: int
    remaining: int | None = None
    completed: int | None = None
    failed: int | None = None
    warning: int | None = None
    comment: str = ""
    # The final response's identifier (Failed SOP Instance UID List), if any.
    identifier: Dataset | None = None

    @property
    def pending(self) -> bool:
        return status.category(self.status) == "pending"


class GetAssociation(UpperLayerAssociation):
    service = "C-GET"

    @classmethod
    def open(cls, session: Session, model: str,
             storage: Sequence[PresentationContext]) -> Self:
        """An association proposing the C-GET ``model`` and the ``storage`` contexts,
        with us as the SCP of their SOP classes; raises RemoteFailure."""
        scp_roles = list(dict.fromkeys(str(cx.abstract_syntax) for cx in storage))
        link = cls._connect(session, [build_context(model), *storage], scp_roles)
        if not any(cx.abstract_syntax == model for cx in link.accepted_contexts.values()):
            link.abort()
            raise RemoteFailure(diagnosis.service_not_accepted(
                session.target, [(UID(model).name, 0x03)]))
        link._model = model
        return link

    _model = ""
    _pending_id: int | None = None

    def get(self, identifier: Dataset, on_store: Callable[[Incoming], StoreOutcome],
            on_pending: Callable[[GetResponse], None], message_id: int = 1) -> GetResponse:
        """Send the C-GET and serve its C-STORE sub-operations until the final
        response, which is returned; pending responses go to ``on_pending``.

        Raises RemoteFailure when the association ends first.
        """
        context_id, context = next((i, cx) for i, cx in self.accepted_contexts.items()
                                   if cx.abstract_syntax == self._model)
        syntax = UID(context.transfer_syntax[0])
        encoded = encode(identifier, syntax.is_implicit_VR, syntax.is_little_endian,
                         syntax.is_deflated)
        command = commands.request(C_GET_RQ, self._model, message_id, has_dataset=True)
        self.send_message(context_id, command, encoded)
        self._pending_id = message_id
        try:
            while True:
                message = self.read_message()
                field = message.command.field
                if field == C_STORE_RQ:
                    self._store(message, on_store)
                    continue
                if field != C_GET_RSP:
                    self.abort()
                    raise RemoteFailure(diagnosis.aborted_during(
                        self._session.target, self.service, self._session.calling_aet))
                response = _response(message, syntax)
                if not response.pending:
                    return response
                on_pending(response)
        finally:
            self._pending_id = None

    def send_c_cancel(self, message_id: int, query_model: str | None = None) -> None:
        """Ask the remote to stop the C-GET ``message_id`` (from any thread)."""
        if not self.is_established or self._pending_id != message_id:
            return
        context_id = next(i for i, cx in self.accepted_contexts.items()
                          if cx.abstract_syntax == self._model)
        try:
            self.send_message(context_id, commands.cancel_request(message_id))
        except RemoteFailure:
            pass  # the association ended meanwhile: nothing left to cancel

    def _store(self, message: Message, on_store: Callable[[Incoming], StoreOutcome]) -> None:
        """Serve one C-STORE sub-operation: store, then answer."""
        command = message.command
        sop_class = command.text(AFFECTED_SOP_CLASS)
        sop_instance = command.text(AFFECTED_SOP_INSTANCE)
        context = self.accepted_contexts.get(message.context_id)
        if context is None or not context.as_scp or context.abstract_syntax != sop_class:
            outcome = (status.SOP_CLASS_NOT_SUPPORTED,
                       "not a storage context accepted for this SOP class")
        elif message.dataset is None:
            outcome = (status.CANNOT_UNDERSTAND, "no dataset in the request")
        else:
            outcome = on_store(Incoming(sop_class, sop_instance,
                                        str(context.transfer_syntax[0]), message.dataset))
        code, comment = outcome
        self.send_message(message.context_id, commands.response(
            C_STORE_RSP, sop_class, command.number(MESSAGE_ID) or 0, code,
            sop_instance=sop_instance, comment=comment if code != status.SUCCESS else ""))


def _response(message: Message, syntax: UID) -> GetResponse:
    command = message.command
    identifier = None
    # A response's identifier is read into memory (only C-STORE requests go to files).
    if isinstance(message.dataset, BytesIO) and message.dataset.tell():
        message.dataset.seek(0)
        try:
            identifier = decode(message.dataset, syntax.is_implicit_VR,
                                syntax.is_little_endian, syntax.is_deflated)
        except Exception:  # a broken identifier: the counts still tell the outcome
            identifier = None
    code = command.status
    return GetResponse(
        status=code if code is not None else status.PROCESSING_FAILURE,
        remaining=command.number(REMAINING),
        completed=command.number(COMPLETED),
        failed=command.number(FAILED),
        warning=command.number(WARNING),
        comment=command.text(ERROR_COMMENT),
        identifier=identifier,
    )

