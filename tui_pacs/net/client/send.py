"""C-STORE as a service class user: sending files and archived instances.

Blocking, for a worker thread; the associations are
:class:`~tui_pacs.net.client.upper_layer.StoreAssociation` (see there why).
Presentation contexts come from what is actually sent
(:func:`~tui_pacs.net.wire.syntaxes.storage_contexts`): for each SOP class, one
per encoding the files are in, and one with the uncompressed little endian
syntaxes left. More than 128 contexts are split over several associations,
one after the other.

An instance goes out as the bytes of its file, never decoded, when the
remote accepted its encoding. Otherwise it is converted where pydicom can,
to Explicit VR Little Endian or, when that is not accepted, Implicit VR
Little Endian: compressed pixel data is decompressed, deflated data is
inflated, big endian data is made little endian
(:mod:`~tui_pacs.net.wire.byte_order`), and explicit and implicit VR are swapped.
:func:`payload` is the one place that converts, for ``send``, C-MOVE and
C-GET. What cannot be sent is listed with the reason, and the rest still
goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import encode
from pynetdicom.presentation import PresentationContext

from tui_pacs.core import status
from tui_pacs.core.diagnosis import status_meaning
from tui_pacs.core.remote import RemoteFailure, SendFailure, SendProgress, SendReport
from tui_pacs.net.client.association import Cancellation, Session, when_busy_retry
from tui_pacs.net.client.upper_layer import StoreAssociation
from tui_pacs.net.wire.byte_order import to_little_endian
from tui_pacs.net.wire.commands import ERROR_COMMENT, Command
from tui_pacs.net.wire.syntaxes import MAX_CONTEXTS, UNCOMPRESSED, storage_contexts
from tui_pacs.store.integrity import MalformedDataset, RawElements, scan_file_meta

ProgressCallback = Callable[[SendProgress], None]
# Preamble and "DICM": the file meta group starts after them.
_META_START = 132
# Enough of a file for its meta header, nearly always.
_HEAD_BYTES = 16_384
_SOP_CLASS, _SOP_INSTANCE, _SYNTAX = 0x00020002, 0x00020003, 0x00020010


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
    """What a file's meta header says it is, or, without one, its dataset."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(_HEAD_BYTES)
            meta = _file_meta(head)
            if meta is None and len(head) == _HEAD_BYTES:
                meta = _file_meta(head + fp.read())
    except OSError as exc:
        raise NotSendable(exc.strerror or str(exc)) from None
    if meta is not None:
        sop_class, sop_instance, syntax = (_text(meta, tag)
                                           for tag in (_SOP_CLASS, _SOP_INSTANCE, _SYNTAX))
        if sop_class and sop_instance and syntax:
            return Outgoing(path, sop_class, sop_instance, syntax)
    try:
        ds = dcmread(path, force=True, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many kinds on files that are not DICOM
        raise NotSendable(f"not readable as DICOM: {exc}") from None
    sop_class, sop_instance = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
    if not sop_class or not sop_instance:
        raise NotSendable("not a DICOM instance (no SOPClassUID or SOPInstanceUID)")
    implicit, little = ds.original_encoding
    if not little:
        raise NotSendable("a big endian dataset without a file meta header")
    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return Outgoing(path, str(sop_class), str(sop_instance), syntax, streamable=False)


def _file_meta(data: bytes) -> RawElements | None:
    """The file meta group of a Part 10 file's first bytes; None when they hold no
    complete one."""
    if len(data) < _META_START or data[128:_META_START] != b"DICM":
        return None
    try:
        return scan_file_meta(data, _META_START)[0]
    except MalformedDataset:
        return None


def _text(meta: RawElements, tag: int) -> str:
    value = meta.get(tag)
    return value[1].decode("ascii", "replace").strip("\0 ") if value else ""


def contexts_for(items: Iterable[Outgoing]) -> list[PresentationContext]:
    """The contexts to propose for ``items`` (see :func:`storage_contexts`)."""
    return storage_contexts((item.sop_class, item.transfer_syntax) for item in items)


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
    associations = 0
    for number, group in enumerate(split_by_contexts(items)):
        if cancellation.requested:
            break
        try:
            def open_link(group: list[Outgoing] = group) -> StoreAssociation:
                return StoreAssociation.open(session, contexts_for(group))
            link = when_busy_retry(open_link, cancellation)
        except RemoteFailure as exc:
            if number == 0:
                raise
            for item in group:
                sending.failed(item.source, f"not sent: {exc.diagnosis.summary}")
            continue
        associations += 1
        cancellation.attach(link)
        try:
            _send_group(link, group, sending, cancellation)
        finally:
            link.release()
    return SendReport(session.target, sending.total, sending.sent, sending.warnings,
                      sending.decompressed, tuple(sending.failures), associations,
                      time.perf_counter() - started, cancelled=cancellation.requested)


def _send_group(link: StoreAssociation, group: list[Outgoing], sending: _Sending,
                cancellation: Cancellation) -> None:
    accepted = link.accepted
    lost = ""
    for item in group:
        if cancellation.requested:
            return
        if lost:
            sending.failed(item.source, f"not sent: {lost}")
            continue
        try:
            syntax, data, decompressed = payload(item, accepted)
        except NotSendable as exc:
            sending.failed(item.source, str(exc))
            continue
        try:
            answer = link.store(item.sop_class, item.sop_instance, syntax, data)
        except RemoteFailure as exc:
            lost = exc.diagnosis.summary
            sending.failed(item.source, lost)
            continue
        code = answer.status if answer.status is not None else 0xFFFF
        category = status.category(code)
        if category == "failure":
            sending.failed(item.source, _status_text(code, answer))
            continue
        if decompressed:
            sending.decompressed += 1
        if category == "warning":
            sending.warnings += 1
            sending.succeeded(item, _status_text(code, answer))
        else:
            sending.succeeded(item)


def payload(item: Outgoing, accepted: set[tuple[str, str]]
            ) -> tuple[str, bytes | memoryview, bool]:
    """(transfer syntax, encoded dataset, decompressed?) for a context the remote
    accepted; raises NotSendable."""
    if item.streamable and (item.sop_class, item.transfer_syntax) in accepted:
        try:
            data = item.path.read_bytes()
            _, offset = scan_file_meta(data, _META_START)
        except OSError as exc:
            raise NotSendable(f"cannot read: {exc.strerror or exc}") from None
        except MalformedDataset as exc:
            raise NotSendable(f"malformed file meta header: {exc}") from None
        return item.transfer_syntax, memoryview(data)[offset:], False
    ds, decompressed = _converted(item, accepted)
    explicit = (item.sop_class, ExplicitVRLittleEndian) in accepted
    syntax = ExplicitVRLittleEndian if explicit else ImplicitVRLittleEndian
    encoded = encode(ds, not explicit, True)
    if encoded is None:
        raise NotSendable("the dataset could not be encoded for the remote")
    return syntax, encoded, decompressed


def _converted(item: Outgoing, accepted: set[tuple[str, str]]) -> tuple[Dataset, bool]:
    """The dataset, ready for an uncompressed context the remote accepted, and
    whether its pixel data had to be decompressed for that."""
    if not any((item.sop_class, syntax) in accepted for syntax in UNCOMPRESSED):
        if not any(sop_class == item.sop_class for sop_class, _ in accepted):
            raise NotSendable(f"the remote does not accept {UID(item.sop_class).name}")
        raise NotSendable(f"the remote accepts {UID(item.sop_class).name} only in "
                          "encodings this file cannot be converted to")
    syntax = UID(item.transfer_syntax)
    try:
        ds = dcmread(item.path, force=True)
    except Exception as exc:  # pydicom raises many kinds on broken files
        raise NotSendable(f"not readable as DICOM: {exc}") from None
    if not syntax.is_little_endian:
        to_little_endian(ds)
    if syntax.is_encapsulated:
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # no decoder for this encoding, or corrupt pixel data
            raise NotSendable(f"the remote accepts only uncompressed data, and "
                              f"{syntax.name} cannot be decompressed here: {exc}") from None
        return ds, True
    return ds, False


def _status_text(code: int, answer: Command) -> str:
    text = f"status 0x{code:04X}"
    if meaning := status_meaning(code, "C-STORE"):
        text += f" ({meaning})"
    comment = answer.text(ERROR_COMMENT)
    return f"{text}: {comment}" if comment else text
