"""The tag inspector: tree, search, copy, stepping through a series, differences."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import pydicom_file
from tests.ui.conftest import make_app, screen_text, seed, settle
from tui_pacs.core.dump import dump_lines
from tui_pacs.ui.datasets import differing_tags, read_dataset, search, tag_tree, walk
from tui_pacs.ui.screens.tags import TagsScreen


async def open_instance_tags(pilot) -> TagsScreen:
    """From the studies list: first study, first series, first instance, Enter."""
    for _ in range(3):
        await pilot.press("enter")
        await settle(pilot)
    assert isinstance(pilot.app.screen, TagsScreen)
    return pilot.app.screen


def entry_named(screen: TagsScreen, keyword: str):
    return next(e for e in walk(screen.entries) if e.line.name == keyword)


async def test_instance_shows_every_element(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = await open_instance_tags(pilot)
        assert entry_named(screen, "PatientName").line.value == "DOE^JANE"
        assert entry_named(screen, "PixelData").line.value == "<pixel data, 8192 bytes>"
        text = screen_text(app)
        assert "(0010,0010) PN PatientName" in text
        assert "instance 1/3" in text


async def test_search_jumps_to_keyword_tag_or_value(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = await open_instance_tags(pilot)
        await pilot.press("slash", *"accession")
        await settle(pilot)
        assert screen.tag_tree.cursor_node.data.line.name == "AccessionNumber"
        await pilot.press("escape")
        assert screen.tag_tree.has_focus
        for query, name in (("0010,0020", "PatientID"), ("(0008,0060)", "Modality"),
                            ("who^dr", "ReferringPhysicianName")):
            screen._find(query, jump=True)
            await settle(pilot)
            assert screen.tag_tree.cursor_node.data.line.name == name, query


async def test_copy_puts_the_whole_value_on_the_clipboard(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = await open_instance_tags(pilot)
        screen.tag_tree.reveal(entry_named(screen, "StudyInstanceUID"))
        await pilot.press("c")
        await settle(pilot)
        assert app.clipboard == "1.2.826.0.1.3680043.10.1234.1"


async def test_series_differences_and_stepping(seeded):
    app = make_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("t")  # the first series, compared instance by instance
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TagsScreen) and len(screen.files) == 3
        # Headers only: pixel data is not compared.
        names = {e.line.name for e in screen.entries if e.tag in screen.differences}
        assert names == {"MediaStorageSOPInstanceUID", "SOPInstanceUID", "InstanceNumber",
                         "ImagePositionPatient"}
        assert "≠" in screen_text(app)
        await pilot.press("f")  # only what differs
        await settle(pilot)
        assert len(screen.tag_tree.root.children) == 4
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert screen.position == 1
        assert entry_named(screen, "InstanceNumber").line.value == "2"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TagsScreen)


@pytest.fixture
def bundled(settings, tmp_path):
    """An archive holding pydicom's CT (private tags) and an RT plan (nested sequences)."""
    asyncio.run(seed(settings.node.data, [pydicom_file("CT_small.dcm"),
                                          pydicom_file("rtplan.dcm")]))
    return settings


async def test_private_tags_name_their_creator_and_sequences_open(bundled):
    app = make_app(bundled)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        rows = app.screen.table.loaded_rows()
        app.screen.table.cursor_row = next(n for n, r in enumerate(rows)
                                           if r["ModalitiesInStudy"] == "RTPLAN")
        await pilot.press("t")
        await settle(pilot)
        screen = app.screen
        beams = entry_named(screen, "BeamSequence")
        assert beams.children and not screen.tag_tree._entry_nodes[id(beams)].children
        nested = search(screen.entries, "ControlPointIndex")[0]
        screen.tag_tree.reveal(nested)
        await settle(pilot)
        assert screen.tag_tree.cursor_node.data is nested
        assert "ControlPointIndex" in screen_text(app)


def test_private_creator_and_differences_without_the_ui(tmp_path):
    entries = tag_tree(read_dataset(pydicom_file("CT_small.dcm")))
    private = [e for e in walk(entries) if e.line.private_creator]
    assert private and all(e.line.private_creator == "GEMS_IDEN_01" for e in private
                           if e.tag >> 16 == 0x0009)
    assert [e.line for e in walk(entries)] == list(dump_lines(read_dataset(
        pydicom_file("CT_small.dcm"))))
    same = differing_tags([pydicom_file("CT_small.dcm")] * 3)
    assert same == {}
