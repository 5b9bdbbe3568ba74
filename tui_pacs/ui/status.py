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
