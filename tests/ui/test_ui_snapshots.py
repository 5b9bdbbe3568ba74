"""Each screen as the terminal shows it, at 80x24 and at 120x40.

Deterministic: fixed UIDs, dates and clock, no cursor blink, activity rows
with fixed times. Update with ``pytest tests/ui --snapshot-update`` after
checking the report; the SVGs are committed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.conftest import pydicom_file
from tests.ui.conftest import TWO_REMOTES, make_app, seed, settle, with_modalities
from tui_pacs.core.events import AssociationEvent, OperationEvent

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def keys(*pressed: str):
    """A run_before that presses keys, waiting for the app after each."""

    async def run(pilot) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run


# Screens of the seeded archive, and the keys that lead to them from the start.
SCREENS = {
    "studies": (),
    "patients": ("p",),
    "series": ("enter",),
    "instances": ("enter", "enter"),
    "delete_confirmation": ("d",),
    "tags_of_a_series": ("enter", "t", "slash", *"patient", "escape"),
    "help": ("question_mark",),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, seeded, screen, size):
    assert snap_compare(make_app(seeded), terminal_size=size, run_before=keys(*SCREENS[screen]))


@pytest.mark.parametrize("size", SIZES)
def test_studies_filtered(snap_compare, seeded, size):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("slash", *"doe", "enter")
        await pilot.pause(0.4)
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run)


@pytest.fixture
def ct(settings):
    asyncio.run(seed(settings.node.data, [pydicom_file("CT_small.dcm")]))
    return settings


@pytest.mark.parametrize("size", SIZES)
def test_preview(snap_compare, ct, size):
    assert snap_compare(make_app(ct), terminal_size=size, run_before=keys("v", "w"))


def activity_rows(app) -> None:
    """The activity log of a small, fixed afternoon."""
    app.activity.rows.clear()
    at = datetime(2024, 1, 15, 14, 2, 7)
    app.activity.add_event(AssociationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "accepted"))
    for n in range(3):
        app.activity.add_event(OperationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "C-STORE", 0,
                                              0.012, {"instances": 1, "bytes": 526_336},
                                              f"1.2.3.{n}"))
    app.activity.add_event(OperationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "C-STORE",
                                          0xA700, 0.003, {"bytes": 526_336},
                                          "1.2.3.9: out of disk space"))
    app.activity.add_event(AssociationEvent(at, "10.0.3.3", "CT3", "TUIPACS", "released",
                                            "4 operations", 1.5))
    app.activity.add_event(AssociationEvent(at, "10.9.9.9", "INTRUDER", "TUIPACS", "rejected",
                                            "calling AE title not recognised"))
    app.activity.add_log(at, 30, "tui_pacs.net.storage", "C-STORE from CT3 refused (0xA700)")


@pytest.mark.parametrize("size", SIZES)
def test_activity(snap_compare, seeded, size):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        activity_rows(pilot.app)
        pilot.app.screen.table.reload(keep_cursor=False)
        await settle(pilot)

    assert snap_compare(make_app(seeded), terminal_size=size, run_before=run)


@pytest.mark.parametrize("theme", ["tui-pacs-light", "tui-pacs-high-contrast", "tui-pacs-ansi"])
def test_themes(snap_compare, seeded, theme):
    app = make_app(seeded)
    app.theme = theme
    assert snap_compare(app, terminal_size=(80, 24), run_before=keys())


@pytest.fixture
def with_remotes(seeded):
    return with_modalities(seeded, *TWO_REMOTES)


REMOTE_SCREENS = {
    "remotes": ("3",),
    "modality_form": ("3", "m"),
    "send_to": ("s",),
    "query_form": ("2",),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", REMOTE_SCREENS)
def test_remote_screen(snap_compare, with_remotes, screen, size):
    assert snap_compare(make_app(with_remotes), terminal_size=size,
                        run_before=keys(*REMOTE_SCREENS[screen]))


@pytest.mark.parametrize("size", SIZES)
def test_query_results(snap_compare, seeded, remote_node, size):
    async def run(pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *"doe", "enter")
        for _ in range(40):
            await settle(pilot)
            if "from remote in" in str(pilot.app.screen.query_one("#title").content):
                break
            await pilot.pause(0.1)
        assert len(pilot.app.screen.results.rows) == 2
        pilot.app.screen.sort_by("StudyDate", descending=True)
        # The time the query took changes from run to run.
        pilot.app.screen.show_state("2 studies from remote")
        await settle(pilot)

    app = make_app(with_modalities(seeded, remote_node))
    assert snap_compare(app, terminal_size=size, run_before=run)
