"""How records become table rows, driven by the columns a hunt declares (engine.presentation).

One cell function serves every list: a finding list, a pane of drill-down rows, the findings
of another hunt under a finding. A ``ListColumn`` says which value of the record a cell
shows and how (``pick``); this module turns that into the plain display string the virtual
table escapes through safe_text when it draws. Nothing here knows a hunt by name.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from engine.findings import Finding, HuntRun
from engine.presentation import ListColumn, Pane as PaneSpec, Presentation
from tui.search import SearchIndex
from tui.screens.state import DISPOSITION_STYLE, SHORT_DISPOSITION, CaseData, short_time
from tui.widgets.table import Column, Row

DISPOSITION_COLUMN = Column("disposition", "Disposition", 11)

def table_columns(columns: Sequence[ListColumn], *, findings: bool) -> list[Column]:
    """The virtual table's columns for declared ones; lists of findings end with the
    disposition (a hunt never declares it: it is the analyst's, not the query's)."""
    out = [Column(f"{c.source}:{c.pick}:{i}", c.title, c.width, flex=c.flex, right=c.right,
                  optional=c.optional) for i, c in enumerate(columns)]
    return out + [DISPOSITION_COLUMN] if findings else out


def _items(value: Any) -> list[Any]:
    """A value as a list of its items, nulls dropped (a scalar is a list of one)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return [value]


def _sorted(items: list[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:  # mixed types (a JSON list of numbers and strings): sort as shown
        return sorted(items, key=short_time)


def cell_text(value: Any, column: ListColumn) -> str:
    """The display string of one cell (before escaping): times to the second, lists joined,
    ``column.empty`` for a null, missing, empty string or empty list."""
    pick = column.pick
    if pick == "count":
        text = str(len(_items(value)))
    elif pick in ("first", "last"):
        items = _sorted(_items(value))
        text = short_time(items[0] if pick == "first" else items[-1]) if items else ""
    elif pick == "join" or isinstance(value, (list, tuple)):
        text = ", ".join(short_time(v) for v in _items(value))
    elif isinstance(value, _dt.datetime):
        text = short_time(value)
    else:
        text = "" if value is None else str(value)
    if column.plus_as_space:
        # IIS writes spaces in user agents as '+'; people read them with spaces.
        text = text.replace("+", " ")
    return text or column.empty


def cells(record: Mapping[str, Any], columns: Sequence[ListColumn]) -> list[str]:
    return [cell_text(record.get(c.source), c) for c in columns]


def finding_row(data: CaseData, finding: Finding, columns: Sequence[ListColumn]) -> Row:
    """A finding as a markable row: its declared cells, then its disposition."""
    disposition = data.disposition(finding.finding_id)
    return Row(finding.finding_id,
               cells(finding.row, columns) + [SHORT_DISPOSITION[disposition]],
               data=finding, style=DISPOSITION_STYLE[disposition])


def record_row(record: Mapping[str, Any], columns: Sequence[ListColumn], key: str) -> Row:
    """An evidence row of a pane (not a finding: it takes no mark)."""
    return Row(key, cells(record, columns), data=dict(record), markable=False)


def ascii_fold(value: Any) -> str:
    """How a findings pane compares values: ASCII letters folded, nothing else (KQL's
    ``=~``; Unicode case folding would match names Sentinel keeps apart)."""
    return str(value).translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def find_run(runs: Iterable[HuntRun], slug_or_id: str | None) -> HuntRun | None:
    if not slug_or_id:
        return None
    wanted = slug_or_id.lower()
    return next((r for r in runs if wanted in (r.rule_slug.lower(), r.rule_id.lower())), None)


@dataclass
class FindingsIndex:
    """Findings of one hunt grouped by the values a findings pane matches on."""
    run: HuntRun | None
    theirs: tuple[str, ...]  # columns of the other hunt's rows
    ours: tuple[str, ...]  # the matching columns of this hunt's finding rows
    groups: dict[tuple[str, ...], list[Finding]] = field(default_factory=dict)

    @classmethod
    def build(cls, runs: Sequence[HuntRun], pane: PaneSpec) -> "FindingsIndex":
        run = find_run(runs, pane.hunt)
        index = cls(run, tuple(pane.match), tuple(pane.match.values()))
        for f in [] if run is None else run.findings:
            index.groups.setdefault(index._key(f.row, index.theirs), []).append(f)
        return index

    @staticmethod
    def _key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[str, ...]:
        return tuple(ascii_fold("" if row.get(c) is None else row.get(c)) for c in columns)

    def matching(self, row: Mapping[str, Any]) -> list[Finding]:
        """The other hunt's findings matching this finding row (none when a value this side
        is empty: an empty server name matches nothing, not every empty one)."""
        if not self.ours or any(row.get(c) in (None, "") for c in self.ours):
            return []
        return self.groups.get(self._key(row, self.ours), [])


@dataclass
class HuntTables:
    """What the loading worker prepares for one hunt's view, so the UI thread only swaps it
    in (100,000 findings cost seconds to turn into rows and a filter index)."""
    rows: list[Row]
    search: SearchIndex
    findings_panes: dict[str, FindingsIndex]  # pane id -> index of the other hunt


def presentation_of(run: HuntRun) -> Presentation:
    """The run's presentation (the engine gives every run one)."""
    presentation = getattr(run, "presentation", None)
    if presentation is None:
        raise ValueError(f"hunt {run.rule_slug} has no presentation")
    return presentation


def finding_tables(data: CaseData) -> dict[str, HuntTables]:
    """Every hunt's list with its filter index and its findings panes, by rule id. Runs in
    the loading worker."""
    return {run.rule_id: hunt_tables(data, run) for run in data.runs}


def hunt_tables(data: CaseData, run: HuntRun) -> HuntTables:
    """One hunt's list, filter index and findings panes (over the hunts loaded so far)."""
    presentation = presentation_of(run)
    rows = [finding_row(data, f, presentation.columns) for f in run.findings]
    panes = {p.id: FindingsIndex.build(data.runs, p)
             for p in presentation.panes if p.kind == "findings"}
    return HuntTables(rows, SearchIndex([r.searchable() for r in rows]).build_words(), panes)


def link_findings_panes(data: CaseData, arrived: HuntRun) -> None:
    """A hunt shown as it finished may be the one another hunt's findings pane lists: index
    it for those panes (they were built while it was still running)."""
    for run in data.runs:
        tables = data.tables.get(run.rule_id)
        if tables is None:
            continue
        for pane in presentation_of(run).panes:
            if pane.kind == "findings" and find_run([arrived], pane.hunt) is not None:
                tables.findings_panes[pane.id] = FindingsIndex.build(data.runs, pane)
