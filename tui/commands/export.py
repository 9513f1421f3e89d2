"""``exhunt export --case DIR -o FILE.csv [--all] [--rule ID|SLUG]... [--force] [--bom]``.

Runs the case's hunts and writes the marked findings (``--all``: every finding) with their
dispositions to a CSV file; see engine/export.py for the layout and the safety rules.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.dispositions import DispositionError
from engine.export import ExportPathError, check_export_path, write_findings_csv
from tui.commands.mark import (CommandError, add_case_arguments, case_folder, hunt_runs,
                               open_case_strict, open_store)
from tui.safe_text import escape_controls


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write marked findings to CSV",
        description="Write the case's marked findings (with --all, every finding) and their "
                    "dispositions to a CSV file that spreadsheets open safely.",
    )
    parser.add_argument("-o", "--output", required=True, metavar="FILE.csv", type=Path,
                        help="file to write (its folder must exist; never inside evidence)")
    parser.add_argument("--all", action="store_true", help="include unreviewed findings")
    parser.add_argument("--rule", action="append", default=[], metavar="ID",
                        help="only this rule, by id or slug (repeatable)")
    parser.add_argument("--force", action="store_true", help="replace FILE.csv if it exists")
    parser.add_argument("--bom", action="store_true",
                        help="start the file with a UTF-8 byte-order mark (for Excel)")
    add_case_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (CommandError, DispositionError, ExportPathError, OSError) as exc:
        print(f"exhunt export: {escape_controls(str(exc))}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    case_dir = case_folder(args.case)
    case = open_case_strict(case_dir)
    evidence = list(case.evidence_paths)
    # Fail on a bad path before spending time on the hunts.
    check_export_path(args.output, evidence, overwrite=args.force)
    try:
        runs = hunt_runs(case, args.rules, args.rule)
    except Exception as exc:  # rule files and hunts report their own clear messages
        raise CommandError(f"could not run the hunts: {exc}") from exc
    with open_store(case) as store:
        marks = store.current(include_unreviewed=args.all)
    rule_ids = {run.rule_id for run in runs} if args.rule else None
    count = write_findings_csv(args.output, runs, marks, include_unreviewed=args.all,
                               rule_ids=rule_ids, evidence=evidence, overwrite=args.force,
                               bom=args.bom)
    what = "findings" if args.all else "marked findings"
    print(f"wrote {count} {what} to {escape_controls(str(args.output.expanduser().resolve()))}")
    return 0
