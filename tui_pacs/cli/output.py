"""Tables and progress on the terminal (rich), plain text when piped."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from tui_pacs.cli.context import say, say_columns
from tui_pacs.core.model import LABELS, display_value, vr_of_keyword
from tui_pacs.core.text import printable


def stdout_console() -> Console:
    return Console(highlight=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str],
               title: str | None = None) -> None:
    """Rows keyed by DICOM keyword as a table of the given columns."""
    if not sys.stdout.isatty():
        # Tab-separated for scripts: header, then one line per row.
        say_columns(LABELS.get(c, c) for c in columns)
        for row in rows:
            say_columns(display_value(c, row.get(c)) for c in columns)
        return
    console = stdout_console()
    console.print(table_of(rows, columns, console.width, title))


def table_of(rows: Sequence[dict[str, Any]], columns: Sequence[str], width: int,
             title: str | None = None) -> Table:
    """The rows as a table no wider than ``width`` characters."""
    cells = [[display_value(c, row.get(c)) for c in columns] for row in rows]
    # A column empty in every row only takes room from the others.
    shown = [i for i in range(len(columns)) if not rows or any(row[i] for row in cells)]
    labels = [LABELS.get(columns[i], columns[i]) for i in shown]
    values = [[row[i] for i in shown] for row in cells]
    kinds = [_kind(columns[i]) for i in shown]
    content = [max((len(row[n]) for row in values), default=0) for n in range(len(shown))]
    widths = [max(len(label), content[n]) for n, label in enumerate(labels)]
    _fit(widths, content, kinds, width - 2 * (len(shown) - 1))
    table = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for n, label in enumerate(labels):
        table.add_column(_shorten(label, widths[n], "text"), width=widths[n], no_wrap=True,
                         justify="right" if kinds[n] == "number" else "left")
    for row in values:
        table.add_row(*(_shorten(value, widths[n], kinds[n]) for n, value in enumerate(row)))
    return table


def _kind(keyword: str) -> str:
    """'uid', 'number', 'fixed' (dates, codes, IDs: never cut) or 'text'."""
    vr = vr_of_keyword(keyword)
    if vr == "UI":
        return "uid"
    if vr in ("IS", "US"):
        return "number"
    if vr in ("DA", "TM", "CS") or keyword == "PatientID":
        return "fixed"
    return "text"


def _fit(widths: list[int], content: list[int], kinds: list[str], room: int) -> None:
    """Narrow the columns in place until they fit in ``room``, giving up the
    least useful characters first: the tails of names and descriptions, the
    starts of UIDs, then titles wider than their values; the values of
    dates, codes and numbers are never cut."""
    stages = (
        ("text", lambda n: 10),
        ("uid", lambda n: 12),
        ("fixed", lambda n: max(content[n], 2)),
        ("number", lambda n: max(content[n], 2)),
        ("text", lambda n: 4),
        ("uid", lambda n: 8),
    )
    for kind, floor in stages:
        while sum(widths) > room:
            candidates = [n for n, k in enumerate(kinds) if k == kind and widths[n] > floor(n)]
            if not candidates:
                break
            widths[max(candidates, key=lambda n: widths[n])] -= 1


def _shorten(value: str, width: int, kind: str) -> str:
    """Text loses its end, a UID its start (its last digits tell it from the next)."""
    if len(value) <= width:
        return value
    if kind == "uid":
        return "…" + value[len(value) - width + 1:]
    return value[:width - 1] + "…"


class ProgressBar:
    """A progress bar on stderr, gone when done: a label, the bar, done/total, and a
    short note (failures so far). ``total=None`` counts without a known end."""

    def __init__(self, label: str, *, eta: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        columns: list[str | ProgressColumn] = [label, BarColumn(), MofNCompleteColumn(),
                   *([TimeRemainingColumn()] if eta else []), TextColumn("{task.fields[note]}")]
        self._progress = Progress(*columns, console=stderr_console(), transient=True)
        self.console = self._progress.console
        self._task = self._progress.add_task(label, total=None, note="")

    def start(self, total: int | None = None) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start()

    def update(self, completed: int, total: int | None = None, note: str = "") -> None:
        self._progress.update(self._task, completed=completed, total=total, note=note)

    def advance(self) -> None:
        self._progress.advance(self._task)

    def stop(self) -> None:
        self._progress.stop()

    def __enter__(self) -> ProgressBar:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def say_on_stderr(line: str, bar: ProgressBar | None) -> None:
    """A line on stderr (a failure among many), above the progress bar if one is shown."""
    if bar:
        bar.console.print(printable(line), markup=False, highlight=False)
    else:
        say(line, file=sys.stderr)
