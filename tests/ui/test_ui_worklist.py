"""The Query screen's worklist mode against DCMTK's wlmscpfs, at 80x24: w switches,
the form filters the scheduled steps, enter shows one in full."""

from __future__ import annotations

import pytest

from tests.peers.worklist import Step
from tests.ui.conftest import make_app, open_query, screen_text, settle, with_modalities
from tests.ui.test_ui_query import wait_for
from tui_pacs.config import Modality
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.screens.query import QueryScreen

# The app's clock says 2024-01-15.
STEPS = [
    Step("DOE^JANE", "PAT1", "ACC101", "CT1", "CT", "20240115", "081500", "CT HEAD", "RP1",
         "S1"),
    Step("SMITH^JOHN", "PAT2", "ACC102", "MR1", "MR", "20240115", "100000", "MR KNEE", "RP2",
         "S2"),
    Step("ROE^RICHARD", "PAT3", "ACC103", "CT1", "CT", "20240116", "090000", "CT CHEST", "RP3",
         "S3"),
]


@pytest.fixture
def ris(wlmscpfs_factory) -> Modality:
    """A worklist server holding STEPS, as a configured modality."""
    server = wlmscpfs_factory(aet="RIS")
    server.write(STEPS)
    return Modality("ris", "RIS", "127.0.0.1", server.port)


def accessions(screen: QueryScreen) -> list[str]:
    return sorted(row["AccessionNumber"] for row in screen.results.rows)


@pytest.mark.interop
async def test_worklist_mode(seeded, ris):
    app = make_app(with_modalities(seeded, ris))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_query(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert screen.worklist
        assert "w Worklist" in screen_text(app)
        assert not screen.check_action("retrieve", ("C-MOVE",))

        await pilot.press("slash", "enter")
        await wait_for(pilot, lambda: "3 scheduled steps from ris" in screen_text(app))
        assert accessions(screen) == ["ACC101", "ACC102", "ACC103"]
        shown = [column.key for column in screen.table.visible_columns]
        assert shown[:2] == ["PatientName", "PatientID"]
        assert {"Modality", "ScheduledProcedureStepStartDate",
                "ScheduledProcedureStepStartTime"} <= set(shown)
        assert "2024-01-15" in screen_text(app) and "08:15" in screen_text(app)

        # The date field is the step's start date: today, by the app's clock.
        await pilot.press("D", "f5")
        await wait_for(pilot, lambda: "2 scheduled steps from ris" in screen_text(app))
        assert accessions(screen) == ["ACC101", "ACC102"]

        await pilot.press("slash", "tab", "tab", "tab", *"mr", "enter")
        await wait_for(pilot, lambda: "1 scheduled step from ris" in screen_text(app))
        assert accessions(screen) == ["ACC102"]

        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReportDialog)
        text = "\n".join(line.plain for line in dialog.lines)
        assert "SMITH^JOHN" in text and "on MR1 (MR)" in text and "MR KNEE" in text
        await pilot.press("escape")

        # Back to studies: retrieving is offered again.
        await pilot.press("w")
        await settle(pilot)
        assert not screen.worklist
        assert screen.check_action("retrieve", ("C-MOVE",))
