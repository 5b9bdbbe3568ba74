"""Received datasets into committed instances: the C-STORE half of the archive.

An association thread gets a staging file for a dataset about to arrive
(:meth:`Intake.receive`) and, once it is whole, hands it over
(:meth:`Intake.store_incoming`): its header is checked, it goes to a commit
queue and is fsynced while its group commits, and the call returns once it
is durable and indexed. The commit queue is the archive's own writer in the
node's process (:class:`~tui_pacs.store.writer.IndexWriter`) or, in an
ingest worker process, the channel to that writer
(:mod:`tui_pacs.services.ingest_worker`): the same steps either way, so that
a success means the same wherever an association is served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from tui_pacs.config import StorageConfig
from tui_pacs.core.model import InstanceRecord
from tui_pacs.store import files, ingest, staging
from tui_pacs.store.incoming import IncomingFile
from tui_pacs.store.inflate import TooLarge
from tui_pacs.store.layout import TMP_DIR, instance_relpath
from tui_pacs.store.writer import (
    Outcome,
    SeriesConflict,
    StagedInstance,
    StoreResult,
    WriterClosed,
)

# How long an association thread waits for its group commit.
COMMIT_TIMEOUT = 120.0

# Which destinations (modality names) a received instance is forwarded to.
Router = Callable[[InstanceRecord], Sequence[str]]


class StoreFailure(Exception):
    """An instance was not stored. ``out_of_space``, ``too_large`` and ``invalid`` say why."""

    def __init__(self, message: str, *, out_of_space: bool = False, too_large: bool = False,
                 invalid: bool = False):
        super().__init__(message)
        self.out_of_space = out_of_space
        self.too_large = too_large
        self.invalid = invalid


class Commit(Protocol):
    """An instance handed over for commit (a :class:`concurrent.futures.Future`)."""

    def result(self, timeout: float | None = None) -> StoreResult: ...


class CommitQueue(Protocol):
    """Where staged instances are committed (see :class:`~tui_pacs.store.writer.IndexWriter`)."""

    def expect(self) -> None: ...

    def unexpect(self) -> None: ...

    def submit(self, staged: StagedInstance) -> Commit: ...

    def durable(self, sop_uid: str) -> None: ...


class Intake:
    """Stages received datasets in the archive's tmp/ and commits them.

    ``on_receiving`` is called (in the association thread) with the study of
    each instance before it is committed (the study is being received: see
    :class:`~tui_pacs.store.holds.Receiving`), ``on_committed`` with each
    instance the archive did not already hold.
    """

    def __init__(self, data_dir: Path, storage: StorageConfig, max_dataset_mb: int,
                 commits: CommitQueue, on_committed: Callable[[StoreResult], None],
                 on_receiving: Callable[[str], None]) -> None:
        self.tmp_dir = data_dir / TMP_DIR
        self.storage = storage
        self.max_dataset_mb = max_dataset_mb
        self.max_dataset = max_dataset_mb * 1_048_576
        self.space = files.SpaceGuard(data_dir, storage.min_free_mb * 1_048_576)
        self._commits = commits
        self._on_committed = on_committed
        self._on_receiving = on_receiving

    def receive(self, sop_class: str, sop_instance: str, transfer_syntax: str,
                source_aet: str) -> IncomingFile:
        """A file for a C-STORE dataset about to arrive, written as its fragments
        come (:mod:`tui_pacs.store.incoming`); then :meth:`store_incoming`."""
        prefix = ingest.part10_prefix(sop_class, sop_instance, transfer_syntax, source_aet)
        return IncomingFile(self.tmp_dir, sop_class, sop_instance, prefix, self.max_dataset,
                            self.space)

    def store_incoming(self, incoming: IncomingFile, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult:
        """As :meth:`store_received`, for a dataset that arrived into ``incoming``
        (which this takes over: it is archived or removed)."""
        self._commits.expect()
        try:
            staged = self._stage_incoming(incoming, transfer_syntax, source_aet)
        except BaseException:
            self._commits.unexpect()
            incoming.discard()
            raise
        if staged.checksum is None:
            incoming.close()
            return self._commit(staged, route)
        # The file's fsync and its group's commit each wait for the disk: in
        # parallel they cost one wait instead of two (see StagedInstance).
        try:
            commit = self._submit(staged, route)
        except Exception as exc:
            incoming.close()
            raise commit_failure(exc) from None
        try:
            incoming.sync()  # its name was durable before it was written (staging.py)
        except OSError as exc:
            unsynced: OSError | None = exc
        else:
            unsynced = None
        finally:
            incoming.close()
        result = self._committed(commit)
        if unsynced is not None:
            # Indexed, but not durable: not acknowledged, and left pending for
            # the next start to check against its checksum.
            raise failure_from_os_error(unsynced)
        if result.outcome is not Outcome.DUPLICATE:
            self._commits.durable(result.record.sop_uid)
        return result

    def store_received(self, dataset: bytes | memoryview, transfer_syntax: str,
                       source_aet: str, route: Router | None = None) -> StoreResult:
        """Store a dataset received by C-STORE; blocks the calling (association) thread.

        Returns only when the file is durable and indexed; raises StoreFailure.
        The instance goes to the writer directly: the acknowledgement does not
        wait for the event loop. ``route`` names the destinations to forward it
        to; they are queued in the transaction that indexes it.
        """
        self._commits.expect()
        try:
            staged = self._stage_received(dataset, transfer_syntax, source_aet)
        except BaseException:
            self._commits.unexpect()
            raise
        return self._commit(staged, route)

    def too_large(self, how: str) -> StoreFailure:
        """The refusal of a dataset over the limit; the message (an Error
        Comment, at most 64 characters) names the setting to raise."""
        return StoreFailure(f"dataset {how} max_dataset_mb ({self.max_dataset_mb} MB)",
                            too_large=True)

    def _commit(self, staged: StagedInstance, route: Router | None) -> StoreResult:
        try:
            commit = self._submit(staged, route)
        except Exception as exc:
            raise commit_failure(exc) from None
        return self._committed(commit)

    def _submit(self, staged: StagedInstance, route: Router | None) -> Commit:
        if route is not None:
            staged.forward_to = tuple(route(staged.record))
        self._on_receiving(staged.record.study_uid)
        return self._commits.submit(staged)

    def _committed(self, commit: Commit) -> StoreResult:
        try:
            result = commit.result(COMMIT_TIMEOUT)
        except TimeoutError:
            raise StoreFailure("the index did not commit in time") from None
        except Exception as exc:
            raise commit_failure(exc) from None
        if result.outcome is not Outcome.DUPLICATE:
            self._on_committed(result)
        return result

    def _stage_received(self, dataset: bytes | memoryview, transfer_syntax: str,
                        source_aet: str) -> StagedInstance:
        if len(dataset) > self.max_dataset:
            raise self.too_large("larger than")
        try:
            header = ingest.parse_dataset_bytes(dataset, transfer_syntax, self.max_dataset)
            study, series, sop, sop_class = header.identifiers()
        except ingest.InvalidInstance as exc:
            raise StoreFailure(str(exc), invalid=True) from None
        except TooLarge:
            raise self.too_large("inflates past") from None
        prefix = ingest.part10_prefix(sop_class, sop, transfer_syntax, source_aet)
        size = len(prefix) + len(dataset)
        try:
            self.space.claim(size)
            temporary = staging.write(self.tmp_dir, [prefix, dataset])
        except OSError as exc:
            raise failure_from_os_error(exc) from None
        record = ingest.record_from_header(header, transfer_syntax, size, source_aet)
        return StagedInstance(record, temporary, instance_relpath(study, sop))

    def _stage_incoming(self, incoming: IncomingFile, transfer_syntax: str,
                        source_aet: str) -> StagedInstance:
        if incoming.too_large:
            raise self.too_large("larger than")
        if incoming.error is not None:
            raise failure_from_os_error(incoming.error)
        try:
            if self.storage.overwrite_duplicates:
                # A replacement takes the place of an acknowledged copy: it
                # must be durable before it is committed.
                incoming.sync()
            with incoming.dataset() as dataset:
                staged = self._staged_from(dataset, incoming, transfer_syntax, source_aet)
        except OSError as exc:
            raise failure_from_os_error(exc) from None
        if isinstance(staged, StoreFailure):
            raise staged
        if staged.temporary != incoming.path:
            incoming.discard()  # its dataset went to a copy with the right header
        return staged

    def _staged_from(self, dataset: memoryview, incoming: IncomingFile, transfer_syntax: str,
                     source_aet: str) -> StagedInstance | StoreFailure:
        """The staged instance of an incoming dataset (``dataset``: a view of
        its file's map, or of memory), or why not.

        A failure is returned, not raised: a traceback would keep views of
        the map alive, and the map could not be closed.
        """
        try:
            header = ingest.parse_dataset_bytes(dataset, transfer_syntax, self.max_dataset)
            study, series, sop, sop_class = header.identifiers()
            if (sop, sop_class) != (incoming.sop_instance, incoming.sop_class):
                # The command set named another instance: the header must
                # name the dataset's own (rare; costs a copy).
                return self._stage_received(dataset, transfer_syntax, source_aet)
        except ingest.InvalidInstance as exc:
            return StoreFailure(str(exc), invalid=True)
        except TooLarge:
            return self.too_large("inflates past")
        except StoreFailure as exc:
            return _detached(exc)
        record = ingest.record_from_header(header, transfer_syntax, incoming.file_size,
                                           source_aet)
        return StagedInstance(record, incoming.path, instance_relpath(study, sop),
                              None if self.storage.overwrite_duplicates else incoming.checksum)


def _detached(exc: StoreFailure) -> StoreFailure:
    """``exc`` without the frames it was raised through."""
    exc.__traceback__ = exc.__context__ = exc.__cause__ = None
    return exc


def commit_failure(exc: BaseException) -> StoreFailure:
    """Why an instance could not be committed, as a StoreFailure."""
    if isinstance(exc, StoreFailure):
        return exc
    if isinstance(exc, WriterClosed):
        return StoreFailure(str(exc))
    if isinstance(exc, SeriesConflict):
        return StoreFailure(str(exc), invalid=True)
    if isinstance(exc, OSError):
        return failure_from_os_error(exc)
    # sqlite3 errors: disk I/O, full, corrupt
    if "full" in str(exc).lower():
        return StoreFailure("the disk is full", out_of_space=True)
    return StoreFailure(f"the index could not be written: {exc}")


def failure_from_os_error(exc: OSError) -> StoreFailure:
    if files.is_out_of_space(exc):
        return StoreFailure(f"out of disk space: {exc.strerror or exc}", out_of_space=True)
    return StoreFailure(f"cannot write: {exc.strerror or exc}")
