"""Log records into the app instead of onto the terminal it draws on.

Each record says which association's thread wrote it (looked up here, in
that thread, while the association still runs, or by the ingest worker
process that wrote it), so that pynetdicom's error lines land in the row of
the association they concern.
"""

from __future__ import annotations

import logging
from datetime import datetime

from textual.app import App

from tui_pacs.core.association_threads import association_of
from tui_pacs.logs import message_of
from tui_pacs.ui.messages import LogArrived


class AppLogHandler(logging.Handler):
    """Posts each record to the app as a LogArrived message; safe from any thread."""

    def __init__(self, app: App, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._app = app

    def emit(self, record: logging.LogRecord) -> None:
        text = message_of(record)
        # A record from an ingest worker process says its association itself.
        association = getattr(record, "association", 0) or association_of(record.thread)
        self._app.post_message(LogArrived(datetime.fromtimestamp(record.created),
                                          record.levelno, record.name, text, association))
