"""Unexpected failures of background work: a notification, and the traceback in the log.

Workers run with ``exit_on_error=False`` so that one failure does not end the
app (and the node in it); this makes sure such a failure is not silent.
"""

from __future__ import annotations

import logging

from textual.dom import DOMNode
from textual.worker import Worker, WorkerState

log = logging.getLogger("tui_pacs.ui")


def report_failure(node: DOMNode, worker: Worker) -> None:
    if worker.state is not WorkerState.ERROR or worker.error is None:
        return
    error = worker.error
    log.error("%s failed", worker.name or "background work", exc_info=error)
    node.notify(f"Something went wrong: {type(error).__name__}: {error}. The log file has "
                "the details.", severity="error", timeout=10)
