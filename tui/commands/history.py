"""``exhunt history [FINDING...] --case DIR [--format table|json]``.

Every change of the given findings (or of the whole case when none is given), oldest first:
when, who, from what to what, and the note. Needs only the store, not the evidence.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.dispositions import Change, DispositionError
from engine.jsonvalues import iso_utc
from tui.commands.mark import STORE_FILE_NAME, CommandError, case_folder, warn
from tui.safe_text import escape_controls

_HEADER = ("#", "changed at", "finding", "rule", "analyst", "change", "note")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "history",
        help="show who marked a finding, when, and how",
        description="Show the disposition history of findings (all findings of the case when "
                    "none is given), oldest first.",
    )
    parser.add_argument("findings", nargs="*", metavar="FINDING", help="finding id(s)")
    parser.add_argument("--case", required=True, metavar="DIR", type=Path, help="case folder")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="output format (default: table)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        changes = _changes(args)
    except (CommandError, DispositionError) as exc:
        print(f"exhunt history: {escape_controls(str(exc))}", file=sys.stderr)
        return 1
    if args.format == "json":
        # ensure_ascii: every control, bidi or non-ASCII character is a \u escape, so the
        # output is safe on a terminal and exact for a program.
        print(json.dumps([change_json(c) for c in changes], ensure_ascii=True, indent=2))
        return 0
    if not changes:
        wanted = ", ".join(args.findings)
        print(f"no changes recorded{' for ' + escape_controls(wanted) if wanted else ''}")
        return 0
    print(format_table(changes))
    return 0


def _changes(args: argparse.Namespace) -> list[Change]:
    from engine.dispositions import DispositionStore
    case_dir = case_folder(args.case)
    path = _store_path(case_dir)
    if not path.exists():
        return []  # nothing was ever marked; do not create a store just to read it
    with DispositionStore(path) as store:
        for message in store.warnings:
            warn(message)
        if not args.findings:
            return store.changes()
        wanted = [f.strip() for f in args.findings]
        return sorted((c for fid in dict.fromkeys(wanted) for c in store.history(fid)),
                      key=lambda c: c.seq)


def _store_path(case_dir: Path) -> Path:
    """``Case.dispositions_path`` by the contract's name, without opening the case: history
    must not wait for (or fail on) evidence that moved."""
    return case_dir / STORE_FILE_NAME


def change_json(change: Change) -> dict:
    return {"seq": change.seq, "finding": change.finding_id, "rule": change.rule_id,
            "from": change.previous, "to": change.disposition, "note": change.note,
            "analyst": change.analyst, "changed_at": iso_utc(change.changed_at)}


def format_table(changes: list[Change]) -> str:
    """A plain-text table; notes on one line with newlines and controls shown as escapes."""
    rows = [(str(c.seq), iso_utc(c.changed_at), escape_controls(c.finding_id),
             escape_controls(c.rule_id) or "-",
             escape_controls(c.analyst), f"{c.previous} -> {c.disposition}",
             escape_controls(c.note)) for c in changes]
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER) - 1)]
    lines = []
    for row in [_HEADER, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(len(widths))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
