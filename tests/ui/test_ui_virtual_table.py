"""The virtual table fetches only the rows on screen (and their block), whatever the count."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui_pacs.ui.widgets.virtual_table import BLOCK, Column, VirtualTable, fit_columns, fit_text

HUGE = 100_000


class CountingSource:
    """100,000 numbered rows, computed on demand; remembers what was asked."""

    def __init__(self) -> None:
        self.fetched: list[int] = []

    async def count(self) -> int:
        return HUGE

    async def fetch(self, offset: int, limit: int) -> list[dict]:
        self.fetched.append(offset)
        return [{"n": n, "name": f"row {n}"} for n in range(offset, min(HUGE, offset + limit))]


class TableApp(App):
    CSS_PATH = "../../tui_pacs/ui/styles/tables.tcss"

    def __init__(self, source) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield VirtualTable([Column("n", 6, justify="right"), Column("name", 10, flex=1)],
                           key=lambda row: row["n"], id="table")

    def on_mount(self) -> None:
        table = self.query_one(VirtualTable)
        table.focus()
        table.set_source(self.source)


async def idle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()


async def test_only_the_rows_on_screen_are_fetched():
    source = CountingSource()
    app = TableApp(source)
    async with app.run_test(size=(40, 12)) as pilot:
        await idle(pilot)
        table = app.query_one(VirtualTable)
        assert table.row_count == HUGE and source.fetched == [0]
        await pilot.press("end")
        await idle(pilot)
        assert table.cursor_row == HUGE - 1
        assert table.cursor_value == {"n": HUGE - 1, "name": "row 99999"}
        assert source.fetched == [0, (HUGE - 1) // BLOCK * BLOCK]
        await pilot.press("home", "pagedown", "pagedown")
        await idle(pilot)
        assert table.cursor_row == 2 * (12 - 1)
        assert len(source.fetched) == 2  # block 0 was kept


async def test_reload_keeps_the_cursor_on_its_row():
    class Growing(CountingSource):
        first = 0

        async def fetch(self, offset, limit):
            rows = await super().fetch(offset, limit)
            return [{"n": row["n"] + self.first, "name": row["name"]} for row in rows]

    source = Growing()
    app = TableApp(source)
    async with app.run_test(size=(40, 12)) as pilot:
        await idle(pilot)
        table = app.query_one(VirtualTable)
        table.cursor_row = 5
        await idle(pilot)
        source.first = -3  # three new rows arrived above
        table.reload(keep_cursor=True)
        await idle(pilot)
        assert table.cursor_value["n"] == 5 and table.cursor_row == 8


def test_columns_that_do_not_fit_go_least_important_first():
    columns = [Column("a", 10), Column("b", 10, drop=2), Column("c", 10, drop=1),
               Column("d", 10, flex=1)]
    assert [c.key for c, _ in fit_columns(columns, 44)] == ["a", "b", "c", "d"]
    assert [c.key for c, _ in fit_columns(columns, 35)] == ["a", "c", "d"]
    assert [c.key for c, _ in fit_columns(columns, 25)] == ["a", "d"]
    assert dict((c.key, w) for c, w in fit_columns(columns, 60))["d"] == 27


def test_text_is_cut_by_cells_not_characters():
    assert fit_text("MÜLLER^ÅSA", 6) == "MÜLLE…"
    # Wide characters take two cells; one that would be cut in half is left out.
    assert fit_text("山田^太郎", 6) == "山田^…"
    assert fit_text("山田太郎", 6) == "山田 …"
    assert fit_text("12", 5, "right") == "   12"
