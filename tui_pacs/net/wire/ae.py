"""Application Entities configured the way tui-pacs wants every association.

TCP_NODELAY on every socket: pynetdicom never sets it, and with Nagle's
algorithm each request/response round trip can wait ~40 ms for a delayed
ACK, which makes C-MOVE and C-GET sub-operations several times slower.
"""

from __future__ import annotations

import socket
from typing import Any

from pynetdicom import AE, evt

from tui_pacs.config import LimitsConfig


def set_nodelay(event: evt.Event) -> None:
    """EVT_CONN_OPEN handler: fires for accepted and for requested connections."""
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # the peer already went away; the association will notice


NODELAY_HANDLERS: list[Any] = [(evt.EVT_CONN_OPEN, set_nodelay)]


def make_ae(ae_title: str, limits: LimitsConfig | None = None) -> AE:
    """An AE with our title, timeouts and PDU size."""
    limits = limits or LimitsConfig()
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = limits.acse_timeout
    ae.dimse_timeout = limits.dimse_timeout
    ae.network_timeout = limits.network_timeout
    ae.connection_timeout = limits.acse_timeout
    ae.maximum_pdu_size = limits.max_pdu
    ae.maximum_associations = limits.max_associations
    return ae


def add_storage_scp_contexts(ae: AE, sop_classes: list[str] | None = None, *,
                             retrieve_roles: bool = False) -> None:
    """Accept storage of every SOP class pynetdicom knows (or those given), in every
    transfer syntax pynetdicom can negotiate, compressed ones included.

    The acceptor keeps the requestor's preference order of transfer syntaxes,
    so data arrives as the sender holds it and is stored without transcoding.
    ``retrieve_roles`` also accepts the SCU role when a C-GET requester asks
    for it (SCP/SCU role selection), so that instances can be sent back.
    """
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts

    roles = {"scu_role": True, "scp_role": True} if retrieve_roles else {}
    classes = sop_classes or [cx.abstract_syntax for cx in AllStoragePresentationContexts
                              if cx.abstract_syntax]
    for sop_class in classes:
        ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES, **roles)
