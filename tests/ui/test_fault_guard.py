"""The Textual internals the fault guard relies on, and how faults are reported."""

from __future__ import annotations

import logging

import pytest
from textual.message_pump import MessagePump

from tui_pacs.core.upstream import source_digest
from tui_pacs.ui import fault_guard
from tui_pacs.ui.failures import REPEAT_WINDOW, FaultReports


@pytest.mark.parametrize("name", sorted(fault_guard.UPSTREAM))
def test_the_adapted_textual_code_is_unchanged(name):
    """When this fails after a Textual upgrade, read the new source of ``name`` and
    check that fault_guard.py still keeps the app running; then record the new digest."""
    function, digest = fault_guard.UPSTREAM[name]
    assert source_digest(function) == digest


def test_install_wraps_dispatch_once():
    fault_guard.install()
    wrapped = MessagePump._dispatch_message
    fault_guard.install()
    assert MessagePump._dispatch_message is wrapped is not fault_guard.UPSTREAM[
        "MessagePump._dispatch_message"][0]


class Notes:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def notify(self, message: str, **options: object) -> None:
        self.shown.append(message)


def raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


def test_a_repeating_fault_is_reported_once_per_window(caplog, faults):
    now = [0.0]
    reports = FaultReports(clock=lambda: now[0])
    app = Notes()
    with caplog.at_level(logging.ERROR, "tui_pacs.ui"):
        for _ in range(50):  # a widget failing on every refresh
            reports.report(app, "Table handling Paint", raised(ValueError("bad row")))
        now[0] += REPEAT_WINDOW
        reports.report(app, "Table handling Paint", raised(ValueError("bad row")))
    assert len(app.shown) == 2
    assert app.shown[0].startswith("raised failed: ValueError: bad row.")
    [first, second] = [r.getMessage() for r in caplog.records]
    assert first == "raised failed (Table handling Paint): ValueError: bad row"
    assert second == ("raised failed (Table handling Paint) (49 more times before this): "
                      "ValueError: bad row")
    assert all(r.exc_info for r in caplog.records)
    faults.clear()
