"""Association life cycle: the access decision at request time, and one event
(hence one log line) when an association is accepted, rejected, released or
aborted."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from pynetdicom import evt

from tui_pacs.core import association_threads
from tui_pacs.core.events import AssociationEvent
from tui_pacs.net.server.context import AssociationStats, Peer, ServerContext
from tui_pacs.net.server.policy import Refusal
from tui_pacs.net.wire.negotiation import prefer_requestor_order

log = logging.getLogger(__name__)

# A-ASSOCIATE-RJ (result, source, diagnostic), PS3.8 9.3.4.
_REJECTIONS = {
    Refusal.CALLED_AE_TITLE: (0x01, 0x01, 0x07),
    Refusal.CALLING_AE_TITLE: (0x01, 0x01, 0x03),
    Refusal.TOO_MANY_ASSOCIATIONS: (0x02, 0x03, 0x02),
}


class AssociationMonitor:
    """pynetdicom notification handlers for the association life cycle."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[Any, Any]]:
        return [
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_ACCEPTED, self.on_accepted),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_RELEASED, self.on_released),
            (evt.EVT_ABORTED, self.on_aborted),
        ]

    def on_requested(self, event: Any) -> None:
        assoc = event.assoc
        stats = self.context.stats(assoc)  # starts the association's clock
        association_threads.register(stats.number, *_threads(assoc))
        peer = Peer.of(assoc)
        active = _active_acceptors(assoc) + self.context.active_elsewhere()
        refusal = self.context.policy.association_refusal(peer.calling_aet, peer.called_aet,
                                                          active=active)
        if refusal is None:
            prefer_requestor_order(assoc)
            return
        detail = self._explain(refusal, peer)
        self._report(assoc, "rejected", detail)
        assoc.acse.send_reject(*_REJECTIONS[refusal])
        # As pynetdicom does for its own rejections: wait until the
        # A-ASSOCIATE-RJ is out and the connection closed.
        assoc.kill()

    def on_accepted(self, event: Any) -> None:
        assoc = event.assoc
        self.context.stats(assoc).accepted = True
        contexts = len(assoc.accepted_contexts)
        self._report(assoc, "accepted", f"{contexts} presentation context"
                     f"{'' if contexts == 1 else 's'} accepted", final=False)

    def on_rejected(self, event: Any) -> None:
        # pynetdicom's own rejections (ours are reported in on_requested).
        self._report(event.assoc, "rejected", "association request not acceptable")

    def on_released(self, event: Any) -> None:
        self._report(event.assoc, "released", self._summary(event.assoc))

    def on_aborted(self, event: Any) -> None:
        self._report(event.assoc, "aborted", self._summary(event.assoc))

    def on_end(self, assoc: Any) -> None:
        """TunedServer callback: the association's thread is ending.

        Released and aborted associations were reported already; this
        catches the others (the connection dropped, the DUL gave up).
        """
        stats = self.context.stats(assoc)
        association_threads.forget(*_threads(assoc))
        if stats.reported:
            return
        if stats.accepted:
            self._report(assoc, "aborted", "connection lost; " + self._summary(assoc))
        elif getattr(assoc.requestor, "primitive", None) is None:
            log.info("connection from %s closed without an association request",
                     assoc.requestor.address)

    def tls_failed(self, address: Any, exc: Exception) -> None:
        """TunedServer callback: a client failed the TLS handshake."""
        host = address[0] if isinstance(address, tuple) else str(address)
        self.context.emit(AssociationEvent(
            time=datetime.now(), peer=str(host), calling_aet="", called_aet="",
            kind="rejected", detail=f"TLS handshake failed: {_tls_reason(exc)}"))

    # --- helpers ------------------------------------------------------------------

    def _report(self, assoc: Any, kind: str, detail: str, final: bool = True) -> None:
        stats = self.context.stats(assoc)
        with self._lock:
            if stats.reported:
                return
            stats.reported = final
        peer = Peer.of(assoc)
        duration = time.monotonic() - stats.started if final else None
        self.context.emit(AssociationEvent(
            time=datetime.now(), peer=peer.address, calling_aet=peer.calling_aet,
            called_aet=peer.called_aet, kind=kind, detail=detail, duration=duration,
            association=stats.number))

    def _explain(self, refusal: Refusal, peer: Peer) -> str:
        settings = self.context.settings
        if refusal is Refusal.CALLED_AE_TITLE:
            return (f"{refusal.value}: called {peer.called_aet!r}, this node is "
                    f"{settings.node.aet!r} (access.check_called_aet is on)")
        if refusal is Refusal.CALLING_AE_TITLE:
            return (f"{refusal.value}: {peer.calling_aet!r} may use no service here "
                    "(see [access] and [[modalities]])")
        return (f"{refusal.value}: already {settings.limits.max_associations} "
                "associations (limits.max_associations)")

    def _summary(self, assoc: Any) -> str:
        stats: AssociationStats = self.context.stats(assoc)
        parts = [f"{stats.operations} operation{'' if stats.operations == 1 else 's'}"]
        if stats.stored:
            parts.append(f"{stats.stored} instance{'' if stats.stored == 1 else 's'} stored "
                         f"({stats.bytes_received / 1_048_576:.1f} MB)")
        if stats.failed:
            parts.append(f"{stats.failed} failed")
        return ", ".join(parts)


def _active_acceptors(assoc: Any) -> int:
    """Associations this AE accepted that are still running, this one included.

    Connections still waiting for their A-ASSOCIATE-RQ do not count: port
    scanners and stalled peers would otherwise lock every modality out until
    the ACSE timeout closes them.
    """
    return sum(1 for a in assoc.ae.active_associations
               if a.is_acceptor and getattr(a.requestor, "primitive", None) is not None)


def _threads(assoc: Any) -> tuple[int | None, int | None]:
    """The association's thread and its upper layer's, which pynetdicom logs from."""
    dul = getattr(assoc, "dul", None)
    return assoc.ident, getattr(dul, "ident", None)


def _tls_reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(reason).replace("_", " ").lower()
