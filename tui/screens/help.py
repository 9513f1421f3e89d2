"""The help screen (?): every key from the registry, grouped by where it works."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui import keys
from tui.safe_text import safe


def render_help() -> Group:
    """One table per scope: key, what it does (wrapped beside the key, not under it)."""
    parts = []
    width = max(len(k.shown_key) for k in keys.KEYS)
    for scope, title in keys.SCOPE_TITLES.items():
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 2), expand=True)
        table.add_column(style="bold", no_wrap=True, width=width)
        table.add_column(ratio=1)
        for k in keys.KEYS:
            if k.scope == scope:
                table.add_row(safe(k.shown_key), safe(k.help, keep_newlines=True))
        parts.extend([Text(title, style="bold underline"), table, Text("")])
    return Group(*parts)


class HelpScreen(Screen):
    BINDINGS = keys.bindings("dialog")

    DEFAULT_CSS = """
    HelpScreen #help-title { height: 1; background: $primary 40%; text-style: bold; }
    HelpScreen VerticalScroll { padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text(" exhunt keys"), id="help-title")
        with VerticalScroll(id="help-body"):
            yield Static(render_help())
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss()
