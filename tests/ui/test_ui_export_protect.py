"""The Local screens' e (export) and P (protect) keys, driven as a person would."""

from __future__ import annotations

import zipfile

from pydicom import dcmread
from textual.widgets import Checkbox, Input

from tests.ui.conftest import column, make_app, screen_text, settle, until
from tui_pacs.core.model import Level
from tui_pacs.ui.dialogs.export_form import ExportForm


def notices(app) -> list[tuple[str, str, str]]:
    return [(n.title, n.severity, str(n.message)) for n in app._notifications]


async def test_e_exports_the_marked_studies_to_a_zip_chosen_in_the_dialog(seeded, tmp_path):
    destination = tmp_path / "out"
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ExportForm)
        assert "Export 2 studies" in screen_text(app)
        field = form.query_one("#destination", Input)
        assert field.value == "~/tui-pacs-export-20240115-093000"
        field.value = str(destination)
        form.query_one("#zip", Checkbox).value = True
        await settle(pilot)
        assert field.value == f"{destination}.zip"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: notices(app))
        [(title, severity, message)] = notices(app)
        assert (title, severity) == ("Transfer done", "information")
        assert message.startswith(f"Export 2 studies to {destination}.zip: 12 instances, ")
    with zipfile.ZipFile(f"{destination}.zip") as zipped:
        assert zipped.testzip() is None
        names = zipped.namelist()
        studies = {dcmread(zipped.open(name), stop_before_pixels=True).StudyDescription
                   for name in names}
    # The first two studies (newest first): CT HEAD and CT CHEST, 2 series x 3 each.
    assert len(names) == 12 and studies == {"CT HEAD", "CT CHEST"}


async def test_an_export_to_a_used_directory_fails_and_says_why(seeded, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#destination", Input).value = str(used)
        await pilot.press("enter")
        await until(pilot, lambda: notices(app))
        [(title, severity, message)] = notices(app)
        assert (title, severity) == ("Transfer failed", "error")
        assert message.endswith(f"{used}: the directory is not empty")
    assert [p.name for p in used.iterdir()] == ["notes.txt"]


async def test_capital_p_protects_the_study_and_shows_it(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("P")
        await until(pilot, lambda: column(app, "Protected")[:1] == [1])
        assert "protected" in str(app.screen.query_one("#identifiers").render())
        [row] = await app.backend.archive.index.query(
            Level.STUDY, {}, limit=1, local=("Protected",))
        assert row["Protected"] == 1
        await pilot.press("P")
        await until(pilot, lambda: column(app, "Protected")[:1] == [0])
