"""Transfers the app started (retrieves, sends) and how far along they are.

Plain state: the app updates it from progress messages and the widgets show
it. Nothing here imports Textual.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

# The transfers that bring instances here; the others (C-STORE, export) take them away.
RETRIEVES = ("C-MOVE", "C-GET")


@dataclass
class Transfer:
    number: int
    service: str
    # What moves, in a few words ("study DOE^JANE 2024-01-15 CT").
    what: str
    # The other node's name (or AE title); an export's destination.
    peer: str
    started: datetime
    done: int = 0
    # None until known (C-MOVE and C-GET responses say; a send knows its files).
    total: int | None = None
    failed: int = 0

    @property
    def title(self) -> str:
        direction = "from" if self.service in RETRIEVES else "to"
        return f"{self.service} {self.what} {direction} {self.peer}"

    @property
    def counts(self) -> str:
        text = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        return f"{text}, {self.failed} failed" if self.failed else text


class Transfers:
    def __init__(self) -> None:
        self.running: dict[int, Transfer] = {}
        self._numbers = itertools.count(1)

    def start(self, service: str, what: str, peer: str, started: datetime) -> Transfer:
        transfer = Transfer(next(self._numbers), service, what, peer, started)
        self.running[transfer.number] = transfer
        return transfer

    def progress(self, number: int, done: int, total: int | None, failed: int) -> bool:
        """Record progress; False when the transfer already ended."""
        transfer = self.running.get(number)
        if transfer is None:
            return False
        transfer.done, transfer.total, transfer.failed = done, total, failed
        return True

    def finish(self, transfer: Transfer) -> None:
        self.running.pop(transfer.number, None)
