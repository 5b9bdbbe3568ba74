"""Each screen and dialog as the terminal shows it, at 80x24 and at 120x40.

Each is taken twice: at 80x24 in the dark theme and at 120x40 in the light
one, so both sizes and both themes are seen without four images per screen;
the other built-in themes are taken once. Deterministic: fixed UIDs, dates
and clock, no cursor blink, activity rows with fixed times, and the figures
of echo and checkup reports (times, the peer's port) masked. Update with
``pytest tests/ui --snapshot-update`` after checking the report; the SVGs are
committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import datetime

import pytest
from textual.content import Content
from textual.widgets import Static

from tests.conftest import pydicom_file
from tests.ui.conftest import TWO_REMOTES, make_app, seed, settle, with_modalities
from tests.ui.test_ui_forwarding import queued  # noqa: F401  (a fixture)
from tests.ui.test_ui_query import wait_for
from tui_pacs.config import StorageConfig
from tui_pacs.core.events import AssociationEvent, OperationEvent
from tui_pacs.ui import quitting
from tui_pacs.ui.dialogs.report import ReportDialog

VARIANTS = [pytest.param((80, 24), "tui-pacs-dark", id="80x24-dark"),
            pytest.param((120, 40), "tui-pacs-light", id="120x40-light")]


def themed(app, theme: str):
    app.theme = theme
    return app


def keys(*pressed: str):
    """A run_before that presses keys, waiting for the app after each."""

    async def run(pilot) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run


# Screens and dialogs of the seeded archive with two remotes that need not answer,
# and the keys that lead to them from the start.
SCREENS = {
    "studies": (),
    "studies_filtered": ("slash", *"doe", "enter"),
    "patients": ("p",),
    "series": ("enter",),
    "instances": ("enter", "enter"),
    "delete_confirmation": ("d",),
    "send_to": ("s",),
    "export_dialog": ("e",),
    "tags_of_a_series": ("enter", "t", "slash", *"patient", "escape"),
    "help": ("question_mark",),
    "query_form": ("2", "slash", *"doe", "tab", *"PAT1"),
    "query_help": ("2", "question_mark"),
    "remotes": ("3",),
    "modality_form": ("3", "m"),
}


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, with_remotes, screen, size, theme):
    assert snap_compare(themed(make_app(with_remotes), theme), terminal_size=size,
                        run_before=keys(*SCREENS[screen]))


@pytest.fixture
def with_remotes(seeded):
    return with_modalities(seeded, *TWO_REMOTES)


@pytest.fixture
def ct(settings):
    asyncio.run(seed(settings.node.data, [pydicom_file("CT_small.dcm")]))
    return settings


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_preview(snap_compare, ct, size, theme):
    assert snap_compare(themed(make_app(ct), theme), terminal_size=size,
                        run_before=keys("v", "w"))


def activity_rows(app) -> None:
    """The activity log of a small, fixed afternoon."""
    app.activity.rows.clear()
    at = datetime(2024, 1, 15, 14, 2, 7)
    app.activity.add_event(AssociationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "accepted",
                                            association=1))
    for n in range(3):
        app.activity.add_event(OperationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "C-STORE", 0,
                                              0.012, {"instances": 1, "bytes": 526_336},
                                              f"1.2.3.{n}", association=1))
    app.activity.add_event(OperationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "C-STORE",
                                          0xA700, 0.003, {"bytes": 526_336},
                                          "1.2.3.9: out of disk space", association=1))
    app.activity.add_event(AssociationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "released",
                                            "4 operations", 1.5, association=1))
    app.activity.add_event(AssociationEvent(at, "10.9.9.9", "INTRUDER", "TUIPACS", "rejected",
                                            "calling AE title not recognised", association=2))
    app.activity.add_log(at, 30, "tui_pacs.net.storage", "C-STORE from CT3 refused (0xA700)")


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_activity(snap_compare, seeded, size, theme):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        activity_rows(pilot.app)
        pilot.app.screen.table.reload(keep_cursor=False)
        await settle(pilot)

    assert snap_compare(themed(make_app(seeded), theme), terminal_size=size, run_before=run)


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_forward_queue(snap_compare, queued, size, theme):  # noqa: F811  (the fixture)
    assert snap_compare(themed(make_app(queued), theme), terminal_size=size,
                        run_before=keys("4", "w"))


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_quit_dialog(snap_compare, seeded, monkeypatch, size, theme):
    monkeypatch.setattr(quitting, "running_work", lambda backend, transfers: [
        "association with CT3@10.0.3.3", "C-MOVE study DOE^JANE 2024-01-15 from pacs (3/12)"])
    assert snap_compare(themed(make_app(seeded), theme), terminal_size=size,
                        run_before=keys("ctrl+q"))


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_problem_on_the_top_line(snap_compare, seeded, size, theme):
    """A reserve larger than any disk: the node needs attention (`tui-pacs status`)."""
    settings = dataclasses.replace(seeded, storage=StorageConfig(min_free_mb=10_000_000))
    assert snap_compare(themed(make_app(settings), theme), terminal_size=size,
                        run_before=keys())


@pytest.mark.parametrize("theme", ["tui-pacs-high-contrast", "tui-pacs-ansi"])
def test_themes(snap_compare, seeded, theme):
    assert snap_compare(themed(make_app(seeded), theme), terminal_size=(80, 24),
                        run_before=keys())


# --- against a real remote node: its answers are fixed, its port and times are not ----

# Figures that change from run to run, and what they are shown as.
FIGURES = [(re.compile(r"\d+(\.\d+)? ms"), "9.9 ms"), (re.compile(r":\d{2,5}\b"), ":PORT"),
           (re.compile(r"port \d{2,5}\b"), "port PORT"), (re.compile(r"\d+\.\d\d s\b"), "9.99 s")]


def masked(content: Content) -> Content:
    """``content`` with its changing figures replaced, its other styles kept."""
    for pattern, shown in FIGURES:
        pieces, last = [], 0
        for match in pattern.finditer(content.plain):
            pieces += [content[last:match.start()], Content(shown)]
            last = match.end()
        content = Content.assemble(*pieces, content[last:])
    return content


async def mask_report(pilot) -> None:
    """Wait for the report dialog to be complete, then mask its figures."""
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ReportDialog)
    dialog.lines = [masked(line) for line in dialog.lines]
    dialog.query_one("#report-body", Static).update(Content("\n").join(dialog.lines))
    dialog.query_one(".dialog-title", Static).update(masked(Content(dialog._title)))
    await settle(pilot)


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_query_results(snap_compare, seeded, remote_node, size, theme):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("2", "slash", *"doe", "enter")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "from remote in" in str(screen.query_one("#title").content))
        assert len(screen.results.rows) == 2
        screen.sort_by("StudyDate", descending=True)
        # The time the query took changes from run to run.
        screen.show_state("2 studies from remote")
        await settle(pilot)

    app = themed(make_app(with_modalities(seeded, remote_node)), theme)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_remote_series(snap_compare, seeded, remote_node, size, theme):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("2", "slash", *"smith", "enter")
        await wait_for(pilot, lambda: pilot.app.screen.results.rows)
        await pilot.press("enter")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "from remote in" in str(screen.query_one("#title").content))
        screen.sort_by("SeriesNumber")
        screen.show_state("2 series from remote")
        await settle(pilot)

    app = themed(make_app(with_modalities(seeded, remote_node)), theme)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
@pytest.mark.parametrize("report", ["echo", "checkup", "probe"])
def test_report(snap_compare, seeded, remote_node, report, size, theme):
    async def run(pilot) -> None:
        await settle(pilot)
        if report == "echo":
            await pilot.press("3", "e")
            await wait_for(pilot, lambda: pilot.app.screen.outcomes["remote"].report)
            await pilot.press("enter")
        elif report == "checkup":
            await pilot.press("3", "c")
        else:
            await pilot.press("3", "p")
        await mask_report(pilot)

    app = themed(make_app(with_modalities(seeded, remote_node)), theme)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize(("size", "theme"), VARIANTS)
def test_worklist(snap_compare, seeded, wlmscpfs_factory, size, theme):
    from tests.peers.worklist import Step
    from tests.ui.test_ui_worklist import STEPS
    from tui_pacs.config import Modality

    server = wlmscpfs_factory(aet="RIS")
    server.write([*STEPS, Step("MÜLLER^ÅSA", "PAT4", "ACC104", "US1", "US", "20240115",
                               "143000", "US ABDOMEN", "RP4", "S4")])

    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("2", "w", "slash", "enter")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "from ris in" in str(screen.query_one("#title").content))
        screen.sort_by("ScheduledProcedureStepStartTime")
        # The time the query took changes from run to run.
        screen.show_state("4 scheduled steps from ris")
        await settle(pilot)

    ris = Modality("ris", "RIS", "127.0.0.1", server.port)
    app = themed(make_app(with_modalities(seeded, ris)), theme)
    assert snap_compare(app, terminal_size=size, run_before=run)
