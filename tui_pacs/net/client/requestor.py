"""Associations we request, run by the tuned machinery of the pynetdicom adapter.

``AE.associate()`` always builds pynetdicom's own Association, whose two
threads poll with 1 ms sleeps: as the receiving end of a C-GET that cost
about 10 ms per instance. :func:`request_association` is its equivalent for
a :class:`~tui_pacs.net.wire.pynetdicom_adapter.TunedAssociation` in requestor mode: the
same steps (socket, requestor and acceptor details, presentation contexts
numbered 1, 3, 5..., extended negotiation, handlers, A-ASSOCIATE-RQ, then
the association thread when accepted), with three differences:

* the requested contexts are used as given, not deep-copied (their context
  IDs are set here; callers build them for one association);
* our maximum PDU size is ``ae.maximum_pdu_size`` (pynetdicom proposes its
  16 KiB default unless told otherwise, which makes a peer cut every image
  into dozens of PDUs);
* pynetdicom's per-PDU and per-message log handlers are left unbound
  unless its logger shows debug messages.

Like ``AE.associate()``, it returns the association whether or not it was
accepted: callers look at ``is_established``, ``is_rejected`` and
``is_aborted`` (:mod:`tui_pacs.net.client.association` turns them into diagnoses).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime
from ssl import SSLContext
from typing import Any

from pynetdicom import AE
from pynetdicom._globals import MODE_REQUESTOR
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AddressInformation

from tui_pacs.net.wire.pynetdicom_adapter import TunedAssociation, TunedSocket, unbind_log_handlers
from tui_pacs.net.wire.syntaxes import MAX_CONTEXTS


def request_association(
    ae: AE,
    address: str,
    port: int,
    contexts: Sequence[PresentationContext],
    *,
    ae_title: str,
    ext_neg: Sequence[Any] = (),
    evt_handlers: Sequence[tuple[Any, ...]] = (),
    tls_args: tuple[SSLContext, str] | None = None,
) -> TunedAssociation:
    """Ask ``ae_title`` at ``address``:``port`` for an association, as ``ae``.

    ``ae`` gives our AE title, timeouts and maximum PDU size. Blocks until
    the association is accepted, rejected or aborted, or the connection
    failed; raises ValueError for no contexts, or more than 128.
    """
    if not 0 < len(contexts) <= MAX_CONTEXTS:
        raise ValueError(f"an association proposes 1 to {MAX_CONTEXTS} presentation "
                         f"contexts, not {len(contexts)}")
    assoc = TunedAssociation(ae, MODE_REQUESTOR)
    assoc.name = f"RequestorThread@{datetime.now():%Y%m%d%H%M%S}"

    remote = AddressInformation.from_addr_port(address, port)
    local = AddressInformation.from_tuple(
        ("::0", 0) if remote.address_family == socket.AF_INET6 else ("", 0))
    sock = TunedSocket(assoc, address=local)
    sock.tls_args = tls_args
    assoc.set_socket(sock)

    assoc.acceptor.ae_title = ae_title
    assoc.acceptor.address_info = remote
    # Nominal until the connection is made (the socket then records it).
    assoc.requestor.address_info = local
    assoc.requestor.ae_title = ae.ae_title
    assoc.requestor.maximum_length = ae.maximum_pdu_size
    assoc.requestor.implementation_class_uid = ae.implementation_class_uid
    assoc.requestor.implementation_version_name = ae.implementation_version_name
    for item in ext_neg:
        assoc.requestor.add_negotiation_item(item)

    for number, context in enumerate(contexts):
        context.context_id = 2 * number + 1
    assoc.requestor.requested_contexts = list(contexts)

    for handler in evt_handlers:
        assoc.bind(*handler)
    unbind_log_handlers(assoc)

    assoc.request()
    if assoc.is_established:
        assoc.start()
    return assoc
