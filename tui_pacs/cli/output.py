"""Tables and progress on the terminal (rich), plain text when piped."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from tui_pacs.core.model import LABELS, display_value


def stdout_console() -> Console:
    return Console(highlight=False)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str],
               title: str | None = None) -> None:
    """Rows keyed by DICOM keyword as a table of the given columns."""
    if not sys.stdout.isatty():
        # Tab-separated for scripts: header, then one line per row.
        print("\t".join(LABELS.get(c, c) for c in columns))
        for row in rows:
            print("\t".join(display_value(c, row.get(c)) for c in columns))
        return
    table = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        numeric = column.startswith("NumberOf") or column in ("SeriesNumber", "InstanceNumber")
        table.add_column(LABELS.get(column, column), justify="right" if numeric else "left",
                         overflow="ellipsis", no_wrap=True,
                         min_width=4 if "UID" not in column else 8)
    for row in rows:
        table.add_row(*(display_value(c, row.get(c)) for c in columns))
    stdout_console().print(table)


class ProgressBar:
    """A progress bar on stderr, gone when done: a label, the bar, done/total, and a
    short note (failures so far). ``total=None`` counts without a known end."""

    def __init__(self, label: str, *, eta: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = [label, BarColumn(), MofNCompleteColumn(),
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
