"""C-STORE as a service class user: sending files and archived instances.

Blocking, for a worker thread. Presentation contexts come from what is
actually sent: for each SOP class, one context with the uncompressed
transfer syntaxes and one per other encoding the files are in. More than
128 contexts are split over several associations, one after the other.

An instance goes out as the bytes of its file, never decoded, when the
remote accepted its encoding. Otherwise it is converted where pydicom can:
compressed pixel data is decompressed when the remote accepts only
uncompressed data, deflated data is inflated, and explicit and implicit VR
are swapped. What cannot be sent is listed with the reason, and the rest
still goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import _config as pynetdicom_config
from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from tui_pacs.core import status
from tui_pacs.core.diagnosis import STATUS_MEANINGS
from tui_pacs.core.remote import RemoteFailure, SendFailure, SendProgress, SendReport
from tui_pacs.net.association import Cancellation, Session, open_association
from tui_pacs.net.scu import release
from tui_pacs.net.syntaxes import MAX_CONTEXTS, UNCOMPRESSED

# send_c_store(path) then streams the dataset from the file, PDU by PDU,
# without decoding it. Process-wide: every send_c_store(path) in tui-pacs
# needs a context accepted in the file's own transfer syntax, which is what
# the contexts below are planned for.
pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True

ProgressCallback = Callable[[SendProgress], None]


class NotSendable(Exception):
    """A file that cannot be sent at all (not DICOM, no identifiers)."""


@dataclass(frozen=True)
class Outgoing:
    """One instance to send: its file and what its file meta says it is."""

    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    # The file has a complete file meta header, so it can be streamed as it is.
    streamable: bool = True

    @property
    def source(self) -> str:
        return str(self.path)


def inspect_file(path: Path) -> Outgoing:
    """Read a file's meta header (cheap), or its dataset header when it has none."""
    try:
        meta = read_file_meta_info(path)
        sop_class = meta.get("MediaStorageSOPClassUID")
        sop_instance = meta.get("MediaStorageSOPInstanceUID")
        syntax = meta.get("TransferSyntaxUID")
        if sop_class and sop_instance and syntax:
            return Outgoing(path, str(sop_class), str(sop_instance), str(syntax))
    except InvalidDicomError:
        pass  # no preamble: perhaps a bare dataset
    except OSError as exc:
        raise NotSendable(exc.strerror or str(exc)) from None
    try:
        ds = dcmread(path, force=True, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many kinds on files that are not DICOM
        raise NotSendable(f"not readable as DICOM: {exc}") from None
    sop_class, sop_instance = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
    if not sop_class or not sop_instance:
        raise NotSendable("not a DICOM instance (no SOPClassUID or SOPInstanceUID)")
    implicit, little = ds.original_encoding
    syntax = "1.2.840.10008.1.2" if implicit else ExplicitVRLittleEndian
    if not little:
        raise NotSendable("a big endian dataset without a file meta header")
    return Outgoing(path, str(sop_class), str(sop_instance), str(syntax), streamable=False)


def contexts_for(items: Iterable[Outgoing]) -> list[PresentationContext]:
    """One uncompressed context per SOP class, plus one per other encoding found."""
    encodings: dict[str, set[str]] = {}
    for item in items:
        encodings.setdefault(item.sop_class, set()).add(item.transfer_syntax)
    contexts = []
    for sop_class, syntaxes in encodings.items():
        contexts.append(build_context(sop_class, list(UNCOMPRESSED)))
        contexts += [build_context(sop_class, [syntax])
                     for syntax in sorted(syntaxes) if syntax not in UNCOMPRESSED]
    return contexts


def split_by_contexts(items: list[Outgoing]) -> list[list[Outgoing]]:
    """Groups of items whose contexts fit one association, in the order given."""
    by_class: dict[str, list[Outgoing]] = {}
    for item in items:
        by_class.setdefault(item.sop_class, []).append(item)
    groups: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    used = 0
    for members in by_class.values():
        needed = len(contexts_for(members))
        if current and used + needed > MAX_CONTEXTS:
            groups.append(current)
            current, used = [], 0
        current += members
        used += needed
    if current:
        groups.append(current)
    order = {id(item): n for n, item in enumerate(items)}
    return [sorted(group, key=lambda item: order[id(item)]) for group in groups]


class _Sending:
    """Counts and progress over all associations of one send."""

    def __init__(self, total: int, on_progress: ProgressCallback | None) -> None:
        self.total = total
        self.sent = 0
        self.warnings = 0
        self.decompressed = 0
        self.failures: list[SendFailure] = []
        self._on_progress = on_progress

    @property
    def done(self) -> int:
        return self.sent + len(self.failures)

    def succeeded(self, item: Outgoing, detail: str = "") -> None:
        self.sent += 1
        self._notify(item.source, True, detail)

    def failed(self, source: str, reason: str) -> None:
        self.failures.append(SendFailure(source, reason))
        self._notify(source, False, reason)

    def _notify(self, source: str, ok: bool, detail: str) -> None:
        if self._on_progress is not None:
            self._on_progress(SendProgress(self.done, self.total, source, ok, detail))


def send(session: Session, items: list[Outgoing], unreadable: list[SendFailure],
         on_progress: ProgressCallback | None, cancellation: Cancellation) -> SendReport:
    """C-STORE every item; ``unreadable`` are files already known not to be sendable.

    Raises RemoteFailure when not even the first association can be opened.
    """
    started = time.perf_counter()
    sending = _Sending(len(items) + len(unreadable), on_progress)
    for failure in unreadable:
        sending.failed(failure.source, failure.reason)
    groups = split_by_contexts(items)
    associations = 0
    for number, group in enumerate(groups):
        if cancellation.requested:
            break
        try:
            assoc, _ = open_association(session, contexts_for(group),
                                        cancellation=cancellation)
        except RemoteFailure as exc:
            if number == 0:
                raise
            for item in group:
                sending.failed(item.source, f"not sent: {exc.diagnosis.summary}")
            continue
        associations += 1
        try:
            _send_group(session, assoc, group, sending, cancellation)
        finally:
            release(assoc)
    return SendReport(session.target, sending.total, sending.sent, sending.warnings,
                      sending.decompressed, tuple(sending.failures), associations,
                      time.perf_counter() - started, cancelled=cancellation.requested)


def _send_group(session: Session, assoc: Association, group: list[Outgoing],
                sending: _Sending, cancellation: Cancellation) -> None:
    accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
    for position, item in enumerate(group):
        if cancellation.requested:
            return
        if not assoc.is_established:
            for rest in group[position:]:
                sending.failed(rest.source, "not sent: the remote ended the association")
            return
        if item.streamable and (item.sop_class, item.transfer_syntax) in accepted:
            payload: Path | Dataset = item.path
            converted = False
        else:
            try:
                payload, converted = _converted(item, accepted)
            except NotSendable as exc:
                sending.failed(item.source, str(exc))
                continue
        answer = assoc.send_c_store(payload)
        code = answer.get("Status") if answer is not None else None
        if code is None:
            sending.failed(item.source, "no response from the remote "
                           f"within {session.dimse_timeout:g} s")
            assoc.abort()
            continue
        category = status.category(int(code))
        if category == "failure":
            sending.failed(item.source, _status_text(int(code), answer))
            continue
        if converted:
            sending.decompressed += 1
        if category == "warning":
            sending.warnings += 1
            sending.succeeded(item, _status_text(int(code), answer))
        else:
            sending.succeeded(item)


def _converted(item: Outgoing, accepted: set[tuple[str, str]]) -> tuple[Dataset, bool]:
    """The dataset, ready for an uncompressed context the remote accepted, and
    whether its pixel data had to be decompressed for that."""
    if not any((item.sop_class, syntax) in accepted for syntax in UNCOMPRESSED):
        if not any(sop_class == item.sop_class for sop_class, _ in accepted):
            raise NotSendable(f"the remote does not accept {UID(item.sop_class).name}")
        raise NotSendable(f"the remote accepts {UID(item.sop_class).name} only in "
                          "encodings this file cannot be converted to")
    syntax = UID(item.transfer_syntax)
    if not syntax.is_little_endian:
        raise NotSendable(f"the remote does not accept {syntax.name}, and big endian "
                          "data is not converted")
    try:
        ds = dcmread(item.path, force=True)
    except Exception as exc:  # pydicom raises many kinds on broken files
        raise NotSendable(f"not readable as DICOM: {exc}") from None
    if syntax.is_encapsulated:
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # no decoder for this encoding, or corrupt pixel data
            raise NotSendable(f"the remote accepts only uncompressed data, and "
                              f"{syntax.name} cannot be decompressed here: {exc}") from None
        return ds, True
    # Deflated data was inflated on reading; pynetdicom swaps explicit and implicit VR.
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if syntax.is_deflated else syntax
    return ds, False


def _status_text(code: int, answer: Dataset) -> str:
    text = f"status 0x{code:04X}"
    if meaning := STATUS_MEANINGS.get(code):
        text += f" ({meaning})"
    comment = answer.get("ErrorComment")
    return f"{text}: {comment}" if comment else text
