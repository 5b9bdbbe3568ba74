"""Query results count what the archive already holds of each study and series found:
part of a study is ``2/6``, not a tick; a retrieve, a delete and received instances
change the count."""

from __future__ import annotations

import pytest

from tests.dicom_factory import write_study
from tests.ui.conftest import TODAY, listening, screen_text, settle, with_modalities
from tests.ui.test_ui_query import wait_for
from tui_pacs.config import Modality
from tui_pacs.ui.app import PacsApp
from tui_pacs.ui.screens.query import RemoteSeriesScreen, completeness, held_text
from tui_pacs.ui.screens.studies import StudiesScreen

pytestmark = pytest.mark.interop


@pytest.fixture
def part_here(settings, orthanc_factory, tmp_path):
    """An Orthanc holding a study of 2 series x 3 instances; two instances of its first
    series are already in this node's archive."""
    node = listening(settings)
    server = orthanc_factory(modalities={"tuipacs": ("TUIPACS", "127.0.0.1", node.node.port)})
    files = write_study(tmp_path / "seed", study=1, series=2, instances=3, patient_id="PAT1",
                        patient_name="DOE^JANE", study_date="20240115")
    server.upload(*files)
    node = with_modalities(node, Modality("pacs", server.aet, "127.0.0.1", server.dicom_port))
    return node, files[:2]


def here(screen) -> list[tuple[str, str | None]]:
    """The Here column of each result, and the row's class (success: complete)."""
    return [(held_text(row), completeness(row)) for row in screen.table.loaded_rows()]


async def test_counts_instances_held_here(part_here):
    settings, local_files = part_here
    app = PacsApp(settings, listen=True, clock=lambda: TODAY)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.backend.archive.store_files(local_files)
        await pilot.press("2", "f5")
        await wait_for(pilot, lambda: "1 study from pacs" in screen_text(app))
        query = app.screen
        await wait_for(pilot, lambda: here(query) == [("2/6", "warning")])
        assert "2/6" in screen_text(app)

        await pilot.press("escape", "enter")  # the series on the remote
        await wait_for(pilot, lambda: isinstance(app.screen, RemoteSeriesScreen)
                       and len(app.screen.results.rows) == 2)
        series = app.screen
        await wait_for(pilot, lambda: sorted(here(series)) == [("", None), ("2/3", "warning")])

        await pilot.press("escape", "m")  # the rest of the study comes
        await wait_for(pilot, lambda: not app.transfers.running
                       and here(query) == [("6/6", "success")])
        assert (await app.backend.archive.index.totals())["instances"] == 6

        await pilot.press("1", "d", "y")  # deleted here: nothing held any more
        await settle(pilot)
        assert isinstance(app.screen, StudiesScreen)
        await pilot.press("2")
        await wait_for(pilot, lambda: here(query) == [("", None)])
        assert (await app.backend.archive.index.totals())["instances"] == 0
