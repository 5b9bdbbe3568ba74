"""The node's state as the status bar shows it, and numbers as people read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusSnapshot:
    aet: str
    port: int
    listening: bool
    # Why the node is not listening ("" while it listens, or when told not to).
    listen_error: str = ""
    studies: int | None = None
    active_associations: int = 0
    bytes_received: int = 0
    # The forwarding queue: entries waiting, and kept as failed.
    forward_pending: int = 0
    forward_failed: int = 0


def byte_size(count: int) -> str:
    """1536 -> '1.5 KB' (powers of 1024, as disk tools show them)."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"
