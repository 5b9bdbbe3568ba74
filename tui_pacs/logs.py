"""Logging to stderr (or to a file under the app), as text for people or as JSON lines.

Structured details travel in ``extra={"fields": {...}}``: the text format
shows the message, the JSON format adds each field as a key.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue

from tui_pacs.core.text import json_text, printable

_HANDLER_NAME = "tui-pacs-log"
# The app's log file: rotated at this size, this many old files kept.
FILE_BYTES = 5 << 20
FILE_BACKUPS = 3


def message_of(record: logging.LogRecord) -> str:
    """A record's message, even when its arguments do not fit its format."""
    try:
        return record.getMessage()
    except Exception:
        return str(record.msg)


class TextFormatter(logging.Formatter):
    """One line per record, read on a terminal (``tail -f``, journalctl): what a
    peer chose (AE titles, values, error comments) shows its control
    characters and cannot start a line that looks like a record of its own."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        text = f"{stamp} {record.levelname:<7} {printable(record.getMessage())}"
        if record.exc_info:
            text += "\n" + printable(self.formatException(record.exc_info), keep="\n")
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_text(entry, default=str)


def configure(debug: bool = False, json_format: bool = False, file: Path | None = None,
              handler: logging.Handler | None = None) -> None:
    """(Re)configure the root logger; safe to call more than once.

    Logs go to stderr, or to ``file`` (rotated) when the terminal belongs to
    the app: nothing may be written under it. The file is written by a
    thread of its own, so that logging on the event loop never waits on disk.
    ``handler`` replaces both (an ingest worker process sends its records to
    the node's process, which logs them).
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
            old.close()
    formatter = JsonFormatter() if json_format else TextFormatter()
    if handler is None:
        if file is None:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(formatter)
        else:
            handler = _file_writer(file, formatter)
    handler.set_name(_HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # The node logs a line per operation (per instance received); no format
    # here shows the caller's file and line or the process, and looking them
    # up took a third of the time of each line (logging's "Optimization").
    logging._srcfile = None
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # pynetdicom logs every PDU at INFO; its warnings and errors are enough.
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if debug else logging.WARNING)
    # ...except its decoder of AE titles and UIDs, which logs a traceback for
    # each byte that is not ASCII a peer sends; the association's own line says
    # what went wrong.
    logging.getLogger("pynetdicom.utils").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # pydicom logs each oddity of a file it reads; we report what matters ourselves.
    logging.getLogger("pydicom").setLevel(logging.DEBUG if debug else logging.ERROR)


class _QueuedHandler(logging.handlers.QueueHandler):
    """Hands records to a writer thread; closing it lets the thread finish the file."""

    def __init__(self, listener: logging.handlers.QueueListener, queue: Queue) -> None:
        super().__init__(queue)
        self._listener = listener

    def close(self) -> None:
        self._listener.stop()
        for handler in self._listener.handlers:
            handler.close()
        super().close()


def _file_writer(file: Path, formatter: logging.Formatter) -> logging.Handler:
    file.parent.mkdir(parents=True, exist_ok=True)
    rotating = logging.handlers.RotatingFileHandler(
        file, maxBytes=FILE_BYTES, backupCount=FILE_BACKUPS, encoding="utf-8")
    rotating.setFormatter(formatter)
    queue: Queue = Queue()
    listener = logging.handlers.QueueListener(queue, rotating, respect_handler_level=True)
    listener.start()
    handler = _QueuedHandler(listener, queue)
    # Written out at exit too (logging.shutdown closes every handler).
    return handler
