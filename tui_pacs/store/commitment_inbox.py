"""Storage commitment reports, handed from whoever receives them to whoever waits.

A remote reports a commitment on the association of the request, or on a
new one to our AE title, so to whatever listens on our port: the node of
this process (the app), the node of another process (``tui-pacs serve``),
or the temporary listener of the command that asked. Whichever receives a
report writes it here, under the data directory, durably (fsync, rename,
fsync) and only then acknowledges it; the command that asked claims it by
its Transaction UID. In one process the waiter is woken at once; a report
written by another process is seen within :data:`POLL` seconds.

Files are named after the SHA-256 of the Transaction UID (never the UID
itself: a peer chooses it). A report nobody claims (the command gave up
waiting) stays, and its arrival is in the node's log.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tui_pacs.core.commitment import CommitmentResult, FailedReference, Reference
from tui_pacs.store import files, staging
from tui_pacs.store.layout import TMP_DIR

REPORTS_DIR = "commitment"
# How often a waiter looks for a report written by another process (seconds).
POLL = 0.2

# Every delivery in this process wakes every waiter in it, which then looks
# for its own report.
_arrived = threading.Condition()


class CommitmentInbox:
    def __init__(self, data_dir: Path) -> None:
        self._reports = data_dir / REPORTS_DIR
        self._tmp = data_dir / TMP_DIR

    def deliver(self, result: CommitmentResult) -> None:
        """Keep a report durably; raises OSError when it cannot be written."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        temporary = staging.write(self._tmp, [_encode(result)])
        try:
            changed = files.move_into_place(temporary, self._path(result.transaction_uid))
        except BaseException:
            files.remove_quietly(temporary)
            raise
        files.sync_directories(changed)
        with _arrived:
            _arrived.notify_all()

    def wait(self, transaction_uid: str, timeout: float,
             stop: Callable[[], bool] = lambda: False) -> CommitmentResult | None:
        """Claim the report of ``transaction_uid`` once it is here; None after
        ``timeout`` seconds, or as soon as ``stop()`` (looked at as often as
        reports are)."""
        path = self._path(transaction_uid)
        deadline = time.monotonic() + timeout
        with _arrived:
            while True:
                result = self._claim(path)
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0 or stop():
                    return result
                _arrived.wait(min(remaining, POLL))

    def _path(self, transaction_uid: str) -> Path:
        digest = hashlib.sha256(transaction_uid.encode("utf-8", "surrogateescape")).hexdigest()
        return self._reports / f"{digest}.json"

    @staticmethod
    def _claim(path: Path) -> CommitmentResult | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        result = _decode(data)
        files.remove_quietly(path)
        return result


def _encode(result: CommitmentResult) -> bytes:
    document = {
        "transaction_uid": result.transaction_uid,
        "reporter": result.reporter,
        "same_association": result.same_association,
        "committed": [[r.sop_class_uid, r.sop_instance_uid] for r in result.committed],
        "failed": [[f.reference.sop_class_uid, f.reference.sop_instance_uid, f.reason]
                   for f in result.failed],
    }
    return json.dumps(document).encode("ascii")  # non-ASCII is escaped


def _decode(data: bytes) -> CommitmentResult:
    document = json.loads(data)
    return CommitmentResult(
        transaction_uid=document["transaction_uid"],
        committed=tuple(Reference(c, i) for c, i in document["committed"]),
        failed=tuple(FailedReference(Reference(c, i), reason)
                     for c, i, reason in document["failed"]),
        reporter=document["reporter"],
        same_association=document["same_association"],
    )
