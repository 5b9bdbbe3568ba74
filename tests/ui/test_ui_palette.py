"""The command palette finds, from every screen, what the README promises, the app's
own commands listed before Textual's generic ones."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette

from tests.ui.conftest import (
    TWO_REMOTES,
    make_app,
    open_query,
    screen_text,
    settle,
    with_modalities,
)
from tests.ui.test_ui_app import run_from_the_palette
from tests.ui.test_ui_query import wait_for
from tui_pacs.ui.screens.query import QueryScreen
from tui_pacs.ui.screens.remotes import RemotesScreen

# What is typed, and the title of the first hit.
PROMISED = {"echo pacs": "Echo pacs", "query ct3": "Query ct3",
            "retrieve": "Retrieve", "send": "Send", "theme": "Theme",
            "listen again": "Listen again"}


async def first_hits(pilot, typed: str) -> list[str]:
    """The titles the palette lists for ``typed``, best first; the palette is closed after."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await settle(pilot)
    palette = app.screen
    assert isinstance(palette, CommandPalette)
    await pilot.press(*typed)
    await settle(pilot)  # the palette searches in a worker of the app
    options = palette.query_one(CommandList)
    titles = [str(options.get_option_at_index(i).prompt).split("\n")[0]
              for i in range(options.option_count)]
    await pilot.press("escape")
    await settle(pilot)
    return titles


@pytest.mark.parametrize("section", ["1", "2", "3", "4"])
async def test_the_promised_commands_come_first_everywhere(seeded, section):
    app = make_app(with_modalities(seeded, *TWO_REMOTES))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(section)
        await settle(pilot)
        for typed, title in PROMISED.items():
            hits = await first_hits(pilot, typed)
            assert hits[0].startswith(title), (section, typed, hits)


async def test_query_and_echo_by_name_from_another_screen(seeded, remote_node):
    app = make_app(with_modalities(seeded, TWO_REMOTES[0], remote_node))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await run_from_the_palette(pilot, "query remote")
        query = app.screen
        assert isinstance(query, QueryScreen)
        await wait_for(pilot, lambda: "4 studies from remote" in screen_text(app))
        assert query.source.name == "remote"

        await run_from_the_palette(pilot, "echo remote")
        remotes = app.screen
        assert isinstance(remotes, RemotesScreen)
        await wait_for(pilot, lambda: remotes.outcomes["remote"].report is not None)
        assert remotes.outcomes["remote"].report.ok and set(remotes.outcomes) == {"remote"}


async def test_a_redraw_already_due_when_the_query_ends_keeps_the_final_line(seeded):
    """Results redraw a moment after they arrive; Textual runs a timer's callback as
    a message, so one can be due after the query has ended and shown its final
    line (what the CI saw, under load, as "asking remote… 4 studies so far")."""
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        query = await open_query(pilot)
        query._redraw_soon("asking remote… 4 studies so far")
        query.call_next(query._redraw_now)  # the timer fired: its callback waits
        query._stop_redraw()  # then the query ended, in the same turn
        query.show_state("4 studies from remote in 0.2 s")
        await settle(pilot)
        assert "4 studies from remote in 0.2 s" in screen_text(app)
        assert "so far" not in screen_text(app)
