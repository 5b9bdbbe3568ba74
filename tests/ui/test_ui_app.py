"""The shell of the app: sections, help, the command palette, logs into the activity screen."""

from __future__ import annotations

import logging

from tests.ui.conftest import column, make_app, screen_text, settle
from tui_pacs.ui.screens.activity import ActivityScreen
from tui_pacs.ui.screens.help import HelpScreen
from tui_pacs.ui.screens.query import QueryScreen
from tui_pacs.ui.screens.remotes import RemotesScreen
from tui_pacs.ui.screens.studies import StudiesScreen


async def test_sections_by_number(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, screen_type in (("2", QueryScreen), ("3", RemotesScreen),
                                 ("4", ActivityScreen), ("1", StudiesScreen)):
            await pilot.press("escape", key)
            await settle(pilot)
            assert isinstance(app.screen, screen_type), key


async def test_help_lists_the_keys_of_the_screen(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for line in ("Keys: studies in the local archive", "Delete", "Patients", "Filter",
                     "everywhere", "Quit", "palette"):
            assert line in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, StudiesScreen)


async def test_every_key_is_in_the_palette(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        from tui_pacs.ui.commands import PacsCommands

        provider = PacsCommands(app.screen)
        titles = {entry.title for entry in provider._entries()}
        for binding in app.screen.active_bindings.values():
            if binding.binding.description and binding.node in (app, app.screen) \
                    and binding.enabled:
                assert binding.binding.description in titles
        assert {"Sort by Date", "Studies from today", "Go to Remotes", "Open"} <= titles


async def run_from_the_palette(pilot, command: str) -> None:
    """Open the command palette, type ``command`` and run the first hit."""
    await settle(pilot)
    await pilot.press("ctrl+p")
    await settle(pilot)
    await pilot.press(*command)
    await pilot.pause(0.5)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def test_open_from_the_palette_drills_down(seeded):
    from tui_pacs.ui.screens.series import SeriesScreen

    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_from_the_palette(pilot, "open")
        assert isinstance(app.screen, SeriesScreen)


async def test_palette_runs_a_command(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_from_the_palette(pilot, "sort by patient name")
        names = column(app, "PatientName")
        assert names == sorted(names)
        assert app.screen.order_by == "PatientName"


async def test_log_records_go_to_the_activity_screen_not_the_terminal(seeded, capsys):
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        logging.getLogger("pynetdicom.assoc").warning("peer sent something odd")
        await pilot.press("4")
        await pilot.pause(0.4)
        await settle(pilot)
        rows = app.screen.table.loaded_rows()
        assert any(r["Detail"] == "peer sent something odd" and r["Severity"] == "warning"
                   for r in rows)
    assert "peer sent something odd" not in capsys.readouterr().out


async def test_a_failing_background_job_is_reported_not_fatal(seeded, caplog, faults):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        async def broken() -> None:
            raise OSError("disk on fire")

        app.screen.run_worker(broken, group="test", exit_on_error=False)
        await settle(pilot)
        assert any("OSError: disk on fire" in str(n.message) for n in app._notifications)
        assert app.is_running
    assert "broken failed" in caplog.text
    faults.clear()


async def test_the_palette_sorts_only_by_columns_shown(seeded):
    from tui_pacs.ui.commands import PacsCommands

    for size, born_shown in (((80, 24), False), ((140, 30), True)):
        app = make_app(seeded)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            titles = {entry.title for entry in PacsCommands(app.screen)._entries()}
            shown = [column.key for column in app.screen.table.visible_columns]
            assert ("PatientBirthDate" in shown) is born_shown
            assert ("Sort by Born" in titles) is born_shown, size
            assert "Sort by Date" in titles
