"""What the console knows about the open case, and how it gets it (in a worker thread).

``CaseSource`` says what to open; ``load_case`` opens, ingests, hunts and reads the marks,
reporting progress through a callback; the result is a ``CaseData`` the screens read.
Nothing here touches widgets, so the whole load can run off the UI thread.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.findings import Finding, HuntRun
from engine.presentation import DEFAULT_ORDER
from tui.safe_text import escape_controls

# The seed hunts' ids, for tests and scripts that open their screens. The console itself
# never branches on a hunt: every screen is built from the hunt's presentation.

UNREVIEWED = "unreviewed"

# Short names that fit a narrow column; the detail view shows the full one.
SHORT_DISPOSITION = {
    "unreviewed": "unreviewed",
    "true-positive": "true-pos",
    "false-positive": "false-pos",
    "benign": "benign",
    "needs-follow-up": "follow-up",
}
# Colours degrade on 256-colour terminals; bold/dim keep the meaning under NO_COLOR.
DISPOSITION_STYLE = {
    "unreviewed": "",
    "true-positive": "bold red",
    "false-positive": "dim",
    "benign": "green",
    "needs-follow-up": "yellow",
}


@dataclass
class CaseSource:
    """What to open: evidence paths and a case folder, or the built-in demo."""
    evidence: list[Path] = field(default_factory=list)
    case_dir: Path | None = None
    options: Any = None  # engine.case.IngestOptions, or None for the defaults
    rules_dirs: list[Path] = field(default_factory=list)
    demo: bool = False


@dataclass
class CaseData:
    case: Any  # engine.case.Case
    runs: list[HuntRun]
    store: Any  # engine.dispositions.DispositionStore
    marks: dict[str, Any]  # finding id -> Mark (unreviewed ones omitted)
    drill: Any  # engine.drilldown.Drilldown
    stats: Any  # engine.drilldown.EvidenceStats
    report: Any  # engine ingest report, or None
    warnings: list[str] = field(default_factory=list)
    last_change: int = 0  # the store's newest change number this session has seen
    # What the loading worker prepared per hunt (rule id -> tui.screens.rows.HuntTables).
    tables: dict[str, Any] = field(default_factory=dict)
    # Names of the hunts still running while the first load shows the finished ones.
    pending_hunts: list[str] = field(default_factory=list)

    def run(self, rule_id: str) -> HuntRun | None:
        return next((r for r in self.runs if r.rule_id == rule_id), None)

    def ordered_runs(self) -> list[HuntRun]:
        """The hunts as the console lists them: by presentation order, ties in load order
        (so the seed hunts stay on keys 2 and 3 whatever else is loaded)."""
        return sorted(self.runs, key=lambda r: getattr(getattr(r, "presentation", None),
                                                      "order", DEFAULT_ORDER))

    def findings(self, rule_id: str) -> list[Finding]:
        run = self.run(rule_id)
        return [] if run is None else run.findings

    def finding(self, finding_id: str) -> Finding | None:
        for run in self.runs:
            for f in run.findings:
                if f.finding_id == finding_id:
                    return f
        return None

    def disposition(self, finding_id: str) -> str:
        mark = self.marks.get(finding_id)
        return mark.disposition if mark is not None else UNREVIEWED

    def counts(self, run: HuntRun) -> dict[str, int]:
        """Findings of ``run`` per disposition (every disposition present, zeros included)."""
        counts = dict.fromkeys(SHORT_DISPOSITION, 0)
        for f in run.findings:
            counts[self.disposition(f.finding_id)] += 1
        return counts

    def apply_marks(self, marks: list[Any]) -> None:
        """Marks this session just saved (the next sync also sees them; harmless)."""
        for mark in marks:
            if mark.disposition == UNREVIEWED and not mark.note:
                self.marks.pop(mark.finding_id, None)
            else:
                self.marks[mark.finding_id] = mark


def current_marks(store: Any) -> dict[str, Any]:
    """The marks the console shows: every finding not plainly unreviewed (an unreviewed
    finding with a note keeps its note on screen)."""
    return {fid: m for fid, m in store.current(include_unreviewed=True).items()
            if m.disposition != UNREVIEWED or m.note}


Progress = Callable[[str, float | None], None]  # message, fraction done (None: unknown)


# Hears of each hunt as soon as it has run: (the case data so far, the hunt's run). The
# listener adds the run to the data (the console does so on its UI thread).
HuntArrived = Callable[["CaseData", HuntRun], None]


def load_case(source: CaseSource, progress: Progress, case: Any = None,
              on_hunt: HuntArrived | None = None) -> CaseData:
    """Open (and for the demo, create) the case, ingest, read the marks, run every rule.

    Runs in a worker thread; ``progress`` and ``on_hunt`` are called from that thread. With
    ``on_hunt``, each hunt is handed over as it finishes and ``data.runs`` is left to the
    listener; without it, the returned data holds every run."""
    from engine.dispositions import DispositionStore
    from engine.drilldown import Drilldown, quiet
    from engine.hunts import run_hunts
    from engine.rules import load_rules

    evidence = list(source.evidence)
    case_dir = source.case_dir
    if source.demo:
        from engine.demo import demo_case_dir, demo_evidence_dir
        progress("Preparing the demo evidence", None)
        evidence = [demo_evidence_dir()]  # written on first use
        case_dir = case_dir or demo_case_dir()
    if case is None:
        from engine.case import open_case
        progress("Opening the case", None)
        case = open_case(case_dir, evidence)
    evidence = evidence or list(case.evidence_paths)
    progress("Reading evidence", 0.0)
    report = _ingest(case, evidence, source.options, progress)
    # Marks and evidence figures first: the first hunts can be shown (and marked) while
    # the others run. On a 10 GB case twelve hunts take over a minute.
    progress("Reading dispositions", None)
    con = quiet(case.connect())
    store = DispositionStore(case.dispositions_path)
    last_change = store.last_change()
    drill = Drilldown(con)
    data = CaseData(case=case, runs=[], store=store, marks=current_marks(store), drill=drill,
                    stats=drill.evidence_stats(), report=report,
                    warnings=list(getattr(store, "warnings", [])), last_change=last_change)
    rules = in_key_order(load_rules(source.rules_dirs))
    data.pending_hunts = [rule.name for rule in rules]
    progress("Running the hunts", None)

    def on_rule(done: int, total: int, rule: Any) -> None:
        # A rule's name is text from a file: shown with control characters escaped.
        progress(f"Running the hunts: {done + 1}/{total} {escape_controls(rule.name)}",
                 done / total)

    # Every hunt of the case: local rules and results imported from Log Analytics (exhunt
    # import), each with the presentation the console builds its screen from. ago()/now()
    # in KQL-only rules are anchored as `exhunt hunt` anchors them (the latest TimeGenerated
    # in the case), so the console and the command show the same rows. The hunts get a
    # cursor of their own: the UI thread's pane queries use ``con`` meanwhile.
    # A rule whose query fails shows as a hunt that did not run; the others still load.
    runs = run_hunts(quiet(con.cursor()) if on_hunt is not None else con, case.path, rules,
                     on_rule=on_rule, keep_going=True,
                     on_run=None if on_hunt is None else (lambda run: on_hunt(data, run)))
    if on_hunt is None:
        data.runs = runs
    data.pending_hunts = []
    return data


def in_key_order(rules: list[Any]) -> list[Any]:
    """Rules in the order the console's number keys give their hunts (declared order, then
    load order), so hunts shown as they finish arrive in key order and no key moves."""
    return sorted(rules, key=lambda r: getattr(getattr(r, "console", None), "order",
                                               DEFAULT_ORDER))


def _ingest(case: Any, evidence: list[Path], options: Any, progress: Progress) -> Any:
    def on_progress(p: Any) -> None:
        progress(_describe_progress(p), _fraction(p))

    if options is None:
        return case.ingest(evidence, progress=on_progress)
    return case.ingest(evidence, options, progress=on_progress)


def _fraction(p: Any) -> float | None:
    done = getattr(p, "bytes_done", None)
    total = getattr(p, "bytes_total", None)
    if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return min(done / total, 1.0)
    return None


def _describe_progress(p: Any) -> str:
    files_done = getattr(p, "files_done", None)
    files_total = getattr(p, "files_total", None)
    text = "Reading evidence"
    if files_done is not None and files_total:
        text += f": {files_done}/{files_total} files"
    # A long file (a gzip bomb decompressing to gigabytes) names itself and its rate, so
    # the status line moves while it is read. Evidence names may hold escapes: shown inert.
    current = getattr(p, "current", None)
    read = getattr(p, "reading_bytes", 0)
    seconds = getattr(p, "reading_s", 0.0)
    if current and isinstance(read, int) and read > 0 and isinstance(seconds, float) \
            and seconds > 0:
        name = escape_controls(Path(str(current)).name)[:80]
        text += f" \u00b7 {name}: {read / 1e6:,.0f} MB read, {read / 1e6 / seconds:,.0f} MB/s"
    return text


def short_time(value: Any) -> str:
    """``2021-03-02 08:01:05`` (UTC, seconds) for table cells; details keep full precision."""
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ", ".join(short_time(v) for v in value)
    return "" if value is None else str(value)
