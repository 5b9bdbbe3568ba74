"""The field with the focus is plain in every theme, in 256 and in 16 colours."""

from __future__ import annotations

import pytest
from rich.color import ColorSystem
from rich.segment import Segment

from tests.ui.conftest import TWO_REMOTES, make_app, settle, with_modalities
from tui_pacs.ui.themes import load_themes

THEMES = sorted(load_themes(None).themes)


def backgrounds(app, widget, system: ColorSystem) -> set:
    """The background colours of ``widget``'s cells, as a terminal of ``system`` shows them."""
    region = widget.region
    strips = app.screen._compositor.render_strips()
    colours = set()
    for strip in strips[region.y:region.bottom]:
        cells = Segment.divide(list(strip), [region.x, region.right])
        for segment in list(cells)[1]:
            style = segment.style
            if style is not None and style.bgcolor is not None:
                colours.add(style.bgcolor.downgrade(system))
    return colours


@pytest.mark.parametrize("theme", THEMES)
async def test_focused_field_stands_out(seeded, theme):
    app = make_app(with_modalities(seeded, *TWO_REMOTES))
    app.theme = theme
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        remote = app.screen.query_one("#remote")
        assert app.focused is remote
        level = app.screen.query_one("#level")
        await pilot.press("slash")
        await settle(pilot)
        name, patient_id = (app.screen.query_one(f"#filter-{f}") for f in ("name", "patient_id"))
        assert app.focused is name
        for system in (ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
            assert backgrounds(app, name, system) != backgrounds(app, patient_id, system)
        remote.focus()
        await settle(pilot)
        for system in (ColorSystem.EIGHT_BIT, ColorSystem.STANDARD):
            assert backgrounds(app, remote, system) != backgrounds(app, level, system)
