"""Exporting archived instances to a directory or a zip file, for a CD, a USB
stick or a colleague: ``tui-pacs export`` and the app's export dialog.

The files go out as stored, byte for byte, under names we generate (a value
from a file never names a path): ``PT000000/ST000000/SE000000/IM000000.dcm``,
a directory per patient, study and series. With a DICOMDIR (pydicom's
FileSet) the names are the file IDs media need (up to eight characters,
upper case, no extension) and the DICOMDIR indexes them. De-identified
(services/deidentify.py), each file is rewritten with the Basic Profile
applied and its UIDs remapped consistently across the export.

The work runs in a worker thread (services/worker.py): reading and writing
files never blocks the event loop, and cancelling stops between files and
takes back what was written.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileInstance, FileSet
from pydicom.uid import UID

from tui_pacs.core.matching import exact
from tui_pacs.core.model import Level
from tui_pacs.net.client.association import Cancellation
from tui_pacs.services.deidentify import Deidentifier
from tui_pacs.services.export_sinks import DestinationError, open_sink
from tui_pacs.services.worker import on_loop, run_blocking
from tui_pacs.store.archive import Archive
from tui_pacs.store.index import StoredFile

# What a file-set calls itself in its DICOMDIR (File-set ID, at most 16 characters).
FILE_SET_ID = "TUI_PACS"


class _DistinctFileSet(FileSet):
    """A FileSet filled with instances known to be distinct (the export's SOP
    Instance UIDs are unique). FileSet.add looks through every instance added
    so far for a duplicate, which makes a study of 2,000 images cost minutes;
    while filling, the file-set shows add() no instances to look through."""

    filling = False

    def __iter__(self) -> Iterator[FileInstance]:
        return iter(()) if self.filling else super().__iter__()


class ExportError(Exception):
    """The export could not be done; the message is one line for the user."""


@dataclass(frozen=True)
class ExportOptions:
    zipped: bool = False
    dicomdir: bool = False
    anonymize: bool = False


@dataclass(frozen=True)
class Selection:
    """What to export: every ``level`` entity whose ``keys`` all match exactly."""

    level: Level
    keys: dict[str, str]

    def describe(self) -> str:
        named = " and ".join(f"{key} {value!r}" for key, value in self.keys.items())
        return f"{self.level.label} with {named}"


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int


@dataclass(frozen=True)
class ExportReport:
    instances: int
    bytes: int
    destination: Path
    seconds: float


async def export(archive: Archive, selections: list[Selection], destination: Path,
                 options: ExportOptions,
                 on_progress: Callable[[ExportProgress], None] | None = None) -> ExportReport:
    """Export the instances of ``selections`` to ``destination``; raises ExportError."""
    stored: dict[str, StoredFile] = {}
    for selection in selections:
        found = await archive.index.files(selection.level, exact(selection.keys))
        if not found:
            raise ExportError(f"nothing to export: no {selection.describe()} in the archive")
        stored.update((f.sop_instance_uid, f) for f in found)
    files = sorted(stored.values(), key=_tree_order)
    sources = [(f, archive.path_of(f)) for f in files]
    progress = on_loop(on_progress)
    return await run_blocking(
        lambda cancellation: _write(sources, destination, options, progress, cancellation),
        name="export")


def _tree_order(stored: StoredFile) -> tuple[int, str, str]:
    return stored.patient_row, stored.study_instance_uid, stored.series_instance_uid


def _write(sources: list[tuple[StoredFile, Path]], destination: Path, options: ExportOptions,
           progress: Callable[[ExportProgress], None] | None,
           cancellation: Cancellation) -> ExportReport:
    started = time.monotonic()
    deidentify = Deidentifier() if options.anonymize else None
    try:
        sink = open_sink(destination, options.zipped)
    except DestinationError as exc:
        raise ExportError(str(exc)) from None
    written = 0
    try:
        if options.dicomdir:
            names, dicomdir = _file_set(sources, deidentify)
        else:
            names, dicomdir = _generated_names(s for s, _ in sources), None
        for done, (stored, path) in enumerate(sources, start=1):
            if cancellation.requested:
                raise ExportError("cancelled: what was written is taken back")
            with _payload(path, deidentify) as payload:
                sink.add(names[stored.sop_instance_uid], payload,
                         compress=not UID(stored.transfer_syntax_uid).is_compressed)
                written += payload.tell()
            if progress is not None:
                progress(ExportProgress(done, len(sources)))
        if dicomdir is not None:
            sink.add("DICOMDIR", io.BytesIO(dicomdir), compress=True)
        sink.finish()
    except BaseException as exc:
        sink.discard()
        if isinstance(exc, OSError):
            where = exc.filename or destination
            raise ExportError(f"{where}: {exc.strerror or exc}") from None
        raise
    return ExportReport(len(sources), written, destination, time.monotonic() - started)


def _payload(path: Path, deidentify: Deidentifier | None) -> BinaryIO:
    """The bytes to write for an archived file: the file itself, or de-identified."""
    if deidentify is None:
        return open(path, "rb")
    dataset = _read(path)
    deidentify(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return buffer


def _read(path: Path, headers_only: bool = False) -> Dataset:
    try:
        return dcmread(path, stop_before_pixels=headers_only)
    except Exception as exc:
        raise ExportError(f"{path}: cannot be read as DICOM: {exc}") from None


def _generated_names(files: Iterable[StoredFile]) -> dict[str, str]:
    """SOP Instance UID -> ``PT000000/ST000000/SE000000/IM000000.dcm``, numbered in
    order within each level."""
    patients: dict[int, str] = {}
    studies: dict[str, str] = {}
    series: dict[str, str] = {}
    counts: dict[str, int] = {}

    def number(parent: str, prefix: str) -> str:
        count = counts.get(parent, 0)
        counts[parent] = count + 1
        return f"{parent}{prefix}{count:06d}"

    names = {}
    for f in files:
        if f.patient_row not in patients:
            patients[f.patient_row] = number("", "PT")
        if f.study_instance_uid not in studies:
            studies[f.study_instance_uid] = number(patients[f.patient_row] + "/", "ST")
        if f.series_instance_uid not in series:
            series[f.series_instance_uid] = number(studies[f.study_instance_uid] + "/", "SE")
        names[f.sop_instance_uid] = number(series[f.series_instance_uid] + "/", "IM") + ".dcm"
    return names


def _file_set(sources: list[tuple[StoredFile, Path]], deidentify: Deidentifier | None
              ) -> tuple[dict[str, str], bytes]:
    """The file IDs pydicom's FileSet gives the instances, and the DICOMDIR's bytes.

    The FileSet is built from each instance's header (what its records hold:
    no pixel data is read) and written to a scratch directory; the instances
    themselves are then written under those IDs, as stored (or de-identified
    again, to the same values: the mapping is a function of the original).
    """
    file_set = _DistinctFileSet()
    file_set.ID = FILE_SET_ID
    originals: dict[str, str] = {}
    file_set.filling = True
    for stored, path in sources:
        header = _read(path, headers_only=True)
        if deidentify is not None:
            deidentify(header)
        try:
            file_set.add(header)
        except ValueError as exc:
            reason = str(exc).split(". ")[0].removeprefix(
                "Unable to use the default ").strip()
            raise ExportError(f"instance {stored.sop_instance_uid} cannot go into a DICOMDIR: "
                              f"{reason}; export it without --dicomdir") from None
        originals[header.SOPInstanceUID] = stored.sop_instance_uid
    file_set.filling = False
    with tempfile.TemporaryDirectory(prefix="tui-pacs-dicomdir-") as scratch:
        file_set.write(scratch)
        dicomdir = (Path(scratch) / "DICOMDIR").read_bytes()
        names = {originals[instance.SOPInstanceUID]: "/".join(Path(instance.FileID).parts)
                 for instance in file_set}
    return names, dicomdir
