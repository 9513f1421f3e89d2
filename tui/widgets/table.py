"""A virtual table: draws only the rows on screen, whatever the number of rows.

Why not Textual's DataTable: it parses ``str`` cells as markup (hostile evidence becomes
links and actions) and measures every cell on add (22 s for 100k rows). This widget uses the
Line API: ``render_line`` builds one visible row at a time from plain cell strings through
``safe_text``, so 100,000 findings cost nothing until they scroll into view. Column widths
are declared (one column flexes), never measured over all rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui import keys
from tui.safe_text import display_str, escape_controls, highlight, safe
from tui.search import Query, SearchIndex, filter_rows, haystack, match_spans


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # cells; the flexible column treats it as a minimum
    flex: bool = False
    right: bool = False  # right-align (numbers)
    optional: bool = False  # dropped when the terminal is too narrow for every column


@dataclass
class Row:
    key: str  # stable identity (finding id, alert row id): selection and updates use it
    cells: list[str]  # display strings, one per column, before escaping
    data: Any = None  # what the detail view and drill-downs need
    style: str = ""  # extra style for the whole row (e.g. a disposition colour)
    markable: bool = True  # a finding (can take a disposition) or a plain evidence row
    _haystack: str | None = field(default=None, repr=False)

    def searchable(self) -> str:
        if self._haystack is None:
            self._haystack = haystack([escape_controls(c) for c in self.cells])
        return self._haystack


class VirtualTable(ScrollView, can_focus=True):
    """Rows of plain strings, filtered by a fuzzy query, with a cursor and a selection."""

    BINDINGS = keys.bindings("table")

    COMPONENT_CLASSES = {"vtable--header", "vtable--cursor", "vtable--selected",
                         "vtable--empty"}

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; }
    VirtualTable > .vtable--cursor { background: $surface-lighten-2; }
    VirtualTable:focus > .vtable--cursor { background: $accent 60%; text-style: bold; }
    VirtualTable > .vtable--selected { text-style: italic; }
    VirtualTable > .vtable--empty { color: $text-muted; }
    """

    class CursorChanged(Message):
        """The row under the cursor changed (also sent when rows are replaced)."""

        def __init__(self, table: "VirtualTable", row: Row | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> "VirtualTable":
            return self.table

    class ViewChanged(Message):
        """Rows, filter or selection changed: status lines recount."""

        def __init__(self, table: "VirtualTable") -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> "VirtualTable":
            return self.table

    def __init__(self, columns: Sequence[Column], *, empty_text: str = "No rows.",
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: list[Column] = list(columns)
        self.empty_text = empty_text
        self.rows: list[Row] = []
        self.view: list[int] = []  # indices into rows, after the filter
        self.cursor = 0  # index into view
        self.selected: set[str] = set()
        self.query_text = ""
        self._query = Query(())
        self._index: dict[str, int] = {}
        self._search: SearchIndex | None = None
        # The last filter result when it was exact: the next keystroke searches only it.
        self._exact_result: tuple[Query, list[int]] | None = None

    # ----- data -----------------------------------------------------------------------
    def set_rows(self, rows: list[Row], search: SearchIndex | None = None) -> None:
        """Replace every row, keeping the cursor on the same key when it survives.
        ``search`` is the rows' index when a worker built it already (see tui.search)."""
        current = self.cursor_row
        self.rows = rows
        self._search = search
        self._exact_result = None
        self._index = {r.key: i for i, r in enumerate(rows)}
        self.selected &= set(self._index)
        self._apply_filter()
        if current is not None and current.key in self._index:
            self.move_to_key(current.key, announce=False)
        self._refresh_all(announce_cursor=True)

    def update_row(self, row: Row) -> None:
        """Replace one row (same key) in place: one mark updates one line."""
        i = self._index.get(row.key)
        if i is None:
            return
        self.rows[i] = row
        self._exact_result = None  # the row's text changed
        if self._search is not None:
            self._search.update(i, row.searchable())
        self.refresh()
        self.post_message(self.ViewChanged(self))

    def row_by_key(self, key: str) -> Row | None:
        i = self._index.get(key)
        return None if i is None else self.rows[i]

    @property
    def cursor_row(self) -> Row | None:
        if 0 <= self.cursor < len(self.view):
            return self.rows[self.view[self.cursor]]
        return None

    def target_rows(self) -> list[Row]:
        """The rows an action applies to: the selection when there is one, else the cursor."""
        if self.selected:
            return [self.rows[self._index[k]] for k in sorted(self.selected,
                                                                key=self._index.__getitem__)]
        row = self.cursor_row
        return [] if row is None else [row]

    # ----- filter ---------------------------------------------------------------------
    def set_filter(self, text: str) -> int:
        """Show only rows matching ``text`` (see tui.search). Returns how many match."""
        current = self.cursor_row
        self.query_text = text
        self._query = Query.parse(text)
        self._apply_filter()
        self.cursor = 0
        if current is not None:
            self.move_to_key(current.key, announce=False)
        self._refresh_all(announce_cursor=True)
        return len(self.view)

    def _apply_filter(self) -> None:
        if self._query:
            within = None
            if self._exact_result is not None and self._query.narrows(self._exact_result[0]):
                within = self._exact_result[1]
            fuzzy: list[bool] = []
            self.view = filter_rows(self.search_index(), self._query, within, fuzzy)
            self._exact_result = None if fuzzy else (self._query, self.view)
        else:
            self.view = list(range(len(self.rows)))
            self._exact_result = None
        self.cursor = min(self.cursor, max(len(self.view) - 1, 0))

    def search_index(self) -> SearchIndex:
        if self._search is None:
            self._search = SearchIndex([r.searchable() for r in self.rows])
        return self._search

    # ----- selection and cursor ---------------------------------------------------------
    def toggle_selected(self) -> None:
        row = self.cursor_row
        if row is None or not row.markable:
            return
        self.selected ^= {row.key}
        self.refresh()
        self.post_message(self.ViewChanged(self))

    def clear_selection(self) -> None:
        if self.selected:
            self.selected.clear()
            self.refresh()
            self.post_message(self.ViewChanged(self))

    def move_cursor(self, index: int) -> None:
        if not self.view:
            return
        index = max(0, min(index, len(self.view) - 1))
        if index != self.cursor:
            self.cursor = index
            self._scroll_cursor_into_view()
            self.refresh()
            self.post_message(self.CursorChanged(self, self.cursor_row))

    def move_to_key(self, key: str, *, announce: bool = True) -> bool:
        """Put the cursor on the row with ``key`` if the filter shows it."""
        i = self._index.get(key)
        if i is None:
            return False
        try:
            pos = self.view.index(i)
        except ValueError:
            return False
        if announce:
            self.move_cursor(pos)
        else:
            self.cursor = pos
            self._scroll_cursor_into_view()
        return True

    def find_from_cursor(self, predicate, step: int) -> bool:
        """Move to the next (step 1) or previous (-1) shown row satisfying ``predicate``."""
        n = len(self.view)
        for offset in range(1, n + 1):
            pos = (self.cursor + step * offset) % n
            if predicate(self.rows[self.view[pos]]):
                self.move_cursor(pos)
                return True
        return False

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(self._page_height(), 1))

    def action_cursor_to(self, where: str) -> None:
        self.move_cursor(0 if where == "first" else len(self.view) - 1)

    def _page_height(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def _scroll_cursor_into_view(self) -> None:
        top = int(self.scroll_y)
        page = self._page_height()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False, immediate=True)

    def _refresh_all(self, *, announce_cursor: bool) -> None:
        # One header line plus the rows: the scrollbar and page keys see the true size.
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.view) + 1)
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.ViewChanged(self))
        if announce_cursor:
            self.post_message(self.CursorChanged(self, self.cursor_row))

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.view) + 1)
        self._scroll_cursor_into_view()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # ----- drawing --------------------------------------------------------------------
    def _widths(self, total: int) -> list[int]:
        """Cell width of each column (0: hidden). Optional columns go first when narrow,
        rightmost first; flexible columns share what is left."""
        widths = [c.width for c in self.columns]

        def needed() -> int:  # a marker cell, then each shown column plus one space
            return 1 + sum(w + 1 for w in widths if w)

        for i in reversed(range(len(self.columns))):
            if needed() <= total:
                break
            if self.columns[i].optional:
                widths[i] = 0
        spare = max(total - needed(), 0)
        flexible = [i for i, c in enumerate(self.columns) if c.flex and widths[i]]
        for n, i in enumerate(flexible):
            widths[i] += spare // len(flexible) + (1 if n < spare % len(flexible) else 0)
        return widths

    def _line(self, cells: list[Text], widths: list[int], style: Style | str,
              marker: str) -> Text:
        line = Text(marker, style=style, end="", no_wrap=True)
        for column, text, width in zip(self.columns, cells, widths):
            if not width:
                continue
            text = text.copy()
            if text.cell_len > width:
                text.truncate(width, overflow="ellipsis")
            elif column.right:
                text = Text(" " * (width - text.cell_len), end="") + text
            text.truncate(width, pad=True)
            line.append_text(text)
            line.append(" ")
        return line

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        widths = self._widths(width)
        base = self.rich_style
        if y == 0:
            header_style = self.get_component_rich_style("vtable--header")
            # Column titles come from rule files: escaped like cells.
            header = self._line([safe(c.title) for c in self.columns], widths, header_style, " ")
            return self._strip(header, width, base + header_style)
        pos = int(self.scroll_y) + y - 1
        if pos >= len(self.view):
            if pos == 0 and y == 1:
                empty = Text(" " + self.empty_text, end="", no_wrap=True)
                return self._strip(empty, width, base + self.get_component_rich_style(
                    "vtable--empty"))
            return Strip.blank(width, base)
        row = self.rows[self.view[pos]]
        style = base
        if row.style:
            style += Style.parse(row.style)
        if row.key in self.selected:
            style += self.get_component_rich_style("vtable--selected")
        if pos == self.cursor:
            style += self.get_component_rich_style("vtable--cursor")
        cells = []
        for value in row.cells:
            text = safe(value)
            if self._query:
                text = highlight(text, match_spans(text.plain, self._query))
            cells.append(text)
        marker = "•" if row.key in self.selected else " "
        return self._strip(self._line(cells, widths, style, marker), width, style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        # Every segment carries a style: Textual's NO_COLOR (monochrome) filter needs one.
        segments = list(Segment.apply_style(text.render(self.app.console), style))
        return Strip(segments).adjust_cell_length(width, style)


def cell(value: Any) -> str:
    """A value as a table cell string (before escaping)."""
    return display_str(value)
