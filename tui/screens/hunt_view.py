"""One hunt's screen, built from what the hunt declares (engine.presentation): its findings
list, then a pane per declared ``Pane`` about the finding under the cursor.

Pane kinds: ``rows`` (a drill-down query's rows), ``timeline`` (the same with a histogram
of the rows' times above them) and ``findings`` (another hunt's findings that match this
finding, from memory). Queries run in one exclusive thread worker per pane through
``Drilldown.pane_rows``; the console never writes SQL, and a result that arrives after the
cursor moved on is dropped. A view that is not on screen leaves its panes alone until it is
shown, so a case with many hunts does not query for every hunt's first finding at load.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static
from textual.worker import get_current_worker

from engine.drilldown import DrilldownError
from engine.findings import HuntRun
from engine.presentation import Pane as PaneSpec, Presentation
from tui.safe_text import escape_controls, safe
from tui.screens import rows as R
from tui.screens.state import CaseData, short_time
from tui.widgets.pane import Pane
from tui.widgets.table import Row, VirtualTable

HISTOGRAM_BUCKETS = 48


def histogram(times: list[Any], buckets: int = HISTOGRAM_BUCKETS) -> list[float]:
    """Rows per equal slice of their time range."""
    times = sorted(t for t in times if isinstance(t, _dt.datetime))
    if not times:
        return []
    first, last = times[0], times[-1]
    span = (last - first).total_seconds()
    counts = [0.0] * buckets
    for t in times:
        i = 0 if span == 0 else min(int((t - first).total_seconds() / span * buckets),
                                    buckets - 1)
        counts[i] += 1
    return counts


def view_name(run: HuntRun) -> str:
    """The stable name of a hunt's view (``servers``, ``files``, ``hunt-<slug>``)."""
    declared = getattr(R.presentation_of(run), "view", "") or f"hunt-{run.rule_slug}"
    return dom_id(declared)


def view_names(runs: list[HuntRun]) -> list[str]:
    """The view name of each run, unique (two hunts declaring one view name both get one)."""
    names: list[str] = []
    for run in runs:
        name = view_name(run)
        while name in names:
            name += "-2"
        names.append(name)
    return names


