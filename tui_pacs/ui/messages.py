"""Messages the app posts to itself from other threads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.message import Message


@dataclass
class LogArrived(Message):
    """A log record, from any thread (pynetdicom logs from association threads)."""

    time: datetime
    level: int
    logger: str
    text: str
