"""Where each instance lives under the data directory.

``storage/<aa>/<study hash>/<instance hash>.dcm``, the hashes being SHA-256 of
the Study and SOP Instance UIDs: no value sent by a peer can name a path,
escape the data directory, or collide with another on a case-insensitive
file system (hex is lower case). A study's instances share a directory, which
is what a person looking at the disk expects, and it lets a group commit of
instances that arrive together make their renames durable with one
directory fsync instead of one per instance.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

INDEX_FILE = "index.sqlite"
STORAGE_DIR = "storage"
# Temporary files live on the same file system as storage, so rename is atomic.
TMP_DIR = "tmp"
# Present while a process has the archive open; left behind by a crash.
RUNNING_MARKER = "running"


def instance_relpath(study_instance_uid: str, sop_instance_uid: str) -> str:
    """The stored file's path relative to the data directory, with '/' separators."""
    study = _digest(study_instance_uid)
    return f"{STORAGE_DIR}/{study[:2]}/{study}/{_digest(sop_instance_uid)}.dcm"


def _digest(uid: str) -> str:
    return hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()


def resolve(data_dir: Path, relpath: str) -> Path:
    """The absolute path of a stored file, refusing anything outside storage/."""
    return Path(resolve_text(str(data_dir), relpath))


def resolve_text(data_dir: str, relpath: str) -> str:
    """:func:`resolve`, as a string (where every instance received goes
    through it, a Path costs more than the rest of the work)."""
    parts = relpath.split("/")
    if parts[0] != STORAGE_DIR or len(parts) < 2 or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a storage path: {relpath}")
    return os.path.join(data_dir, *parts)
