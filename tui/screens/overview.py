"""Screen 1: every hunt with its counts and coverage notes, then the evidence.

The hunts are a cursor list: ``enter`` opens the hunt under the cursor, so hunts beyond the
number keys (2-9) are one key away too. The cursor moves with the list keys of the registry
(the same keys as in a table).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.widgets import Static

from engine.findings import HuntRun
from engine.jsonvalues import iso_utc
from tui import keys
from tui.safe_text import safe
from tui.screens.state import DISPOSITION_STYLE, SHORT_DISPOSITION, CaseData

# The hunt under the cursor: reverse video survives NO_COLOR and 256-colour terminals.
CURSOR_STYLE = Style(reverse=True)


class OverviewView(VerticalScroll, can_focus=True):
    BINDINGS = keys.bindings("table")

    DEFAULT_CSS = """
    OverviewView { padding: 0 1; }
    OverviewView > Static { margin-bottom: 1; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: CaseData | None = None
        self.hunts: list[HuntRun] = []
        self.cursor = 0

    def compose(self):
        yield Static(Text("Loading the case…"), id="overview-body")

    def show_loading(self, message: str) -> None:
        self.query_one("#overview-body", Static).update(safe(message))

    def show(self, data: CaseData) -> None:
        self.data = data
        self.hunts = data.ordered_runs()
        self.cursor = min(self.cursor, max(len(self.hunts) - 1, 0))
        self._draw()

    def _draw(self) -> None:
        if self.data is None:
            return
        cursor = self.cursor if self.has_focus else None
        self.query_one("#overview-body", Static).update(render_overview(self.data, cursor))

    @property
    def cursor_run(self) -> HuntRun | None:
        return self.hunts[self.cursor] if 0 <= self.cursor < len(self.hunts) else None

    def on_focus(self) -> None:
        self._draw()

    def on_blur(self) -> None:
        self._draw()

    # ----- the hunt cursor (list keys of the registry) -----------------------------------
    def move_cursor(self, index: int) -> None:
        if not self.hunts:
            return
        self.cursor = max(0, min(index, len(self.hunts) - 1))
        self._draw()
        self._scroll_to_cursor()

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * 5)

    def action_cursor_to(self, where: str) -> None:
        self.move_cursor(0 if where == "first" else len(self.hunts) - 1)

    def _scroll_to_cursor(self) -> None:
        if self.data is None or not self.hunts:
            return
        width = max(self.scrollable_content_region.width, 10)
        heights = [_lines(block, width, self.app.console)
                   for block in hunt_blocks(self.data, self.hunts, None)]
        top = 1 + sum(heights[:self.cursor])  # the "Hunts" heading is one line
        self.scroll_to_region(Region(0, top, width, heights[self.cursor]), animate=False,
                              immediate=True)


def _lines(text: Text, width: int, console: Any) -> int:
    """How many screen lines ``text`` takes at ``width`` (blank lines count)."""
    return sum(max(len(piece.wrap(console, width)), 1)
               for piece in text.split("\n", allow_blank=True))


def _heading(text: str, hint: str = "") -> Text:
    heading = Text(text, style="bold underline", end="")
    if hint:
        heading.append(f"  {hint}", style="dim")
    heading.append("\n", style="")
    return heading


def hunt_key(position: int) -> str:
    """The number key of the hunt at ``position`` in the overview ("" beyond 9)."""
    return str(position + 2) if position + 2 <= keys.LAST_HUNT_KEY else ""


def hunt_blocks(data: CaseData, hunts: list[HuntRun], cursor: int | None) -> list[Text]:
    """One block per hunt: its key and name, counts per disposition, coverage notes."""
    blocks = []
    for position, run in enumerate(hunts):
        block = Text(end="")
        counts = data.counts(run)
        title = Text(f"{hunt_key(position) or ' '} ", end="")
        title.append_text(safe(run.rule_name, "bold"))
        if position == cursor:
            title.stylize(CURSOR_STYLE)
        block.append_text(title)
        block.append_text(safe(f"  ({run.rule_slug})", "dim"))  # from a file name
        block.append("\n")
        if run.failed and not run.findings:
            # Not "0 findings": nothing was looked for. The note below says why.
            block.append("  did not run\n", style="bold red")
        else:
            block.append(f"  {len(run.findings):,} findings: ")
            parts = []
            for disposition, short in SHORT_DISPOSITION.items():
                parts.append(Text(f"{short} {counts[disposition]:,}",
                                  style=DISPOSITION_STYLE[disposition]))
            block.append_text(Text(" · ").join(parts))
            block.append("\n")
        for note in run.notes:
            if note.count:
                block.append("  note: ", style="yellow")
                block.append_text(safe(note.message))
                block.append("\n")
        block.append("\n")
        blocks.append(block)
    return blocks


def render_overview(data: CaseData, cursor: int | None = None) -> Text:
    out = Text(end="")
    out.append_text(_heading("Hunts", "enter or the number key opens a hunt"))
    for block in hunt_blocks(data, data.ordered_runs(), cursor):
        out.append_text(block)
    if data.pending_hunts:
        # Shown as they finish: say what is still to come, so an empty list is not read
        # as "nothing found".
        out.append("  Running ", style="dim")
        out.append_text(safe(data.pending_hunts[0], "dim"))
        more = len(data.pending_hunts) - 1
        out.append(f"… ({more:,} more after it)\n\n" if more else "…\n\n", style="dim")
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
