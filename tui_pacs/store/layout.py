"""Where each instance lives under the data directory.

Paths come from a SHA-256 of the SOP Instance UID, never from the UID itself:
no value sent by a peer can name a path, escape the data directory, or
collide with another on a case-insensitive file system (hex is lower case).
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

INDEX_FILE = "index.sqlite"
STORAGE_DIR = "storage"
# Temporary files live on the same file system as storage, so rename is atomic.
TMP_DIR = "tmp"
# The paths a batch is about to rename into place, for recovery after a crash.
JOURNAL_FILE = "journal"
# Present while a process has the archive open; left behind by a crash.
RUNNING_MARKER = "running"


def instance_relpath(sop_instance_uid: str) -> PurePosixPath:
    digest = hashlib.sha256(sop_instance_uid.encode("utf-8", "surrogateescape")).hexdigest()
    return PurePosixPath(STORAGE_DIR, digest[:2], digest[2:4], f"{digest}.dcm")


def resolve(data_dir: Path, relpath: str | PurePosixPath) -> Path:
    """The absolute path of a stored file, refusing anything outside storage/."""
    rel = PurePosixPath(relpath)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] != STORAGE_DIR:
        raise ValueError(f"not a storage path: {relpath!s}")
    return data_dir.joinpath(*rel.parts)
