"""Importing files and directory trees into the archive."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tui_pacs.store.archive import Archive, Outcome, StoreFailure
from tui_pacs.store.ingest import NotDicom

# Chunks of files in flight at once, and files per chunk: enough to overlap
# parsing, copying and fsync on the staging threads, and to give the writer
# large groups to commit together.
CONCURRENCY = 8
CHUNK = 8


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.imported + self.duplicates + self.skipped + len(self.failures)

    def summary(self) -> str:
        return (f"{self.imported} imported, {self.duplicates} duplicate(s), "
                f"{self.skipped} skipped (not DICOM), {len(self.failures)} failed")


# (path, outcome) where outcome is "imported", "duplicate", "skipped" or a failure reason.
ProgressCallback = Callable[[Path, str], None]


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every regular file under the given files and directories, in a stable order."""
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    yield Path(root, name)
        else:
            yield path


async def import_files(archive: Archive, files: list[Path],
                       on_progress: ProgressCallback | None = None,
                       concurrency: int = CONCURRENCY) -> ImportReport:
    """Store every file; failures are counted and reported, never raised."""
    report = ImportReport()
    chunks = iter([files[i:i + CHUNK] for i in range(0, len(files), CHUNK)])

    def note(path: Path, outcome: str) -> None:
        if on_progress is not None:
            on_progress(path, outcome)

    async def worker() -> None:
        for chunk in chunks:
            for path, result in zip(chunk, await archive.store_files(chunk)):
                if isinstance(result, NotDicom):
                    report.skipped += 1
                    note(path, "skipped")
                elif isinstance(result, StoreFailure):
                    report.failures.append((path, str(result)))
                    note(path, str(result))
                elif result.outcome is Outcome.DUPLICATE:
                    report.duplicates += 1
                    note(path, "duplicate")
                else:
                    report.imported += 1
                    note(path, "imported")

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return report
