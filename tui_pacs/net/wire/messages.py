"""DIMSE messages put together from the fragments that carry them (PS3.8 E.2).

A message is its command set, in one or more command fragments, then its
dataset (if the command says there is one) in dataset fragments on the same
presentation context. :class:`MessageAssembler` is fed the fragments of
every P-DATA-TF as they are read, by whichever association reads them, and
hands back each message once it is whole. Where a dataset goes is up to the
association: into memory by default, or, for a C-STORE the node receives,
straight into a file (``open_dataset``), so that an image of any size never
has to fit in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Protocol

from tui_pacs.net.wire.commands import Command, MalformedMessage
from tui_pacs.net.wire.pdu import COMMAND, LAST


class DatasetSink(Protocol):
    """Where a dataset's fragments are written as they arrive: a BytesIO, or a
    file of the archive's (:class:`tui_pacs.store.incoming.IncomingFile`)."""

    def write(self, data: bytes | memoryview, /) -> int: ...

    def close(self) -> None: ...


# Where the dataset of a message whose command set has just arrived goes:
# called with (context ID, command).
DatasetOpener = Callable[[int, Command], DatasetSink]


def in_memory(context_id: int, command: Command) -> DatasetSink:
    return BytesIO()


class Discarded(BytesIO):
    """A dataset nobody will read (a request that will be refused): its
    fragments are counted and dropped, so that it costs no memory."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)


@dataclass
class Message:
    """A whole DIMSE message: its command set, and its dataset if it has one
    (written by the association's ``open_dataset``, positioned at its end)."""

    context_id: int
    command: Command
    dataset: DatasetSink | None = None


class MessageAssembler:
    """Fragments in, whole messages out; raises MalformedMessage for fragments
    out of order (a dataset where a command was due, a dataset interrupted)."""

    def __init__(self, open_dataset: DatasetOpener = in_memory) -> None:
        self._open_dataset = open_dataset
        self._command = bytearray()
        self._message: Message | None = None

    def feed(self, context_id: int, control: int, fragment: memoryview) -> Message | None:
        """Take one fragment; the message it completes, if any."""
        message = self._message
        if message is None:
            if not control & COMMAND:
                raise MalformedMessage("a dataset fragment where a command was due")
            self._command += fragment
            if not control & LAST:
                return None
            command = Command(self._command)
            self._command = bytearray()
            if not command.has_dataset:
                return Message(context_id, command)
            self._message = Message(context_id, command,
                                    self._open_dataset(context_id, command))
            return None
        if control & COMMAND or context_id != message.context_id:
            self.discard()
            raise MalformedMessage("a dataset interrupted by another message")
        assert message.dataset is not None
        message.dataset.write(fragment)
        if not control & LAST:
            return None
        self._message = None
        return message

    def discard(self) -> None:
        """Drop a message still being received (the association ended)."""
        message, self._message = self._message, None
        self._command = bytearray()
        if message is not None and message.dataset is not None:
            # A file of the archive's is removed, not just closed.
            getattr(message.dataset, "discard", message.dataset.close)()
