"""Presentation contexts negotiated in the order the requestor prefers.

pynetdicom, as acceptor, takes the first transfer syntax of *its own* list
that the requestor proposed. Offered [JPEG 2000, Explicit VR Little Endian]
for a compressed image, it would pick the uncompressed one and make the
sender transcode (DCMTK's storescu then fails: it does not decompress JPEG
2000). Before negotiation, the supported contexts are narrowed to what this
association requested, each in the requestor's order, so data arrives as the
sender holds it.

Building a presentation context validates every UID in it, which made this
a tenth of an association's set-up time: the tailored contexts are kept and
shared (negotiation only reads them), since peers propose the same ones
association after association.
"""

from __future__ import annotations

from typing import Any

from pynetdicom.presentation import PresentationContext

_CACHE_LIMIT = 4096
_tailored: dict[tuple[Any, ...], PresentationContext] = {}


def prefer_requestor_order(assoc: Any) -> None:
    """Call from EVT_REQUESTED, before pynetdicom negotiates."""
    requested = assoc.requestor.primitive.presentation_context_definition_list
    supported = {cx.abstract_syntax: cx for cx in assoc.acceptor.supported_contexts}
    wanted: dict[str, list[str]] = {}
    for rq_context in requested:
        order = wanted.setdefault(rq_context.abstract_syntax, [])
        order.extend(ts for ts in rq_context.transfer_syntax if ts not in order)
    tailored = []
    for abstract_syntax, order in wanted.items():
        base = supported.get(abstract_syntax)
        if base is None:
            continue
        ours = set(base.transfer_syntax)
        usable = [ts for ts in order if ts in ours]
        if not usable:
            tailored.append(base)  # negotiation rejects it with the right reason
            continue
        tailored.append(_context(abstract_syntax, tuple(usable), base.scu_role, base.scp_role))
    assoc.acceptor.supported_contexts = tailored


def _context(abstract_syntax: str, transfer_syntaxes: tuple[str, ...], scu_role: Any,
             scp_role: Any) -> PresentationContext:
    key = (abstract_syntax, transfer_syntaxes, scu_role, scp_role)
    context = _tailored.get(key)
    if context is None:
        if len(_tailored) >= _CACHE_LIMIT:
            _tailored.clear()
        context = PresentationContext()
        context.abstract_syntax = abstract_syntax
        context.transfer_syntax = list(transfer_syntaxes)
        context.scu_role = scu_role
        context.scp_role = scp_role
        _tailored[key] = context
    return context
