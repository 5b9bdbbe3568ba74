"""Where the app leans on Textual's internals to survive its own bugs.

The DICOM node runs inside the app, so an exception in a screen, widget,
message handler, worker, timer or command palette must not end the app:
Textual's default (``App._handle_exception``) is to exit, which stops the
node and cuts every association in flight.

Overriding ``App._handle_exception`` is not enough on its own. When a
handler raises, ``MessagePump._process_messages_loop`` calls it and then
leaves its loop: that widget, screen or the app itself never handles another
message. A key binding's action runs in the app's own loop, so one bad
action would freeze every key. ``install()`` therefore wraps
``MessagePump._dispatch_message`` so that a failure ends the message being
handled, not the loop; ``App._handle_exception`` still receives what Textual
catches elsewhere (timers, workers with ``exit_on_error``, compose, layout).

Both paths ask a ``GuardedApp`` (``contain_fault``) whether it takes the
fault. Other apps, or a refusal (before the app has started, or while it is
leaving), get Textual's behaviour unchanged.

``UPSTREAM`` lists the Textual functions this depends on, with a digest of
their source in the pinned version; ``tests/ui/test_fault_guard.py`` fails
when an upgrade changes any of them, so that the adaptation is checked again
instead of silently not working.
"""

from __future__ import annotations

from typing import Any

from textual._context import NoActiveAppError
from textual.app import App, ReturnType
from textual.message import Message
from textual.message_pump import MessagePump
from textual.timer import Timer
from textual.worker import Worker, WorkerFailed, get_current_worker

# Textual's dispatch, as it was before install() wrapped it.
_DISPATCH = MessagePump._dispatch_message

# What this module relies on, and the sha256 of its source in textual 8.2.8.
UPSTREAM: dict[str, tuple[object, str]] = {
    "MessagePump._dispatch_message": (
        _DISPATCH, "f2be0916fb2d6cb5bd9a755b982c924db725dc378c893830494a1bbcaa376c7e"),
    "MessagePump._process_messages_loop": (
        MessagePump._process_messages_loop,
        "8b26d5edccbb994f733ed51a6e5f0c801fdba9231c2f5e7c4fb1823c32987d60"),
    "App._handle_exception": (
        App._handle_exception,
        "baea2e7f88e7ac52e1f66886fe613f74b201a8857a670fc06306dded15d37bee"),
    "Worker._run": (
        Worker._run, "f6d25246c9cd26632bf4107c4a9cd76733eca1c0ad248037255a230e9494c4e8"),
    "Timer._tick": (
        Timer._tick, "131880e700f4ae713d2a35e0b769c7ebd402190ccdc3f1c0c1d148dcf1eaa5b0"),
}


class GuardedApp(App[ReturnType]):
    """An app that is asked first about every fault, through ``contain_fault``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        install()
        super().__init__(*args, **kwargs)

    def contain_fault(self, error: BaseException, where: str) -> bool:
        """Report ``error`` (raised in ``where``) and return True to keep running,
        or return False to let Textual end the app."""
        return False

    def _handle_exception(self, error: Exception) -> None:
        fault: BaseException
        fault, where = error, "the app"
        if isinstance(error, WorkerFailed):
            # Raised for workers with exit_on_error, in the worker's own context.
            fault, where = error.error, f"background work {get_current_worker().name!r}"
        if not self.contain_fault(fault, where):
            super()._handle_exception(error)


def install() -> None:
    """Wrap ``MessagePump._dispatch_message`` (once per process)."""
    if MessagePump._dispatch_message is not _DISPATCH:
        return

    async def _dispatch_message(self: MessagePump, message: Message) -> None:
        try:
            await _DISPATCH(self, message)
        except Exception as error:
            if not _contained(self, message, error):
                raise

    MessagePump._dispatch_message = _dispatch_message  # type: ignore[method-assign]


def _contained(pump: MessagePump, message: Message, error: Exception) -> bool:
    try:
        app = pump.app
    except NoActiveAppError:
        return False
    if not isinstance(app, GuardedApp):
        return False
    where = f"{type(pump).__name__} handling {type(message).__name__}"
    return app.contain_fault(error, where)
