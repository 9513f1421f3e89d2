"""``exhunt scan PATH...``: read evidence into a case and print the ingest report."""
from __future__ import annotations

import argparse
import json
import sys

from engine.case import IngestReport
from tui.commands.common import add_evidence_arguments, case_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan", help="read evidence into a case and report what was loaded or skipped",
        description="Walk PATHs, recognise each file by content, load IIS W3C logs and "
                    "Sentinel exports into the case, and report per file.")
    add_evidence_arguments(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--bad-lines", action="store_true",
                        help="list every line that did not fit its #Fields line")
    parser.set_defaults(func=run)


def _visible(text: str) -> str:
    """Evidence text for a terminal: control characters as visible escapes."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def run(args: argparse.Namespace) -> int:
    case = case_from_args(args)
    report = case.last_report() or IngestReport([], {})
    bad = case.bad_lines() if args.bad_lines else []
    out = sys.stdout
    if args.format == "json":
        data = report.to_json()
        if args.bad_lines:
            data["bad_line_list"] = [{"path": b.path, "line": b.line, "text": b.text}
                                     for b in bad]
        json.dump(data, out, indent=1, ensure_ascii=False)
        out.write("\n")
        return 0
    out.write(format_report(report))
    if args.bad_lines:
        out.write(f"\nBad lines ({len(bad)}):\n")
        for b in bad:
            out.write(f"{_visible(b.path)}:{b.line}: {_visible(b.text)}\n")
    return 0


def format_report(report: IngestReport) -> str:
    rows = [("KIND", "ROWS", "BAD", "COMPUTER", "PATH / REASON")]
    for f in report.files:
        detail = f.path + (f"  ({f.reason})" if f.reason else "")
        if f.notes:
            detail += "  [" + "; ".join(f.notes) + "]"
        if f.cached:
            detail += "  (cached)"
        rows.append((f.kind, str(f.rows), str(f.bad_lines), f.computer or "-", detail))
    widths = [max(len(_visible(r[i])) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        cells = [_visible(r[i]).ljust(widths[i]) if i else _visible(r[i]).ljust(widths[i])
                 for i in range(4)]
        cells[1] = _visible(r[1]).rjust(widths[1])
        cells[2] = _visible(r[2]).rjust(widths[2])
        lines.append("  ".join(cells) + "  " + _visible(r[4]))
    lines.append("")
    lines.append(f"W3CIISLog: {report.tables.get('W3CIISLog', 0)} rows   "
                 f"SecurityAlert: {report.tables.get('SecurityAlert', 0)} rows   "
                 f"files read: {report.files_read}, cached: {report.files_cached}, "
                 f"{report.elapsed_s:.2f} s   case: {report.case}")
    return "\n".join(lines) + "\n"
