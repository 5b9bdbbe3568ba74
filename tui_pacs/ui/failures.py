"""Unexpected failures in the app: the traceback in the log, and a notification.

The node runs inside the app, so a bug in a screen must not end it (see
fault_guard.py): each fault is logged with its traceback (in ``tui-pacs.log``
under the app) and shown as an error notification naming the code that
failed, and the app goes on. A fault that repeats (a widget failing on every
refresh, or the handler of log records itself) is reported once per
``REPEAT_WINDOW`` and counted in between, so that it cannot flood the log.

Workers run with ``exit_on_error=False`` report through their node's
``Worker.StateChanged`` (``report_failure``); those with ``exit_on_error``
reach the app's fault handler instead, so each failure is reported once.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import textual
from textual.app import App
from textual.dom import DOMNode
from textual.worker import Worker, WorkerState

import tui_pacs
from tui_pacs.ui import fault_guard
from tui_pacs.ui.fault_guard import GuardedApp

log = logging.getLogger("tui_pacs.ui")

# The same fault is notified again only after this many seconds.
REPEAT_WINDOW = 10.0
_PACKAGE = str(Path(tui_pacs.__file__).parent)
_TEXTUAL = str(Path(textual.__file__).parent)
_GUARD = fault_guard.__file__


class FaultReports:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # (what, exception type) -> when last reported, how often seen since.
        self._recent: dict[tuple[str, str], tuple[float, int]] = {}

    def report(self, app: App, where: str, error: BaseException) -> None:
        what = _culprit(error) or where
        key = (what, type(error).__name__)
        now = self._clock()
        last, repeats = self._recent.get(key, (None, 0))
        if last is not None and now - last < REPEAT_WINDOW:
            self._recent[key] = (last, repeats + 1)
            return
        self._recent[key] = (now, 0)
        again = f" ({repeats} more times before this)" if repeats else ""
        log.error("%s failed (%s)%s: %s: %s", what, where, again, type(error).__name__, error,
                  exc_info=error)
        app.notify(f"{what} failed: {type(error).__name__}: {error}. The app and the node "
                   "keep running; tui-pacs.log has the traceback.",
                   title="Something went wrong", severity="error", timeout=10)


def _culprit(error: BaseException) -> str | None:
    """The function that failed (``StudiesScreen.action_next_date``): the innermost
    of tui_pacs in the traceback, else the innermost outside Textual."""
    files = [(frame.f_code.co_filename, frame.f_code.co_qualname)
             for frame, _ in traceback.walk_tb(error.__traceback__)]
    ours = [name for file, name in files if file.startswith(_PACKAGE) and file != _GUARD]
    others = [name for file, name in files if not file.startswith(_TEXTUAL) and file != _GUARD]
    found = ours or others
    return found[-1] if found else None


def report_failure(node: DOMNode, worker: Worker) -> None:
    """A worker of ``node`` ended with an exception (its StateChanged message)."""
    if worker.state is not WorkerState.ERROR or worker.error is None or worker.exit_on_error:
        return
    app = node.app
    assert isinstance(app, GuardedApp)
    # The failure is over (no loop to save): whether the app would keep running does not matter.
    app.contain_fault(worker.error, f"background work {worker.name!r}")
