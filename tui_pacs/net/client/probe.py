"""Which SOP classes a remote accepts in which transfer syntaxes: negotiation only.

Blocking, for a worker thread. Each association proposes up to 128
presentation contexts, is accepted or not, and is released without a
request. Two rounds keep their number down:

1. every SOP class in one context that offers all its syntaxes: the remote
   accepts a context with one of them, which tells which classes it takes
   at all (two associations for the ~180 classes);
2. each syntax not yet seen accepted, for the accepted classes only, in a
   context of its own (a remote picks one syntax per context, so a pair
   can only be tested alone).

A remote that accepts none of one association's contexts either ends it
once accepted (pynetdicom, Orthanc) or rejects it (DCMTK's wlmscpfs, with
"no reason given"): either answers "refused" for all of them. A rejection
is read that way only after an association of the same probe was
accepted, when it can no longer be about our AE title; the first
association proposes Verification, which almost every node accepts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from pydicom.uid import UID
from pynetdicom import build_context
from pynetdicom.presentation import AllStoragePresentationContexts, PresentationContext
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from tui_pacs.core import diagnosis
from tui_pacs.core.capabilities import (
    COMMITMENT,
    NON_IMAGE_SYNTAXES,
    QUERY_RETRIEVE,
    STORAGE,
    SYNTAXES,
    VERIFICATION,
    WORKLIST,
    ClassResult,
    ProbeReport,
)
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.net.client.association import (
    Cancellation,
    Cancelled,
    Session,
    open_association,
    when_busy_retry,
)
from tui_pacs.net.client.scu import release
from tui_pacs.net.client.tls_check import inspect_tls
from tui_pacs.net.wire.syntaxes import MAX_CONTEXTS


def catalogue() -> list[tuple[str, str, tuple[str, ...]]]:
    """(SOP class UID, group, syntaxes to ask) for every class a probe asks about."""
    other = [(Verification, VERIFICATION),
             (PatientRootQueryRetrieveInformationModelFind, QUERY_RETRIEVE),
             (PatientRootQueryRetrieveInformationModelMove, QUERY_RETRIEVE),
             (PatientRootQueryRetrieveInformationModelGet, QUERY_RETRIEVE),
             (StudyRootQueryRetrieveInformationModelFind, QUERY_RETRIEVE),
             (StudyRootQueryRetrieveInformationModelMove, QUERY_RETRIEVE),
             (StudyRootQueryRetrieveInformationModelGet, QUERY_RETRIEVE),
             (ModalityWorklistInformationFind, WORKLIST),
             (StorageCommitmentPushModel, COMMITMENT)]
    every_syntax = tuple(uid for _, uid, _ in SYNTAXES)
    return ([(uid, group, NON_IMAGE_SYNTAXES) for uid, group in other]
            + [(str(cx.abstract_syntax), STORAGE, every_syntax)
               for cx in AllStoragePresentationContexts])


class _Negotiator:
    """Opens the associations of one probe, and keeps what the remote said of itself."""

    def __init__(self, session: Session, cancellation: Cancellation) -> None:
        self.session = session
        self.cancellation = cancellation
        self.associations = 0
        self.implementation_class_uid = ""
        self.implementation_version_name = ""
        self.max_pdu = 0
        self._accepted_once = False

    def accepted(self, proposals: Sequence[tuple[str, tuple[str, ...]]],
                 ) -> Iterator[tuple[str, str]]:
        """The (SOP class, transfer syntax) pairs the remote accepts of ``proposals``
        (one context each), over as many associations as they need."""
        for start in range(0, len(proposals), MAX_CONTEXTS):
            if self.cancellation.requested:
                raise Cancelled()
            contexts = [build_context(uid, list(syntaxes))
                        for uid, syntaxes in proposals[start:start + MAX_CONTEXTS]]
            yield from self._negotiate(contexts)

    def _negotiate(self, contexts: list[PresentationContext]) -> list[tuple[str, str]]:
        self.associations += 1
        try:
            assoc, _ = when_busy_retry(lambda: open_association(
                self.session, contexts, cancellation=self.cancellation), self.cancellation)
        except RemoteFailure as exc:
            failure = exc.diagnosis.failure
            if failure is Failure.SERVICE_NOT_ACCEPTED or (
                    self._accepted_once and failure is Failure.ASSOCIATION_REJECTED):
                return []
            raise
        self._accepted_once = True
        try:
            remote = assoc.acceptor
            self.implementation_class_uid = str(remote.implementation_class_uid or "")
            self.implementation_version_name = str(remote.implementation_version_name or "")
            self.max_pdu = int(remote.maximum_length or 0)
            return [(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                    for cx in assoc.accepted_contexts]
        finally:
            release(assoc)


def probe(session: Session, cancellation: Cancellation) -> ProbeReport:
    """What the remote accepts; never raises RemoteFailure (the report carries it)."""
    started = time.perf_counter()
    target = session.target
    tls = None
    negotiator = _Negotiator(session, cancellation)
    classes = catalogue()
    try:
        if target.tls:
            tls = inspect_tls(session)
            if not tls.trusted:
                return ProbeReport(target, session.calling_aet, tls=tls,
                                   diagnosis=diagnosis.certificate_not_trusted(target, tls),
                                   seconds=time.perf_counter() - started)
        found = set(negotiator.accepted([(uid, syntaxes) for uid, _, syntaxes in classes]))
        known = {uid for uid, _ in found}
        found |= set(negotiator.accepted([
            (uid, (syntax,)) for uid, _, syntaxes in classes if uid in known
            for syntax in syntaxes if (uid, syntax) not in found]))
    except RemoteFailure as exc:
        return ProbeReport(target, session.calling_aet, tls=tls, diagnosis=exc.diagnosis,
                           associations=negotiator.associations,
                           seconds=time.perf_counter() - started)
    results = tuple(ClassResult(uid, UID(uid).name, group, syntaxes,
                                frozenset(syntax for syntax in syntaxes if (uid, syntax) in found))
                    for uid, group, syntaxes in classes)
    return ProbeReport(target, session.calling_aet, results,
                       negotiator.implementation_class_uid,
                       negotiator.implementation_version_name, negotiator.max_pdu,
                       negotiator.associations, time.perf_counter() - started, tls)
