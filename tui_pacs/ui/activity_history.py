"""The activity log on disk, so that last night's failed transfer can be read
in the morning.

JSON lines in the data directory (``activity.jsonl``), one final row each
(an association once it ended, with its operations; a log line, a notice, an
echo or a transfer of the app), appended by a thread of its own, in order,
never on the event loop. Bounded by age (``[activity] keep_days``) and size
(``[activity] max_mb``): rows older than that are dropped when the app
starts, and a file grown past its size is rewritten with the newest rows
filling three quarters of it, so it is not rewritten on every line after.

JSON escapes control characters, so a peer's text cannot break a line; it is
shown through the app's sanitiser like any other row. A line that does not
parse (the process killed mid-write, a disk that filled up) is skipped.
A file that cannot be written is reported once, then left alone.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tui_pacs.ui.activity import make_row
from tui_pacs.ui.rows import Row

FILE_NAME = "activity.jsonl"
MB = 1_048_576

log = logging.getLogger(__name__)


class ActivityHistory:
    def __init__(self, path: Path, keep_days: int, max_bytes: int,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.path = path
        self.keep = timedelta(days=keep_days)
        self.max_bytes = max_bytes
        self.clock = clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="activity-history")
        self._size = 0
        self._broken = False

    def load(self) -> list[Row]:
        """The rows kept, oldest first, pruned by age and size (blocking: run it in a
        thread)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("activity history not read from %s: %s", self.path, exc)
            return []
        lines = text.splitlines()
        entries = [entry for entry in map(_decode, lines) if entry is not None]
        kept = self._bounded(entries, self.max_bytes)
        if len(kept) != len(lines):
            self._rewrite(kept)
        self._size = sum(len(line.encode()) + 1 for line, _ in kept)
        return [row for _, row in kept]

    def add(self, row: Row) -> None:
        """Append a final row, later, in the writer thread. Encoded now: the row
        is the app's, and may still change."""
        self._writer.submit(self._append, _encode(row))

    def close(self) -> None:
        """Wait for the rows queued (blocking: run it in a thread)."""
        self._writer.shutdown(wait=True)

    # --- in the writer thread ----------------------------------------------------

    def _append(self, line: str) -> None:
        if self._broken:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
            self._size += len(line.encode()) + 1
            if self._size > self.max_bytes:
                self._compact()
        except OSError as exc:
            self._broken = True
            log.warning("activity history not written to %s: %s", self.path, exc)

    def _compact(self) -> None:
        text = self.path.read_text(encoding="utf-8", errors="replace")
        entries = [entry for entry in map(_decode, text.splitlines()) if entry is not None]
        kept = self._bounded(entries, self.max_bytes * 3 // 4)
        self._rewrite(kept)
        self._size = sum(len(line.encode()) + 1 for line, _ in kept)

    def _bounded(self, entries: list[tuple[str, Row]], size: int) -> list[tuple[str, Row]]:
        """The newest entries younger than keep_days and within ``size`` bytes."""
        oldest = self.clock() - self.keep
        kept: list[tuple[str, Row]] = []
        for line, row in reversed(entries):
            size -= len(line.encode()) + 1
            if size < 0:
                break
            if row["Time"] >= oldest:
                kept.append((line, row))
        return kept[::-1]

    def _rewrite(self, entries: list[tuple[str, Row]]) -> None:
        """Replace the file whole, so that a crash leaves the old one or the new."""
        try:
            partial = self.path.with_name(self.path.name + ".tmp")
            partial.write_text("".join(line + "\n" for line, _ in entries), encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:
            log.warning("activity history not pruned in %s: %s", self.path, exc)


def _encode(row: Row) -> str:
    return json.dumps(_fields(row), separators=(",", ":"))


def _fields(row: Row) -> dict[str, Any]:
    """What a row shows: not its sequence number nor its running counters (``_``)."""
    fields = {key: value for key, value in row.items()
              if not key.startswith("_") and key not in ("Seq", "Operations")}
    time = row["Time"]
    fields["Time"] = time.isoformat() if isinstance(time, datetime) else str(time)
    if "Operations" in row:
        fields["Operations"] = [_fields(line) for line in row["Operations"]]
    return fields


def _decode(line: str) -> tuple[str, Row] | None:
    try:
        fields = json.loads(line)
        row = _row(fields)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return line, row


def _row(fields: dict[str, Any]) -> Row:
    """A row from its stored fields; raises on anything that is not one."""
    shown = {key: str(value) for key, value in fields.items()
             if key not in ("Time", "Operations", "Within")}
    row = make_row(**shown)
    row["Time"] = datetime.fromisoformat(fields["Time"])
    if row["Time"].tzinfo is not None:
        raise ValueError("the app's times are local and naive")
    if fields.get("Within"):
        row["Within"] = True
    if "Operations" in fields:
        row["Operations"] = [_row(line) for line in fields["Operations"]]
    return row
