"""``exhunt import RULE RESULTS.csv|json --case DIR [--label NAME] [--format ...]``.

Loads the results of the same hunt run in Log Analytics (the portal's CSV or JSON export)
into the case as findings with the ids a local run gives them; see
engine/import_results.py for the formats, where they are kept and how they combine with
locally computed findings.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.import_results import ResultsImportError, import_results
from engine.jsonvalues import to_json_value
from engine.rules import RuleError, find_rule, load_rules
from tui.safe_text import escape_controls


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import a hunt's results exported from Log Analytics",
        description="Load the results of a hunt run in Microsoft Sentinel / Log Analytics "
                    "(the portal's Export to CSV, or a JSON export) into a case as findings "
                    "with the same ids a local run gives them, so they are triaged, marked "
                    "and exported like local findings.",
    )
    parser.add_argument("rule", metavar="RULE", help="the rule the results come from (id or slug)")
    parser.add_argument("results", metavar="RESULTS", type=Path,
                        help="the exported results: .csv or .json")
    parser.add_argument("--case", required=True, type=Path, metavar="DIR",
                        help="case folder to keep the import in (created when missing)")
    parser.add_argument("--rules", action="append", default=[], type=Path, metavar="DIR",
                        help="extra folder of rule YAML files (repeatable)")
    parser.add_argument("--label", default=None, metavar="NAME",
                        help="name of this import in the case (default: the file name); "
                             "importing the same name again replaces it")
    parser.add_argument("--format", choices=("table", "json", "jsonl"), default="table",
                        help="table: a summary; json: the import report; jsonl: one line "
                             "per imported finding, as 'exhunt hunt --format jsonl'")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        rule = find_rule(load_rules(args.rules), args.rule)
        case_dir = Path(args.case).expanduser()
        if case_dir.exists() and not case_dir.is_dir():
            raise ResultsImportError(f"{case_dir} is not a folder")
        case_dir.mkdir(parents=True, exist_ok=True)
        report = import_results(case_dir, rule, args.results, label=args.label)
    except (RuleError, ResultsImportError, OSError) as exc:
        print(f"exhunt import: {escape_controls(str(exc))}", file=sys.stderr)
        return 1
    for problem in report.problems:
        print(f"warning: {escape_controls(problem)}", file=sys.stderr)
    if args.format == "jsonl":
        for f in report.findings:
            line = {"rule": f.rule_id, "finding": f.finding_id,
                    "row": {k: to_json_value(v) for k, v in f.row.items()}}
            print(json.dumps(line, ensure_ascii=False))
    elif args.format == "json":
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(escape_controls(
            f"imported {len(report.findings)} findings of {rule.slug} ({rule.id}) from "
            f"{report.source} ({report.format}, {report.rows} rows, "
            f"{len(report.problems)} problems) into {report.stored}"))
    return 0
