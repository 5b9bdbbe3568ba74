"""The Remotes screen's probe: p on a modality shows what it accepts, at 80x24, in a
dialog that scrolls. DCMTK's storescp is the remote."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll

from tests.ui.conftest import make_app, screen_text, settle, with_modalities
from tests.ui.test_ui_query import wait_for
from tui_pacs.config import Modality
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.screens.remotes import RemotesScreen


@pytest.mark.interop
async def test_probe_a_modality(seeded, storescp):
    modality = Modality("store", storescp.aet, "127.0.0.1", storescp.port)
    app = make_app(with_modalities(seeded, modality))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, RemotesScreen)
        assert "p Probe" in screen_text(app)
        await pilot.press("p")
        dialog = app.screen
        assert isinstance(dialog, ReportDialog)
        await wait_for(pilot, lambda: any(line.plain.startswith("+ accepted")
                                          for line in dialog.lines))
        lines = [line.plain for line in dialog.lines]
        assert lines[0].startswith("implementation ") and "OFFIS_DCMTK" in lines[0]
        assert lines[1].startswith("max PDU 16384 · ")
        ct = next(line for line in lines if line.strip().startswith("CT Image"))
        assert ct.split()[2:5] == ["+", "+", "+"] and set(ct.split()[5:]) == {"."}
        worklist = next(line for line in lines if line.startswith("Modality Worklist FIND"))
        assert worklist.split()[3:] == [".", ".", ".", "."]
        # Every line fits the dialog; the matrix scrolls.
        box = dialog.query_one(VerticalScroll)
        assert all(len(line) <= box.content_region.width for line in lines)
        assert box.max_scroll_y > 0
        await pilot.press("escape")
        await settle(pilot)
        # Kept in Activity, with its whole report.
        [probe] = [row for row in app.activity.rows.rows if row["Service"] == "probe"]
        assert (probe["AETs"], probe["Status"]) == ("store", "ok")
        assert "CT Image" in probe["Detail"]