def dom_id(name: str) -> str:
    """A Textual id from a name a rule file chose (ids allow letters, digits, - and _ and
    must not start with a digit)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", name) or "hunt"
    return cleaned if not cleaned[0].isdigit() else f"h-{cleaned}"


def _singular(title: str) -> str:
    """What one row of a timeline pane is, from the pane's title: its first word, singular
    ("Alerts naming this server" -> "Alert"), so the label reads "Alert timeline ... (6 alert
    rows)" with no extra field for hunts to declare."""
    word = (title.split() or ["Row"])[0]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _summary_values(*sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Values a pane summary template may name, later sources winning; times as the lists
    show them, nulls as nothing (a template cannot format ``None``)."""
    values: dict[str, Any] = {}
    for source in sources:
        for name, value in (source or {}).items():
            if isinstance(value, _dt.datetime):
                value = short_time(value)
            values[name] = "" if value is None else value
    return values


def fill_summary(template: str, *sources: Mapping[str, Any] | None) -> str:
    """A pane's summary (``str.format`` template from the hunt) filled from the pane query's
    summary and the finding row. A template that does not fit the values gives nothing
    rather than an error on every cursor move."""
    if not template:
        return ""
    try:
        return template.format_map(_summary_values(*sources))
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return ""


class HuntView(Vertical):
    """The screen of one hunt: its findings list and its panes."""

    DEFAULT_CSS = """
    HuntView .timeline { height: 2; }
    HuntView .timeline-label { height: 1; }
    HuntView .timeline-spark { height: 1; }
    """

    def __init__(self, run: HuntRun, data: CaseData, name: str | None = None) -> None:
        self.view_id = name or view_name(run)
        super().__init__(id=f"{self.view_id}-view")
        self.run = run
        self.data = data
        self.presentation: Presentation = R.presentation_of(run)
        p = self.presentation
        empty = p.empty_text or "No findings."
        if run.failed:
            empty = "This hunt did not run: " + escape_controls(run.failed)
        self.list = Pane(p.title, R.table_columns(p.columns, findings=True),
                         empty_text=empty, id=self.view_id)
        self.list.styles.height = "2fr"
        self.panes: dict[str, Pane] = {}
        self.specs: dict[str, PaneSpec] = {}
        for spec in p.panes:
            pane = Pane(spec.title,
                        R.table_columns(spec.columns, findings=spec.kind == "findings"),
                        empty_text=spec.empty_text or "Nothing here.",
                        id=dom_id(f"{self.view_id}-{spec.id}"))
            pane.styles.height = f"{max(spec.height, 1)}fr"
            self.panes[spec.id] = pane
            self.specs[spec.id] = spec
        self._timelines: dict[str, tuple[Static, Sparkline]] = {
            pane_id: (Static(Text(""), classes="timeline-label"),
                      Sparkline([], classes="timeline-spark"))
            for pane_id, spec in self.specs.items() if spec.kind == "timeline"}
        self._stale = False  # the cursor moved while the view was not on screen

    def __getattr__(self, name: str) -> Any:
        # The list is also reachable as view.<view name> and each pane as view.<pane id>
        # (dashes as underscores): view.servers, view.alerts, view.server_files. Tests and
        # scripts name the seed screens' parts this way.
        panes = self.__dict__.get("panes")
        if panes is not None:
            if name == self.__dict__.get("view_id"):
                return self.__dict__["list"]
            for pane_id, pane in panes.items():
                if pane_id.replace("-", "_") == name:
                    return pane
        raise AttributeError(name)

    def compose(self) -> ComposeResult:
        yield self.list
        for pane_id, pane in self.panes.items():
            if pane_id in self._timelines:
                label, spark = self._timelines[pane_id]
                with Vertical(classes="timeline"):
                    yield label
                    yield spark
            yield pane

    def on_mount(self) -> None:
        for pane_id in self._timelines:
            self._show_timeline(pane_id, "", [])
        self.show(self.data, self.run)

    # ----- data -------------------------------------------------------------------------
    def show(self, data: CaseData, run: HuntRun) -> None:
        """Rows of a (re)loaded case; the cursor stays on the same finding when it can."""
        self.data, self.run = data, run
        tables: R.HuntTables = data.tables[run.rule_id]
        self.list.table.set_rows(tables.rows, tables.search)

    def finding_lists(self) -> list[tuple[VirtualTable, Any]]:
        """Every table of this view that lists findings, with the columns of its rows."""
        lists = [(self.list.table, self.presentation.columns)]
        lists += [(self.panes[i].table, s.columns) for i, s in self.specs.items()
                  if s.kind == "findings"]
        return lists

    # ----- following the cursor ---------------------------------------------------------
    def on_view_shown(self) -> None:
        """The view came on screen: catch up with a cursor that moved while it was hidden."""
        if self._stale:
            self._follow(self.list.table.cursor_row)

    def on_virtual_table_cursor_changed(self, event: VirtualTable.CursorChanged) -> None:
        if event.table is not self.list.table:
            return
        self.list.table.refresh()
        self._follow(event.row)

    def _follow(self, row: Row | None) -> None:
        if not self.display:
            self._stale = True
            return
        self._stale = False
        for pane_id, spec in self.specs.items():
            pane = self.panes[pane_id]
            if row is None:
                pane.table.set_rows([])
                pane.set_subtitle("")
                if pane_id in self._timelines:
                    self._show_timeline(pane_id, "", [])
            elif spec.kind == "findings":
                self._show_findings(spec, pane, row)
            else:
                if spec.kind == "timeline" and not spec.summary:
                    pane.set_subtitle(safe(row.cells[0]))  # whose timeline this is
                self._query(spec, pane, row)

    def _show_findings(self, spec: PaneSpec, pane: Pane, row: Row) -> None:
        index: R.FindingsIndex | None = self.data.tables[self.run.rule_id].findings_panes.get(
            spec.id)
        found = [] if index is None else index.matching(row.data.row)
        pane.table.set_rows([R.finding_row(self.data, f, spec.columns) for f in found])
        pane.set_subtitle(safe(fill_summary(spec.summary, row.data.row)))

    def _query(self, spec: PaneSpec, pane: Pane, row: Row) -> None:
        drill, run, key = self.data.drill, self.run, row.key
        finding_row = dict(row.data.row)

        def query() -> None:
            worker = get_current_worker()
            # The cursor may have moved on while this waited for the connection: skip the
            # query nobody will see (it may scan the whole request table).
            if worker.is_cancelled:
                return
            try:
                result = drill.pane_rows(run, spec, finding_row)
            except DrilldownError as exc:  # this finding lacks a value the query needs
                if not worker.is_cancelled:
                    self.app.call_from_thread(self._show_unavailable, spec, pane, key, str(exc))
                return
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_rows, spec, pane, key, result)

        self.run_worker(query, thread=True, exclusive=True, group=f"pane:{pane.id}",
                        exit_on_error=False)

    def _show_rows(self, spec: PaneSpec, pane: Pane, key: str, result: Any) -> None:
        current = self.list.table.cursor_row
        if current is None or current.key != key:
            return  # the cursor moved on while the query ran
        rows = [R.record_row(r, spec.columns, f"{spec.id}-{i}")
                for i, r in enumerate(result.rows)]
        pane.table.set_rows(rows)
        parts = []
        summary = fill_summary(spec.summary, current.data.row, result.summary)
        if summary:
            parts.append(summary)
        elif spec.kind == "timeline":
            parts.append(current.cells[0])
        if result.total > len(rows):
            parts.append(f"first {len(rows):,} of {result.total:,} shown")
        pane.set_subtitle(safe(" · ".join(parts)))
        if spec.id in self._timelines:
            times = [r.get(spec.time_column) for r in result.rows] if spec.time_column else []
            self._show_timeline(spec.id, current.cells[0], times)

    def _show_unavailable(self, spec: PaneSpec, pane: Pane, key: str, reason: str) -> None:
        """The pane has nothing to show for this finding: say why in its title line rather
        than a failure toast on every cursor move."""
        current = self.list.table.cursor_row
        if current is None or current.key != key:
            return
        pane.table.set_rows([])
        pane.set_subtitle(safe(reason))
        if spec.id in self._timelines:
            self._show_timeline(spec.id, current.cells[0], [])

    def _show_timeline(self, pane_id: str, finding: str, times: list[Any]) -> None:
        title = self.specs[pane_id].title
        label = Text(end="", no_wrap=True, overflow="ellipsis")
        label.append_text(safe(f" {_singular(title)} timeline"))  # words from the rule file
        known = sorted(t for t in times if isinstance(t, _dt.datetime))
        if known:
            label.append_text(safe(f"  {short_time(known[0])} → {short_time(known[-1])}"
                                   f"  ({len(known):,} {_singular(title).lower()} rows)"))
        elif finding:
            label.append_text(safe(f"  no {(title.split() or ['rows'])[0].lower()}"))
        static, spark = self._timelines[pane_id]
        static.update(label)
        spark.data = histogram(known)
