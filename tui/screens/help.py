"""The help screen (?): every key from the registry, grouped by where it works, the number
keys named after the open case's hunts."""
from __future__ import annotations

from typing import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui import keys
from tui.safe_text import safe


def render_help(hunts: Sequence[str] = ()) -> Group:
    """One table per scope: key, what it does (wrapped beside the key, not under it).
    ``hunts``: what each number key opens, in presentation order."""
    parts = []
    registry = keys.registry(hunts)
    width = max(len(k.shown_key) for k in registry)
    for scope, title in keys.SCOPE_TITLES.items():
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 2), expand=True)
        table.add_column(style="bold", no_wrap=True, width=width)
        table.add_column(ratio=1)
        for k in registry:
            if k.scope == scope:
                table.add_row(safe(k.shown_key), safe(k.help, keep_newlines=True))
        parts.extend([Text(title, style="bold underline"), table, Text("")])
    return Group(*parts)


def hunt_descriptions(runs: Sequence[object]) -> list[str]:
    """"Exchange servers (hunt A): alerts, suspicious files on this server (hunt B)"."""
    out = []
    for run in runs:
        presentation = getattr(run, "presentation", None)
        if presentation is None:
            out.append(getattr(run, "rule_name", ""))
            continue
        panes = ", ".join(p.title[:1].lower() + p.title[1:] for p in presentation.panes)
        out.append(f"{presentation.title}: {panes}" if panes else presentation.title)
    return out


class HelpScreen(Screen):
    BINDINGS = keys.bindings("dialog")

    DEFAULT_CSS = """
    HelpScreen #help-title { height: 1; background: $primary 40%; text-style: bold; }
    HelpScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, hunts: Sequence[str] = ()) -> None:
        super().__init__()
        self.hunts = list(hunts)

    def compose(self) -> ComposeResult:
        yield Static(Text(" exhunt keys"), id="help-title")
        with VerticalScroll(id="help-body"):
            yield Static(render_help(self.hunts))
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss()
