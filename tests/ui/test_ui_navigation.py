"""Finding your way at 60 to 120 columns: the sections always named, footers whole,
help with its title in view, and keys that reach the screen unless you are typing."""

from __future__ import annotations

import os
import re

import pytest
from textual.widgets import Select
from textual.widgets._footer import FooterKey

from tests.conftest import cli_env
from tests.ui.conftest import (
    TWO_REMOTES,
    make_app,
    open_query,
    screen_text,
    settle,
    with_modalities,
)
from tests.ui.test_ui_cli import read_until, spawn, wait_exit
from tests.ui.test_ui_query import wait_for
from tests.ui.test_ui_query_remotes import query_on
from tui_pacs.config import load_settings
from tui_pacs.core.upstream import source_digest
from tui_pacs.ui.screens.help import HelpScreen
from tui_pacs.ui.screens.remotes import RemotesScreen
from tui_pacs.ui.widgets import footer
from tui_pacs.ui.widgets.status_bar import SECTIONS, SHORT

# The screens reached by these keys from the start, as the footer test visits them.
ROUTES = {"studies": ("1",), "series": ("1", "enter"), "query": ("2",), "remotes": ("3",),
          "activity": ("4",), "preview": ("1", "v")}


@pytest.mark.parametrize("width", [60, 80, 120])
async def test_sections_and_whole_footers_at_every_width(seeded, width):
    app = make_app(with_modalities(seeded, *TWO_REMOTES))
    async with app.run_test(size=(width, 24)) as pilot:
        await settle(pilot)
        for route, keys in ROUTES.items():
            await pilot.press("escape", *keys)
            await settle(pilot)
            top, *_, bottom = screen_text(app).splitlines()
            for key, section, title in SECTIONS:
                assert re.search(rf" {key} ?({title}|{SHORT[section]}) ", top), (route, top)
            footer = list(app.screen.query(FooterKey))
            shown = [key.description for key in footer]
            assert "Help" in shown and "palette" in shown, (route, bottom)
            for key in footer:
                assert key.region.right <= width and key.description in bottom, (route, bottom)


async def test_each_footer_starts_with_what_matters(seeded):
    app = make_app(with_modalities(seeded, *TWO_REMOTES))
    async with app.run_test(size=(80, 24)) as pilot:
        for keys, first in ((("1",), ["Filter", "View", "Tags"]),
                            (("2",), ["Form", "Retrieve"]),
                            (("3",), ["Echo", "Query", "Checkup"])):
            await pilot.press("escape", *keys)
            await settle(pilot)
            shown = [key.description for key in app.screen.query(FooterKey)]
            assert shown[:len(first)] == first


async def test_help_keeps_its_title_in_view_at_80x24(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark", "end")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Keys: studies in the local archive" in text
        assert "escape closes this help" in text


async def test_query_arrives_on_the_remote_choice_and_screen_keys_work(seeded):
    app = make_app(with_modalities(seeded, *TWO_REMOTES))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_query(pilot)
        assert isinstance(app.focused, Select) and app.focused.id == "remote"
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "3")
        await settle(pilot)
        assert isinstance(app.screen, RemotesScreen)


async def test_the_form_takes_keys_only_after_slash(seeded):
    app = make_app(with_modalities(seeded, TWO_REMOTES[0]))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        query = app.screen
        asked = []
        query._find = lambda target, keys, worklist: asked.append((target.name, keys))
        assert query.target.name == "pacs" and app.focused is query.table
        await pilot.press("slash", *"doe3", "escape")
        await settle(pilot)
        assert app.screen is query and app.focused is query.table
        assert query.query_one("#filter-name").value == "doe3"
        assert asked == []  # escape leaves the form without asking
        await pilot.press("x")
        await settle(pilot)
        assert query.query_one("#filter-name").value == ""
        await pilot.press("slash", *"roe", "enter")
        await settle(pilot)
        assert asked == [("pacs", {"PatientName": "roe*"})] and app.focused is query.table


async def test_q_in_remotes_asks_at_once_and_the_remote_is_remembered(settings, remote_node):
    settings.path.write_text(
        '[[modalities]]\nname = "other"\naet = "OTHER"\nhost = "127.0.0.1"\nport = 1\n\n'
        f'[[modalities]]\nname = "{remote_node.name}"\naet = "{remote_node.aet}"\n'
        f'host = "{remote_node.host}"\nport = {remote_node.port}\n')
    loaded = load_settings(settings.path).with_node(data=settings.node.data)
    app = make_app(loaded)
    async with app.run_test(size=(80, 24)) as pilot:
        query = await query_on(pilot, "remote")
        await wait_for(pilot, lambda: "4 studies from remote" in screen_text(app))
        assert query.source.name == "remote" and app.focused is query.table
        await wait_for(pilot, lambda: app.settings.ui.last_remote == "remote")
    assert load_settings(settings.path).ui.last_remote == "remote"

    again = make_app(load_settings(settings.path).with_node(data=settings.node.data))
    async with again.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert again.screen.target.name == "remote" and again.focused is again.screen.table


def test_keys_reach_the_screens_in_a_real_terminal(tmp_path):
    """At 80x24 in a pty: the sections and the help key are drawn, and 3 and ? typed on
    Query (two remotes, none chosen) change screens instead of filling a field."""
    config = tmp_path / "c.toml"
    config.write_text("".join(
        f'[[modalities]]\nname = "{m.name}"\naet = "{m.aet}"\nhost = "{m.host}"\n'
        f"port = {m.port}\n\n" for m in TWO_REMOTES))
    env = {**cli_env(), "TERM": "xterm-256color", "TUI_PACS_CONFIG": str(config)}
    pid, fd = spawn(["--data", str(tmp_path / "data"), "--no-listen"], env)
    try:
        shown = read_until(fd, b"Activity")
        shown += read_until(fd, b"Help")
        assert b"Remotes" in shown and b"palette" in shown
        os.write(fd, b"2")
        read_until(fd, b"choose a remote modality")
        os.write(fd, b"?")
        read_until(fd, b"Keys: query/retrieve")
        os.write(fd, b"?")  # closes the help
        os.write(fd, b"3")
        read_until(fd, b"2 remote modalities")
        os.write(fd, b"\x11")  # ctrl+q
        assert wait_exit(pid, fd) == 0
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", sorted(footer.UPSTREAM))
def test_the_textual_footer_code_the_footer_copies_is_unchanged(name):
    """When this fails after a Textual upgrade, compare the new source of ``name``
    with widgets/footer.py's PacsFooter; then record the new digest."""
    function, digest = footer.UPSTREAM[name]
    assert source_digest(function) == digest
