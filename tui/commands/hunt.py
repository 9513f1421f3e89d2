"""``exhunt hunt PATH...``: run the hunt rules over evidence, headless.

Findings go to stdout in the chosen format; coverage notes (what the queries as written
could not see) go to stderr, and also into ``--format json``. No findings is a success
(exit 0); a bad rule, parameter or option exits 2 with a message naming what is wrong.

``--format jsonl`` writes exactly one line per finding::

    {"rule": "<rule id>", "finding": "<finding id>", "row": {<KQL columns in KQL's order>}}
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence, TextIO

from engine.export import cell_text, inert_cell
from engine.findings import HuntRun
from engine.hunts import HuntEngineError, run_hunts
from engine.jsonvalues import to_json_value
from engine.rules import RuleError, find_rule, load_rules, parse_assignments
from tui.commands.common import add_evidence_arguments, case_from_args

FORMATS = ("table", "csv", "json", "jsonl")
TABLE_CELL_WIDTH = 48  # longer cells are cut with an ellipsis in --format table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "hunt", help="run the hunts over evidence and print findings",
        description="Run the Sentinel hunts (rules/*.yaml plus --rules folders) over the "
                    "evidence, with KQL's exact semantics. Coverage notes go to stderr.")
    add_evidence_arguments(parser)
    parser.add_argument("--rule", action="append", default=[], metavar="ID|SLUG",
                        help="run only this rule (repeatable; default: every rule)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        dest="assignments",
                        help="override a rule parameter (SLUG.NAME=VALUE for one rule; "
                             "lists as a,b or a JSON array)")
    parser.add_argument("--rules", action="append", default=[], type=Path, metavar="DIR",
                        dest="rule_dirs", help="also load rule files from DIR (repeatable)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="spark: run the same rules on Apache Spark over the case's Parquet "
                             "(pip install 'exhunt[spark]'; EXHUNT_SPARK_MASTER picks the master)")
    parser.add_argument("--now", default=None, metavar="TS",
                        help="the time ago()/now() mean in KQL-only rules (ISO 8601, UTC)")
    parser.add_argument("--list-rules", action="store_true",
                        help="list the rules and their parameters, then exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rule_dirs)
        if args.list_rules:
            _list_rules(rules, sys.stdout)
            return 0
        selected = [find_rule(rules, r) for r in args.rule] if args.rule else rules
        selected = list({r.id: r for r in selected}.values())
        overrides = parse_assignments(args.assignments)
        now = parse_now(args.now) if args.now else None
    except (RuleError, ValueError) as exc:
        print(f"exhunt hunt: {exc}", file=sys.stderr)
        return 2
    case = case_from_args(args)
    # Spark too gets the case's DuckDB connection: rules Spark cannot run exactly fall
    # back to it (engine.hunts.run_hunts).
    con = case.connect()
    try:
        # A rule whose query fails is reported and the others still run (exit status 1).
        runs = run_hunts(con, case.path, selected, overrides, now=now, engine=args.engine,
                         keep_going=args.engine == "duckdb")
    except (RuleError, HuntEngineError) as exc:
        print(f"exhunt hunt: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    write_runs(runs, args.format, sys.stdout)
    write_notes(runs, sys.stderr)  # a failed hunt's note says why it did not run
    return 1 if any(run.failed for run in runs) else 0


def parse_now(text: str) -> datetime:
    """An ISO 8601 time as naive UTC (the tables' convention); naive input is UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"--now {text!r}: not an ISO 8601 time "
                         f"(e.g. 2021-03-02T08:01:00Z)") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


# --- output -----------------------------------------------------------------------------

def write_runs(runs: Sequence[HuntRun], fmt: str, out: TextIO) -> None:
    if fmt == "jsonl":
        for run in runs:
            for f in run.findings:
                out.write(json.dumps({"rule": run.rule_id, "finding": f.finding_id,
                                      "row": to_json_value(f.row)}, ensure_ascii=False) + "\n")
    elif fmt == "json":
        json.dump({"runs": [run_json(run) for run in runs]}, out, ensure_ascii=False,
                  indent=1)
        out.write("\n")
    elif fmt == "csv":
        write_csv(runs, out)
    else:
        write_table(runs, out)


def run_json(run: HuntRun) -> dict[str, Any]:
    return {
        "rule": run.rule_id, "slug": run.rule_slug, "name": run.rule_name,
        "columns": list(run.columns), "parameters": to_json_value(run.parameters),
        "elapsed_s": round(run.elapsed_s, 6),
        "findings": [{"finding": f.finding_id, "key": to_json_value(list(f.key)),
                      "row": to_json_value(f.row)} for f in run.findings],
        "notes": [{"code": n.code, "count": n.count, "message": n.message}
                  for n in run.notes],
    }


def write_csv(runs: Sequence[HuntRun], out: TextIO) -> None:
    """One header, then one row per finding: rule id, finding id, and the union of the
    rules' columns in order of first appearance (a column a rule lacks stays empty).
    Every cell is made formula-inert; lists are joined with "; "."""
    columns = list(dict.fromkeys(c for run in runs for c in run.columns))
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([inert_cell(c) for c in ("rule id", "finding id", *columns)])
    for run in runs:
        for f in run.findings:
            writer.writerow([inert_cell(run.rule_id), inert_cell(f.finding_id)]
                            + [inert_cell(cell_text(f.row.get(c))) if c in f.row else ""
                               for c in columns])


def visible(text: str) -> str:
    """Evidence text for a terminal: control characters shown as escapes, never acted on."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _cut(text: str, width: int = TABLE_CELL_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def write_table(runs: Sequence[HuntRun], out: TextIO) -> None:
    for i, run in enumerate(runs):
        if i:
            out.write("\n")
        count = len(run.findings)
        outcome = ("did not run (see its note)" if run.failed and not count else
                   f"{count} finding{'' if count == 1 else 's'}")
        out.write(f"{visible(run.rule_slug)}: {visible(run.rule_name)} — {outcome} "
                  f"({visible(run.rule_id)})\n")
        if not run.findings:
            continue
        header = ["FINDING", *run.columns]
        body = [[f.finding_id, *(_cut(visible(cell_text(f.row[c])) if f.row[c] is not None
                                      else "null") for c in run.columns)]
                for f in run.findings]
        widths = [max(len(r[j]) for r in [header, *body]) for j in range(len(header))]
        for r in [header, *body]:
            out.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() + "\n")


def write_notes(runs: Sequence[HuntRun], err: TextIO) -> None:
    """Non-zero coverage notes, one line each (zero counts are in --format json)."""
    for run in runs:
        for note in run.notes:
            if note.count:
                err.write(f"note [{run.rule_slug}] {note.code}: {visible(note.message)}\n")


def _list_rules(rules, out: TextIO) -> None:
    for rule in rules:
        out.write(f"{rule.slug}  {rule.id}  {rule.name}\n")
        out.write(f"  from {rule.source_path}\n")
        for p in rule.parameters:
            out.write(f"  --set {rule.slug}.{p.name}={json.dumps(p.default)}  ({p.type}) "
                      f"{p.description}\n")
