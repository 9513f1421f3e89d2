"""``exhunt kql 'QUERY' PATH...``: run one KQL query (Sentinel syntax) over the evidence.

now()/ago() are anchored to ``--now`` or, by default, to the latest TimeGenerated in the
case; the anchor used is printed on stderr so a result can always be reproduced.
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import sys
from typing import Any, TextIO


from engine.export import inert_cell
from engine.jsonvalues import iso_utc, to_json_value
from engine.kql import (CompiledQuery, KqlError, QueryFailed, compile_kql, default_now,
                        execute_within_memory)
from engine.kql.pervalue import sampled
from tui.commands.common import add_evidence_arguments, case_from_args
from tui.safe_text import escape_controls

TABLE_CELL_WIDTH = 60  # wider cells are cut in the table format (csv/json keep everything)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "kql", help="run a KQL query (Sentinel syntax) over the evidence",
        description="Compile a KQL query over W3CIISLog and SecurityAlert to DuckDB and run it "
                    "on the case. QUERY '-' reads the query from standard input.")
    parser.add_argument("query", metavar="QUERY", help="the KQL text, or - for stdin")
    add_evidence_arguments(parser)
    parser.add_argument("--now", metavar="TS", default=None,
                        help="anchor for now()/ago(), ISO 8601 UTC (default: the latest "
                             "TimeGenerated in the case)")
    parser.add_argument("--format", choices=("table", "csv", "json", "jsonl"), default="table")
    parser.set_defaults(func=run)


def parse_now(text: str) -> _dt.datetime:
    """ISO 8601 (``2021-03-02T08:00:00Z``, ``2021-03-02 08:00``); naive means UTC."""
    value = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return value


def run(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.query == "-" else args.query
    try:
        now = parse_now(args.now) if args.now else None
    except ValueError:
        print(f"exhunt kql: --now {args.now!r} is not an ISO 8601 timestamp", file=sys.stderr)
        return 2
    try:
        compile_kql(text, now=now)  # reject a bad query before reading any evidence
    except KqlError as exc:
        print(f"exhunt kql: {exc}", file=sys.stderr)
        return 2
    case = case_from_args(args)
    con = case.connect()
    if now is None:
        now = default_now(con)
        source = "the latest TimeGenerated in the case"
    else:
        source = "--now"
    anchor = iso_utc(now) if now is not None else "none (the case has no rows)"
    print(f"exhunt kql: now() = {anchor} ({source})", file=sys.stderr)
    policy = sampled(con)
    compiled = compile_kql(text, now=now, per_value=policy)
    for note in compiled.notes:
        print(f"exhunt kql: note: {note}", file=sys.stderr)
    try:
        compiled, _, rows = execute_within_memory(con, compiled, text, policy)
    except QueryFailed as exc:
        print(f"exhunt kql: the query failed: {exc}", file=sys.stderr)
        return 1
    write_rows(sys.stdout, compiled, rows, args.format)
    return 0


def json_cell(value: Any, ktype: str) -> Any:
    if value is None:
        return None
    if ktype == "dynamic":
        return json.loads(value)
    if ktype == "timespan":
        return timespan_text(value)
    return to_json_value(value)


def text_cell(value: Any, ktype: str) -> str:
    if value is None:
        return ""
    if ktype == "dynamic":
        return json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
    if ktype == "timespan":
        return timespan_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return iso_utc(value)
    return str(value)


def timespan_text(td: _dt.timedelta) -> str:
    """KQL's timespan text: ``[-][d.]hh:mm:ss[.fffffff]``."""
    micros = td // _dt.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    days, rest = divmod(micros, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, frac = divmod(rest, 1_000_000)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{frac:06d}0" if frac else "")


def write_rows(out: TextIO, compiled: CompiledQuery, rows: list[tuple], fmt: str) -> None:
    cols, types = compiled.columns, compiled.types
    if fmt in ("json", "jsonl"):
        objects = [{c: json_cell(v, t) for c, t, v in zip(cols, types, row)} for row in rows]
        if fmt == "jsonl":
            for obj in objects:
                out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        else:
            json.dump(objects, out, ensure_ascii=False, indent=1)
            out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([inert_cell(c) for c in cols])
        for row in rows:
            writer.writerow([inert_cell(text_cell(v, t)) for t, v in zip(types, row)])
        return
    table = [[escape_controls(c) for c in cols]]
    for row in rows:
        cells = []
        for t, v in zip(types, row):
            cell = escape_controls(text_cell(v, t))
            if len(cell) > TABLE_CELL_WIDTH:
                cell = cell[:TABLE_CELL_WIDTH - 1] + "…"
            cells.append(cell)
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    for r in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() + "\n")
    out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")
