"""Where table rows come from: the archive's index, page by page, or a list in memory.

A table asks a source for its length and for slices of rows; it never holds
more than the slices on screen and around it, so 100,000 studies cost what
one screenful does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tui_pacs.core.matching import Matcher
from tui_pacs.core.model import Level

Row = dict[str, Any]


class RowSource(Protocol):
    async def count(self) -> int: ...

    async def fetch(self, offset: int, limit: int) -> list[Row]: ...


class IndexReader(Protocol):
    """The part of the archive's Index a table reads."""

    async def query(self, level: Level, matchers: dict[str, Matcher] | None = None, *,
                    order_by: str | None = None, descending: bool = False,
                    limit: int | None = None, offset: int = 0,
                    local: tuple[str, ...] = ()) -> list[Row]: ...

    async def count(self, level: Level, matchers: dict[str, Matcher] | None = None) -> int: ...


@dataclass
class IndexSource:
    """Rows of the archive at one level, matching ``matchers``, in ``order_by`` order.

    ``order_by=None`` is the index's natural order (studies newest first).
    """

    index: IndexReader
    level: Level
    matchers: dict[str, Matcher] = field(default_factory=dict)
    order_by: str | None = None
    descending: bool = False
    # The archive's own columns the rows carry (queries.LOCAL_COLUMNS).
    local: tuple[str, ...] = ()

    async def count(self) -> int:
        return await self.index.count(self.level, self.matchers)

    async def fetch(self, offset: int, limit: int) -> list[Row]:
        return await self.index.query(self.level, self.matchers, order_by=self.order_by,
                                      descending=self.descending, limit=limit, offset=offset,
                                      local=self.local)


class ListSource:
    """Rows held in memory (query results, the activity log), optionally filtered and sorted.

    Appending is cheap; the view (filter + order) is rebuilt lazily when read.
    """

    def __init__(self, rows: Iterable[Row] = (), limit: int | None = None) -> None:
        self._rows: list[Row] = list(rows)
        # Keep at most this many rows, dropping the oldest (a live log).
        self._limit = limit
        self._predicate: Callable[[Row], bool] | None = None
        self._order_by: str | None = None
        self._descending = False
        self._view: list[Row] | None = None

    @property
    def rows(self) -> list[Row]:
        return self._rows

    def append(self, row: Row) -> None:
        self.extend([row])

    def extend(self, rows: Iterable[Row]) -> None:
        self._rows.extend(rows)
        if self._limit is not None and len(self._rows) > self._limit:
            del self._rows[: len(self._rows) - self._limit]
        self._view = None

    def clear(self) -> None:
        self._rows.clear()
        self._view = None

    def touch(self) -> None:
        """A row was changed in place: filter and sort it again when next read."""
        self._view = None

    def set_filter(self, predicate: Callable[[Row], bool] | None) -> None:
        self._predicate = predicate
        self._view = None

    def set_order(self, order_by: str | None, descending: bool = False) -> None:
        self._order_by, self._descending = order_by, descending
        self._view = None

    def view(self) -> list[Row]:
        """The rows as the table shows them."""
        if self._view is None:
            rows = [r for r in self._rows if self._predicate(r)] if self._predicate \
                else list(self._rows)
            if self._order_by:
                key = self._order_by
                rows.sort(key=lambda r: _sort_key(r.get(key)), reverse=self._descending)
            elif self._descending:
                rows.reverse()
            self._view = rows
        return self._view

    async def count(self) -> int:
        return len(self.view())

    async def fetch(self, offset: int, limit: int) -> list[Row]:
        return self.view()[offset:offset + limit]


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text, empty values last, never a TypeError."""
    if value is None or value == "":
        return (2, "")
    if isinstance(value, (int, float)):
        return (0, value)
    text = str(value)
    try:
        return (0, float(text))
    except ValueError:
        return (1, text.casefold())
