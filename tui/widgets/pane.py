"""A titled list: a one-line title with counts, the `/` filter box, and a virtual table."""
from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.safe_text import safe
from tui.widgets.table import Column, VirtualTable


class FilterInput(Input):
    """The filter box of one pane; hidden until `/`."""

    DEFAULT_CSS = """
    FilterInput, FilterInput:focus { height: 1; border: none; padding: 0 1; display: none; }
    FilterInput.-active, FilterInput.-active:focus { display: block; }
    """


class Pane(Vertical):
    """One list with its title line and filter."""

    DEFAULT_CSS = """
    Pane { height: 1fr; }
    Pane > .pane--title { height: 1; background: $boost; color: $text; text-style: bold; }
    Pane:focus-within > .pane--title { background: $primary 40%; }
    """

    def __init__(self, title: str, columns: Sequence[Column], *, empty_text: str,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.subtitle = Text("")
        self.table = VirtualTable(columns, empty_text=empty_text)
        # No blinking: over SSH each blink is a redraw, and snapshots stay identical.
        self.filter_input = FilterInput(placeholder="filter (esc clears)")
        self.filter_input.cursor_blink = False

    def compose(self) -> ComposeResult:
        # Titles come from rule files (a hunt's console: key): escaped like evidence.
        yield Static(safe(f" {self.title}"), classes="pane--title")
        yield self.filter_input
        yield self.table

    def on_mount(self) -> None:
        self.update_title()

    def set_subtitle(self, text: Text | str) -> None:
        """Extra context after the counts (e.g. which server this pane is about)."""
        self.subtitle = text if isinstance(text, Text) else safe(text)
        self.update_title()

    def update_title(self) -> None:
        table = self.table
        title = Text(end="", no_wrap=True, overflow="ellipsis")
        title.append_text(safe(f" {self.title}"))
        if self.subtitle.plain:
            title.append(" · ")
            title.append_text(self.subtitle)
        shown, total = len(table.view), len(table.rows)
        title.append(f"  {shown:,}" if shown == total else f"  {shown:,} of {total:,}")
        if table.query_text:
            title.append("  filter: ")
            title.append_text(safe(table.query_text))
        if table.selected:
            title.append(f"  {len(table.selected):,} selected")
        if self.is_mounted:
            self.query_one(".pane--title", Static).update(title)

    def on_virtual_table_view_changed(self, event: VirtualTable.ViewChanged) -> None:
        self.update_title()

    # ----- filter -----------------------------------------------------------------------
    def open_filter(self) -> None:
        self.filter_input.add_class("-active")
        self.filter_input.value = self.table.query_text
        self.filter_input.focus()

    def clear_filter(self) -> None:
        self.filter_input.remove_class("-active")
        self.filter_input.value = ""
        if self.table.query_text:
            self.table.set_filter("")
        self.table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self.filter_input:
            event.stop()
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is self.filter_input:
            event.stop()
            if not event.value:
                self.filter_input.remove_class("-active")
            self.table.focus()
