"""Query results belong to the remote that answered them, whatever is chosen later.

Two real Orthancs hold different studies, so where a retrieve went shows in
the archive: a study of A can only come from A.
"""

from __future__ import annotations

import pytest
from textual.widgets import Select

from tests.dicom_factory import write_study
from tests.ui.conftest import TODAY, listening, screen_text, settle, with_modalities
from tests.ui.test_ui_query import wait_for
from tui_pacs.config import Modality, load_settings
from tui_pacs.core.model import Level
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.screens.query import QueryScreen, RemoteSeriesScreen
from tui_pacs.ui.screens.remotes import RemotesScreen

TWO_REMOTES = """\
[[modalities]]
name = "alpha"
aet = "ALPHA"
host = "127.0.0.1"
port = 1

[[modalities]]
name = "beta"
aet = "BETA"
host = "127.0.0.1"
port = 2
"""


async def query_on(pilot, name: str) -> QueryScreen:
    """Remotes (key 3), the cursor on ``name``, q: the query screen, asking it at once."""
    app = pilot.app
    await pilot.press("3")
    await settle(pilot)
    assert isinstance(app.screen, RemotesScreen)
    names = [row["name"] for row in app.screen.table.loaded_rows()]
    app.screen.table.cursor_row = names.index(name)
    await pilot.press("q")
    await settle(pilot)
    assert isinstance(app.screen, QueryScreen)
    return app.screen


async def test_a_config_write_keeps_the_chosen_remote(settings):
    settings.path.write_text(TWO_REMOTES)
    settings = load_settings(settings.path).with_node(data=settings.node.data)
    app = PacsApp(settings, listen=False, clock=lambda: TODAY)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await query_on(pilot, "beta")
        assert screen.target.name == "beta"
        app.theme = "tui-pacs-light"  # written to the config file, which is read again
        await wait_for(pilot, lambda: app.settings.ui.theme == "tui-pacs-light")
        assert app.is_running and app.screen is screen
        assert screen.target.name == "beta"
    assert load_settings(settings.path).ui.theme == "tui-pacs-light"


@pytest.fixture
def two_orthancs(settings, orthanc_factory, tmp_path):
    """This node (empty archive), and Orthancs alpha (study 1) and beta (study 2)."""
    node = listening(settings)
    knows_us = {"tuipacs": ("TUIPACS", "127.0.0.1", node.node.port)}
    modalities, uids = [], {}
    for name, study in (("alpha", 1), ("beta", 2)):
        server = orthanc_factory(aet=name.upper(), modalities=knows_us)
        files = write_study(tmp_path / name, study=study, series=1, instances=2,
                            patient_id=f"PAT{study}", patient_name="DOE^JANE",
                            study_date="20240115")
        server.upload(*files)
        modalities.append(Modality(name, server.aet, "127.0.0.1", server.dicom_port))
        uids[name] = server.get(f"/studies/{server.get('/studies')[0]}")[
            "MainDicomTags"]["StudyInstanceUID"]
    return with_modalities(node, *modalities), uids


async def archived_studies(app: PacsApp) -> set[str]:
    rows = await app.backend.archive.index.query(Level.STUDY)
    return {row["StudyInstanceUID"] for row in rows}


async def retrieve_here(pilot) -> None:
    app = pilot.app
    finished = len(app.activity.rows.rows)
    await pilot.press("escape", "m")
    await wait_for(pilot, lambda: not app.transfers.running
                   and len(app.activity.rows.rows) > finished)


async def test_results_act_on_the_remote_that_answered(two_orthancs):
    settings, uids = two_orthancs
    app = PacsApp(settings, listen=True, clock=lambda: TODAY)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await query_on(pilot, "alpha")
        await pilot.press("f5")
        await wait_for(pilot, lambda: "1 study from alpha" in screen_text(app))

        # The choice is blanked and restored by a config write: the results stay alpha's.
        app.apply_settings(app.settings)
        await settle(pilot)
        assert [row["StudyInstanceUID"] for row in screen.results.rows] == [uids["alpha"]]
        await retrieve_here(pilot)
        assert await archived_studies(app) == {uids["alpha"]}

        # Choosing beta (in the list above the form) drops alpha's answers instead of
        # retrieving them from beta.
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RemoteSeriesScreen)
                       and app.screen.results.rows)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        screen.query_one("#remote", Select).value = "beta"
        await settle(pilot)
        assert screen.results.rows == [] and screen.source is None
        assert "results from alpha were cleared" in screen_text(app)
        await pilot.press("escape", "m", "enter")
        await settle(pilot)
        assert app.screen is screen and await archived_studies(app) == {uids["alpha"]}

        await pilot.press("f5")
        await wait_for(pilot, lambda: "1 study from beta" in screen_text(app))
        await retrieve_here(pilot)
        assert await archived_studies(app) == {uids["alpha"], uids["beta"]}
