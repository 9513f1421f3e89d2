"""The detail view: every field of one row, nothing truncated (enter)."""
from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from engine.findings import Finding
from tui import keys
from tui.safe_text import display_str, safe
from tui.screens.state import CaseData


def finding_fields(data: CaseData, finding: Finding) -> list[tuple[str, Any]]:
    run = next((r for r in data.runs if r.rule_id == finding.rule_id), None)
    mark = data.marks.get(finding.finding_id)
    fields: list[tuple[str, Any]] = [
        ("Hunt", run.rule_name if run else finding.rule_id),
        ("Finding id", finding.finding_id),
        ("Disposition", data.disposition(finding.finding_id)),
        ("Note", mark.note if mark else ""),
        ("Analyst", mark.analyst if mark else ""),
        ("Marked at", mark.marked_at if mark else None),
    ]
    fields.extend(finding.row.items())
    return fields


def record_fields(record: Any) -> list[tuple[str, Any]]:
    """Fields of an evidence record: a dict (request row) or a dataclass (alert, pivot)."""
    if isinstance(record, dict):
        return list(record.items())
    if dataclasses.is_dataclass(record):
        return [(f.name, getattr(record, f.name)) for f in dataclasses.fields(record)]
    return [("value", record)]


def render_fields(fields: list[tuple[str, Any]]) -> Text:
    width = max((len(name) for name, _ in fields), default=0)
    out = Text(end="")
    for name, value in fields:
        out.append(f"{name:<{width}}  ", style="bold")
        if isinstance(value, (list, tuple)):
            if not value:
                out.append("[]", style="dim")
            for i, item in enumerate(value):
                if i:
                    out.append("\n" + " " * (width + 2))
                out.append_text(safe(display_str(item), keep_newlines=True))
        elif value is None:
            out.append("null", style="dim")
        else:
            out.append_text(safe(display_str(value), keep_newlines=True))
        out.append("\n")
    return out


class DetailScreen(Screen):
    BINDINGS = keys.bindings("dialog")

    DEFAULT_CSS = """
    DetailScreen #detail-title { height: 1; background: $primary 40%; text-style: bold; }
    DetailScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, title: Text, fields: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(render_fields(self.fields))
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()

    def action_close(self) -> None:
        self.dismiss()
