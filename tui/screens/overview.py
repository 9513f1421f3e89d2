"""Screen 1: each hunt with its counts, the evidence, and the coverage notes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.jsonvalues import iso_utc
from tui.safe_text import safe
from tui.screens.state import DISPOSITION_STYLE, SHORT_DISPOSITION, CaseData


class OverviewView(VerticalScroll, can_focus=True):
    DEFAULT_CSS = """
    OverviewView { padding: 0 1; }
    OverviewView > Static { margin-bottom: 1; }
    """

    def compose(self):
        yield Static(Text("Loading the case…"), id="overview-body")

    def show_loading(self, message: str) -> None:
        self.query_one("#overview-body", Static).update(safe(message))

    def show(self, data: CaseData) -> None:
        self.query_one("#overview-body", Static).update(render_overview(data))


def _heading(text: str) -> Text:
    heading = Text(text, style="bold underline", end="")
    heading.append("\n", style="")
    return heading


def render_overview(data: CaseData) -> Text:
    out = Text(end="")
    out.append_text(_heading("Hunts"))
    for run in data.runs:
        counts = data.counts(run)
        out.append_text(safe(run.rule_name, "bold"))
        out.append(f"  ({run.rule_slug})\n", style="dim")
        out.append(f"  {len(run.findings):,} findings: ")
        parts = []
        for disposition, short in SHORT_DISPOSITION.items():
            parts.append(Text(f"{short} {counts[disposition]:,}",
                              style=DISPOSITION_STYLE[disposition]))
        out.append_text(Text(" · ").join(parts))
        out.append("\n")
        for note in run.notes:
            if note.count:
                out.append("  note: ", style="yellow")
                out.append_text(safe(note.message))
                out.append("\n")
        out.append("\n")
    out.append_text(_heading("Evidence"))
    out.append_text(_evidence(data))
    if data.warnings:
        out.append("\n")
        out.append_text(_heading("Warnings"))
        for warning in data.warnings:
            out.append_text(safe(warning))
            out.append("\n")
    return out


def _evidence(data: CaseData) -> Text:
    out = Text(end="")
    files = _report_files(data.report)
    loaded = [f for f in files if f.get("kind") != "skipped"]
    skipped = [f for f in files if f.get("kind") == "skipped"]
    bad = sum(int(f.get("bad_lines") or 0) for f in files)
    out.append("  Case: ")
    out.append_text(safe(tilde(data.case.path)))
    out.append("\n")
    for root in data.case.evidence_paths:
        out.append("  Evidence: ")
        out.append_text(safe(tilde(root)))
        out.append("\n")
    out.append(f"  Files read: {len(loaded):,}   skipped: {len(skipped):,}   "
               f"bad lines: {bad:,}\n")
    s = data.stats
    out.append(f"  W3CIISLog: {s.iis_rows:,} rows from {s.iis_hosts:,} hosts, "
               f"{s.iis_clients:,} client IPs\n")
    out.append(f"    {_range(s.iis_first, s.iis_last)}\n")
    out.append(f"  SecurityAlert: {s.alert_rows:,} rows, {s.alerts:,} alerts\n")
    out.append(f"    {_range(s.alert_first, s.alert_last)}\n")
    for f in skipped[:20]:
        out.append("  skipped: ", style="dim")
        out.append_text(safe(relative_to_evidence(f.get("path", ""),
                                                  data.case.evidence_paths)))
        if f.get("reason"):
            out.append(" (")
            out.append_text(safe(f["reason"]))
            out.append(")")
        out.append("\n")
    if len(skipped) > 20:
        out.append(f"  … and {len(skipped) - 20:,} more skipped files\n", style="dim")
    return out


def tilde(path: Path | str) -> str:
    """``~/cases/x`` for a path under the home folder: shorter, and the same on every machine."""
    path = Path(path)
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def relative_to_evidence(path: str, roots: list[Path]) -> str:
    """A file's path below the evidence folder it was found in (the folder is shown above)."""
    for root in roots:
        try:
            relative = Path(path).relative_to(root)
        except ValueError:
            continue
        return str(Path(root.name) / relative)
    return tilde(path)


def _report_files(report: Any) -> list[dict]:
    return [] if report is None else list(report.to_json().get("files", []))


def _range(first: Any, last: Any) -> str:
    if first is None:
        return "no rows"
    return f"{iso_utc(first)} to {iso_utc(last)}"
