"""Running the pieces of a C-GET plan over a few associations at once.

The first association is opened before anything else (again, if the remote
is briefly at its limit): if the remote cannot be reached, the retrieve
fails as a single C-GET would. The others are
opened alongside; one the remote refuses (many PACS limit associations per
AE title) just leaves the pieces to the rest. Each association takes the
next piece when it has finished one, so the pieces stay balanced whatever
their sizes.

A cancellation stops every association (C-CANCEL to the request in
progress, no new pieces). When an association is lost, the others are
stopped and the retrieve fails with that diagnosis, as a single C-GET would.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from functools import partial

from tui_pacs.core import status
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.client.association import Cancellation, Session, when_busy_retry
from tui_pacs.net.client.get_plan import GetPlan, Piece
from tui_pacs.net.client.get_scu import GetAssociation, GetResponse, Incoming, StoreOutcome
from tui_pacs.net.client.receive import Receiver
from tui_pacs.net.client.scu import GET_MODELS
from tui_pacs.net.client.tally import Outcome, Tally, combined
from tui_pacs.net.wire.syntaxes import get_storage_offer

log = logging.getLogger(__name__)


@dataclass
class _Work:
    """A piece, its number in the tally, and what arrived of it."""

    piece: Piece
    number: int
    arrived: set[str] = field(default_factory=set)


class GetRun:
    """The pieces of ``plan``, retrieved into ``receiver``, counted in ``tally``."""

    def __init__(self, session: Session, plan: GetPlan, receiver: Receiver, tally: Tally,
                 cancellation: Cancellation) -> None:
        self._session = session
        self._receiver = receiver
        self._tally = tally
        self._cancellation = cancellation
        # Stops every association on the first failure, without the
        # operation counting as cancelled by its user.
        self._stop = cancellation.branch()
        # The storage contexts proposed, and what they are in words.
        self.offer = get_storage_offer(plan.sop_classes)
        self._model = GET_MODELS[plan.pieces[0].request.model]
        self._queue = deque(_Work(piece, tally.request(piece.instances))
                            for piece in plan.pieces)
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []
        self._failure: RemoteFailure | None = None
        # Associations opened, once run() returns.
        self.associations = 0

    def run(self, associations: int) -> Outcome:
        """Retrieve every piece; raises RemoteFailure when the first association
        cannot be opened, or one is lost on the way."""
        first_cancellation = self._stop.branch()
        first = when_busy_retry(lambda: self._open(first_cancellation), first_cancellation)
        helpers = [threading.Thread(target=self._help, args=(self._stop.branch(),),
                                    name=f"C-GET association {number + 2}", daemon=True)
                   for number in range(min(associations, len(self._queue)) - 1)]
        for helper in helpers:
            helper.start()
        self._serve(first, first_cancellation)
        for helper in helpers:
            helper.join()
        if self._failure is not None:
            raise self._failure
        return combined(self._outcomes, cancelled=bool(self._queue))

    def _open(self, cancellation: Cancellation) -> GetAssociation:
        link = GetAssociation.open(self._session, self._model, self.offer.contexts)
        link.open_dataset = partial(self._receiver.open_dataset,
                                    source_aet=self._session.target.aet)
        cancellation.attach(link)
        with self._lock:
            self.associations += 1
        return link

    def _help(self, cancellation: Cancellation) -> None:
        try:
            link = self._open(cancellation)
        except RemoteFailure as exc:
            log.info("C-GET from %s: one association fewer (%s)", self._session.target,
                     exc.diagnosis.summary)
            return
        self._serve(link, cancellation)

    def _serve(self, link: GetAssociation, cancellation: Cancellation) -> None:
        try:
            message_id = 0
            while (work := self._next(cancellation)) is not None:
                message_id += 1
                cancellation.started(message_id, self._model)
                try:
                    response = link.get(
                        work.piece.request.identifier(),
                        on_store=partial(self._store, work=work),
                        on_pending=partial(self._count, work),
                        message_id=message_id)
                finally:
                    cancellation.finished()
                self._finish(work, response)
        except RemoteFailure as exc:
            with self._lock:
                self._failure = self._failure or exc
            self._stop.request()
        finally:
            link.release()

    def _next(self, cancellation: Cancellation) -> _Work | None:
        with self._lock:
            if cancellation.requested or not self._queue:
                return None
            return self._queue.popleft()

    def _store(self, incoming: Incoming, work: _Work) -> StoreOutcome:
        outcome = self._receiver.store(incoming, self._session.target.aet)
        if outcome[0] == status.SUCCESS:
            work.arrived.add(incoming.sop_instance)
        return outcome

    def _count(self, work: _Work, response: GetResponse, final: bool = False) -> None:
        self._tally.update(work.number, remaining=response.remaining,
                           completed=response.completed, failed=response.failed,
                           warning=response.warning, final=final)

    def _finish(self, work: _Work, response: GetResponse) -> None:
        """Count a piece's final response, and note what it failed to bring."""
        failed = _failed_instances(response)
        listed = work.piece.request.keys.get("SOPInstanceUID", "")
        if not failed and status.category(response.status) == "failure" and work.piece.instances:
            # A failed piece without a list: its instances that did not come.
            failed = tuple(uid for uid in listed.split("\\") if uid not in work.arrived)
            if response.failed is None:
                response = replace(response, failed=len(failed))
        self._count(work, response, final=True)
        with self._lock:
            self._outcomes.append(Outcome(response.status, failed,
                                          response.status == status.CANCEL, response.comment))


def _failed_instances(response: GetResponse) -> tuple[str, ...]:
    value = response.identifier.get("FailedSOPInstanceUIDList") if response.identifier else None
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(uid) for uid in value)

