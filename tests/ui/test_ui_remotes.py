"""Remote modalities: echo (ok and failing, with the diagnosis), add/edit/delete written
to the config file, the doctor's checklist; the app's own node is the remote."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from tests.ui.conftest import TODAY, column, listening, screen_text, settle
from tui_pacs.config import load_settings
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.dialogs.modality_form import ModalityForm
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.screens.remotes import RemotesScreen

CONFIG = """\
# Remotes of the test ward.
[[modalities]]
name = "self"        # this node itself
aet = "TUIPACS"
host = "127.0.0.1"
port = {port}

[[modalities]]
name = "nobody"
aet = "NOBODY"
host = "127.0.0.1"
port = {closed}
"""


@pytest.fixture
def configured(seeded):
    """The seeded archive, listening, with two modalities: itself and a closed port."""
    settings = listening(seeded)
    path = seeded.path
    path.write_text(CONFIG.format(port=settings.node.port, closed=free_port()))
    return load_settings(path).with_node(data=settings.node.data, port=settings.node.port,
                                         bind="127.0.0.1")


def remotes_app(settings) -> PacsApp:
    return PacsApp(settings, listen=True, clock=lambda: TODAY)


def row(app, name):
    return next(r for r in app.screen.table.loaded_rows() if r["name"] == name)


async def test_echo_one_and_all(configured):
    app = remotes_app(configured)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, RemotesScreen)
        await pilot.press("e")
        await settle(pilot)
        assert row(app, "self")["outcome"].report.ok
        assert "ok " in screen_text(app) and " ms" in screen_text(app)
        await pilot.press("E")
        await settle(pilot)
        nobody = row(app, "nobody")["outcome"]
        assert not nobody.report.ok and nobody.text == "connection refused"
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportDialog)
        text = screen_text(app)
        assert "connection refused" in text.lower()
        echoes = [(r["Service"], r["AETs"], r["Status"], r["Severity"])
                  for r in app.activity.rows.rows if r["Service"] == "C-ECHO"]
        assert ("C-ECHO", "nobody", "fail", "error") in echoes  # recorded in Activity
        assert ("C-ECHO", "self", "ok", "success") in echoes
        [refused] = [r for r in app.activity.rows.rows
                     if r["Service"] == "C-ECHO" and r["AETs"] == "nobody"]
        assert "connection refused" in refused["Detail"].lower()


async def test_add_edit_delete_written_to_the_config(configured):
    path = configured.path
    app = remotes_app(configured)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3", "n")
        await settle(pilot)
        assert isinstance(app.screen, ModalityForm)
        await pilot.press(*"ct3", "tab", *"CT3", "tab", *"10.0.3.3", "tab", "backspace",
                          "backspace", "backspace", *"4104", "enter")
        await settle(pilot)
        assert load_settings(path).modality("ct3").port == 4104
        assert app.backend.client.target("ct3").port == 4104
        assert column(app, "name") == ["self", "nobody", "ct3"]
        # A second one with the same name is refused in the form.
        await pilot.press("n", *"ct3", "enter")
        await settle(pilot)
        assert "already used" in screen_text(app)
        # A port that is not a number is refused, not replaced by 104.
        await pilot.press("ctrl+u", *"ct4", "tab", *"CT4", "tab", *"10.0.3.4",
                          "tab", *"abc", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ModalityForm)
        assert "Port: 'abc' is not a port" in screen_text(app)
        assert load_settings(path).modality("ct4") is None
        await pilot.press("escape")
        await settle(pilot)
        app.screen.table.cursor_row = 2
        await pilot.press("m")
        await settle(pilot)
        port = app.screen.query_one("#port")
        port.value = "104"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert load_settings(path).modality("ct3").port == 104
        await pilot.press("d", "y")
        await settle(pilot)
        settings = load_settings(path)
        assert settings.modality("ct3") is None and len(settings.modalities) == 2
    assert path.read_text().startswith("# Remotes of the test ward.")
    assert "# this node itself" in path.read_text()


@pytest.mark.slow
async def test_doctor_checklist(configured):
    app = remotes_app(configured)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3", "c")
        for _ in range(20):
            await settle(pilot)
            if len(app.screen.lines) >= 7:
                break
            await pilot.pause(0.3)
        text = screen_text(app)
        assert "Checkup of self" in text
        assert "OK" in text and "C-ECHO" in text
