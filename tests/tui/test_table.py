"""The virtual table draws only what is on screen, from plain strings, safely."""
from __future__ import annotations

from textual.app import App

from tests.tui.conftest import pilot_test
from tui.widgets.table import Column, Row, VirtualTable

COLUMNS = [Column("name", "Name", 10, flex=True), Column("n", "N", 5, right=True),
           Column("extra", "Extra", 30, optional=True)]


class TableApp(App):
    def __init__(self, rows):
        super().__init__()
        self.rows = rows

    def compose(self):
        yield VirtualTable(COLUMNS)

    def on_mount(self):
        table = self.query_one(VirtualTable)
        table.set_rows(self.rows)
        table.focus()


def line_text(table: VirtualTable, y: int) -> str:
    return "".join(seg.text for seg in table.render_line(y))


def rows(n: int) -> list[Row]:
    return [Row(f"k{i}", [f"row {i}", str(i), "x"]) for i in range(n)]


@pilot_test
async def test_a_hundred_thousand_rows_load_without_drawing_them():
    app = TableApp(rows(100_000))
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(VirtualTable)
        assert "row 0" in line_text(table, 1)
        await pilot.press("end")
        assert table.cursor == 99_999
        assert "row 99999" in line_text(table, table.scrollable_content_region.height - 1)


@pilot_test
async def test_markup_and_controls_in_cells_are_drawn_literally():
    app = TableApp([Row("a", ["[link=http://x]y[/link]", "1", "\x1b]8;;x\x1b\\"])])
    async with app.run_test(size=(80, 5)) as pilot:
        table = app.query_one(VirtualTable)
        segments = list(table.render_line(1))
        text = "".join(s.text for s in segments)
        assert "[link=http://x]y[/link]" in text and "\\x1b]8;;x\\x1b\\" in text
        assert "\x1b" not in text
        assert all(s.style is None or not s.style.link for s in segments)


@pilot_test
async def test_optional_columns_are_dropped_when_narrow():
    app = TableApp(rows(3))
    async with app.run_test(size=(30, 5)) as pilot:
        table = app.query_one(VirtualTable)
        assert "Extra" not in line_text(table, 0)
        assert "Name" in line_text(table, 0)


@pilot_test
async def test_filter_narrows_and_highlights():
    app = TableApp(rows(1000))
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(VirtualTable)
        assert table.set_filter("row 99") == 19  # 99, 199 .. 899, 990 .. 999
        styles = [s.style for s in table.render_line(1) if "99" in s.text]
        assert any(style and style.underline for style in styles)


@pilot_test
async def test_space_selects_and_targets_are_the_selection():
    app = TableApp(rows(5))
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(VirtualTable)
        assert [r.key for r in table.target_rows()] == ["k0"]
        table.toggle_selected()
        table.move_cursor(3)
        table.toggle_selected()
        assert [r.key for r in table.target_rows()] == ["k0", "k3"]


@pilot_test
async def test_update_row_replaces_one_row_in_place():
    app = TableApp(rows(5))
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(VirtualTable)
        table.update_row(Row("k2", ["changed", "2", "x"]))
        assert "changed" in line_text(table, 3)
