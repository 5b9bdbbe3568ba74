"""Talking to remote DICOM nodes: the service the CLI and the app share.

Every operation can be used from the app's event loop without blocking it:
the pynetdicom work runs in a worker thread (:mod:`tui_pacs.services.worker`)
and only plain values from :mod:`tui_pacs.core.remote` come back.

    client = RemoteClient(settings, archive)
    target = client.target("orthanc")               # or "ORTHANC@10.0.0.5:4242"

    report = await client.echo(target, count=3)     # EchoReport: round trips, diagnosis
    async with aclosing(client.find(target, Level.STUDY, {"PatientName": "SMITH*"})) as rows:
        async for row in rows:                      # dicts keyed by keyword, as they arrive
            ...
    async with aclosing(client.worklist(target, {"Modality": "CT"})) as steps:
        async for step in steps:                    # flat rows: patient, procedure, step
            ...
    report = await client.move(target, {"StudyInstanceUID": uid}, on_progress=show)
    report = await client.get(target, {"StudyInstanceUID": uid}, on_progress=show)
    report = await client.send_files(target, [Path("study/")], on_progress=show)
    report = await client.send_archived(target, Level.STUDY, {"StudyInstanceUID": uid},
                                        on_progress=show)
    async for check in client.doctor(target):       # Check: OK / FAIL / SKIPPED, advice
        ...
    report = await client.probe(target)             # ProbeReport: SOP classes x syntaxes
    report = await client.commit_archived(target, Level.STUDY, {"StudyInstanceUID": uid})
    report = await client.commit_files(target, [Path("study/")], wait=600)

Failures to reach the remote raise :class:`RemoteFailure`, whose
``diagnosis`` says which step failed and what to change on which side
(``echo`` and ``doctor`` report them instead of raising). Bad keys raise
:class:`BadKey`, bad targets :class:`BadTarget`.

Cancelling the awaiting task (or leaving an ``async for`` early) sends a
C-CANCEL for a C-FIND, C-MOVE or C-GET in progress and aborts the
association if the remote has not stopped within a few seconds; ``send``
stops after the instance in flight. ``timeout`` overrides the configured
connection and DIMSE timeouts for one operation; wrap a call in
``asyncio.wait_for`` for a deadline on the whole of it. Progress callbacks
are called on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_pacs.config import Settings
from tui_pacs.core.capabilities import ProbeReport
from tui_pacs.core.commitment import CommitReport, Reference
from tui_pacs.core.keys import BadKey
from tui_pacs.core.matching import exact
from tui_pacs.core.model import Level
from tui_pacs.core.query import (
    RetrieveRequest,
    find_identifier,
    infer_level,
    information_model,
)
from tui_pacs.core.remote import (
    Check,
    EchoReport,
    RemoteFailure,
    RetrieveProgress,
    RetrieveReport,
    SendFailure,
    SendProgress,
    SendReport,
)
from tui_pacs.core.target import Target, parse_target
from tui_pacs.core.worklist import worklist_identifier
from tui_pacs.net.client import scu
from tui_pacs.net.client.association import Cancellation, Session
from tui_pacs.services.worker import on_loop, run_blocking, stream_blocking

if TYPE_CHECKING:
    from tui_pacs.net.client.retrieve import OwnNode
    from tui_pacs.store.archive import Archive
    from tui_pacs.store.index import StoredFile

__all__ = ["BadKey", "NotInArchive", "NothingToCommit", "RemoteClient", "RemoteFailure"]


class NotInArchive(LookupError):
    """What was asked to be sent (or committed) is not in the archive."""


class NothingToCommit(ValueError):
    """The files given to commit name no DICOM instance."""


class RemoteClient:
    """The client side of this node, calling as ``calling_aet`` (default: the node's AE
    title). ``archive`` receives what move and get retrieve, and is what
    ``send_archived`` sends from."""

    def __init__(self, settings: Settings, archive: Archive | None = None,
                 calling_aet: str | None = None) -> None:
        self.settings = settings
        self.archive = archive
        self.calling_aet = calling_aet or settings.node.aet

    def target(self, text: str) -> Target:
        """A configured modality's name or AET@host:port; raises BadTarget."""
        return parse_target(text, self.settings.modalities)

    # --- verification ---------------------------------------------------------

    async def echo(self, target: Target, count: int = 1, *,
                   timeout: float | None = None) -> EchoReport:
        session = self._session(target, timeout)
        return await run_blocking(lambda c: scu.echo(session, max(1, count), c), name="echo")

    def doctor(self, target: Target, *, timeout: float | None = None,
               worklist: bool = False, commit: tuple[Reference, ...] | None = None
               ) -> AsyncGenerator[Check, None]:
        """The checklist of a query/retrieve, check by check. Moves one instance here.
        ``worklist`` adds a worklist query for today's steps; ``commit`` the
        storage commitment step, for these instances (none: whether the remote
        takes storage commitment at all)."""
        from tui_pacs.net.client import doctor

        session = self._session(target, timeout)
        own = self._own_node()
        return stream_blocking(
            lambda c: doctor.checkup(session, own, c, worklist=worklist, commit=commit),
            name="doctor")

    async def probe(self, target: Target, *, timeout: float | None = None) -> ProbeReport:
        """Which SOP classes the remote accepts in which transfer syntaxes (and, for a
        modality marked ``tls``, its certificate); negotiation only."""
        from tui_pacs.net.client import probe

        session = self._session(target, timeout)
        return await run_blocking(lambda c: probe.probe(session, c), name="probe")

    # --- query ----------------------------------------------------------------

    def find(self, target: Target, level: Level, keys: dict[str, str], *,
             model: str | None = None, return_keys: tuple[str, ...] | None = None,
             limit: int | None = None, timeout: float | None = None,
             ) -> AsyncGenerator[dict[str, Any], None]:
        """Matches as they arrive, each a dict keyed by DICOM keyword.

        Raises BadKey (at once) for keys or models that make no query.
        """
        model = information_model(level, model)
        identifier = find_identifier(level, keys, return_keys)
        session = self._session(target, timeout)
        return stream_blocking(lambda c: scu.find(session, model, identifier, c, limit),
                               name="find")

    def worklist(self, target: Target, keys: dict[str, str], *,
                 limit: int | None = None, timeout: float | None = None,
                 ) -> AsyncGenerator[dict[str, Any], None]:
        """Scheduled procedure steps matching ``keys`` (a step's keys, such as Modality
        or ScheduledStationAETitle, are matched inside its sequence item), each a
        flat dict keyed by keyword. Raises BadKey (at once) for keys that make no query.
        """
        identifier = worklist_identifier(keys)
        session = self._session(target, timeout)
        return stream_blocking(lambda c: scu.worklist(session, identifier, c, limit),
                               name="worklist")

    # --- retrieve ---------------------------------------------------------------

    async def move(self, target: Target, keys: dict[str, str], *, level: Level | None = None,
                   model: str | None = None, destination: str | None = None,
                   timeout: float | None = None,
                   on_progress: Callable[[RetrieveProgress], None] | None = None,
                   ) -> RetrieveReport:
        """C-MOVE to ``destination`` (default: this node, into the archive)."""
        from tui_pacs.net.client import retrieve

        request = self._retrieve_request(keys, level, model)
        destination = (destination or self.settings.node.aet).strip()
        own = self._own_node() if destination == self.settings.node.aet else None
        session = self._session(target, timeout)
        progress = on_loop(on_progress)
        return await run_blocking(
            lambda c: retrieve.move(session, request, destination, own, progress, c),
            name="move")

    async def get(self, target: Target, keys: dict[str, str], *, level: Level | None = None,
                  model: str | None = None, timeout: float | None = None,
                  on_progress: Callable[[RetrieveProgress], None] | None = None,
                  ) -> RetrieveReport:
        """C-GET into the archive; a large study comes over a few associations at once."""
        from tui_pacs.net.client import retrieve

        request = self._retrieve_request(keys, level, model)
        archive = self._archive()
        session = self._session(target, timeout)
        progress = on_loop(on_progress)

        return await run_blocking(
            lambda c: retrieve.get(session, request, archive, progress, c), name="get")

    # --- send -------------------------------------------------------------------

    async def send_files(self, target: Target, paths: Iterable[Path], *,
                         timeout: float | None = None,
                         on_progress: Callable[[SendProgress], None] | None = None,
                         ) -> SendReport:
        """C-STORE files and the files under directories (recursively)."""
        from tui_pacs.net.client import send
        from tui_pacs.store.importer import iter_files

        session = self._session(target, timeout)
        progress = on_loop(on_progress)
        paths = list(paths)

        def work(cancellation: Cancellation) -> SendReport:
            items, unreadable = [], []
            for path in iter_files(paths):
                try:
                    items.append(send.inspect_file(path))
                except send.NotSendable as exc:
                    unreadable.append(SendFailure(str(path), str(exc)))
            return send.send(session, items, unreadable, progress, cancellation)

        return await run_blocking(work, name="send")

    async def send_archived(self, target: Target, level: Level, keys: dict[str, str], *,
                            timeout: float | None = None,
                            on_progress: Callable[[SendProgress], None] | None = None,
                            ) -> SendReport:
        """C-STORE every archived instance of the patient(s), study or series whose
        ``keys`` all match exactly (``{"PatientID": "12345"}``: every patient
        with this ID)."""
        from tui_pacs.net.client import send

        archive = self._archive()
        stored = await self._archived(level, keys)
        items = [send.Outgoing(archive.path_of(f), f.sop_class_uid, f.sop_instance_uid,
                               f.transfer_syntax_uid) for f in stored]
        session = self._session(target, timeout)
        progress = on_loop(on_progress)
        return await run_blocking(lambda c: send.send(session, items, [], progress, c),
                                  name="send")

    # --- storage commitment -----------------------------------------------------

    async def commit_files(self, target: Target, paths: Iterable[Path], *,
                           wait: float | None = None,
                           timeout: float | None = None) -> CommitReport:
        """Ask ``target`` to commit the instances of these files (directories
        recursively); wait up to ``wait`` seconds (default: the DIMSE timeout)
        for its report. Files that cannot be read are listed in the report."""
        from tui_pacs.net.client import commit, send
        from tui_pacs.store.importer import iter_files

        session = self._session(target, timeout)
        own = self._own_node()
        paths = list(paths)

        def work(cancellation: Cancellation) -> CommitReport:
            references, unreadable = [], []
            for path in iter_files(paths):
                try:
                    item = send.inspect_file(path)
                except send.NotSendable as exc:
                    unreadable.append(SendFailure(str(path), str(exc)))
                    continue
                references.append(Reference(item.sop_class, item.sop_instance))
            if not references:
                if not unreadable:
                    raise NothingToCommit("no files under the paths given")
                first = unreadable[0]
                raise NothingToCommit(f"none of the {len(unreadable)} file(s) is a DICOM "
                                      f"instance ({first.source}: {first.reason})")
            return commit.commit(session, references, own, wait or session.dimse_timeout,
                                 cancellation, unreadable)

        return await run_blocking(work, name="commit")

    async def commit_archived(self, target: Target, level: Level, keys: dict[str, str], *,
                              wait: float | None = None,
                              timeout: float | None = None) -> CommitReport:
        """Ask ``target`` to commit every archived instance of the patient(s),
        study or series whose ``keys`` all match exactly, as ``send_archived``
        names them."""
        from tui_pacs.net.client import commit

        references = await self.archived_references(level, keys)
        session = self._session(target, timeout)
        own = self._own_node()
        return await run_blocking(
            lambda c: commit.commit(session, references, own, wait or session.dimse_timeout, c),
            name="commit")

    async def archived_references(self, level: Level,
                                  keys: dict[str, str]) -> tuple[Reference, ...]:
        """The SOP Class and Instance UIDs of the archived instances that ``keys``
        name exactly (as ``send_archived``); raises NotInArchive."""
        stored = await self._archived(level, keys)
        return tuple(Reference(f.sop_class_uid, f.sop_instance_uid) for f in stored)

    # --- helpers ------------------------------------------------------------------

    def _session(self, target: Target, timeout: float | None) -> Session:
        return Session(target, self.calling_aet, self.settings.limits, timeout,
                       self.settings.tls)

    async def _archived(self, level: Level, keys: dict[str, str]) -> list[StoredFile]:
        """The archived files of what ``keys`` name exactly; raises NotInArchive."""
        stored = await self._archive().index.files(level, exact(keys))
        if not stored:
            named = " and ".join(f"{key} {value!r}" for key, value in keys.items())
            raise NotInArchive(f"no {level.label} with {named} in the archive")
        return stored

    def _archive(self) -> Archive:
        if self.archive is None:
            raise RuntimeError("this operation stores into the archive: open one first")
        return self.archive

    def _own_node(self) -> OwnNode:
        from tui_pacs.net.client.retrieve import OwnNode

        node = self.settings.node
        return OwnNode(node.aet, node.bind, node.port, self._archive())

    def _retrieve_request(self, keys: dict[str, str], level: Level | None,
                          model: str | None) -> RetrieveRequest:
        if not any(value.strip() for value in keys.values()):
            raise BadKey("say what to retrieve, e.g. -k StudyInstanceUID=1.2.3")
        level = level or infer_level(keys)
        return RetrieveRequest(level, information_model(level, model), dict(keys))

