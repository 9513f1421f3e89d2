"""Both hunts' time on a cached case: the generated logs are ingested once (untimed here;
measure_ingest times ingest), then each hunt runs in a fresh interpreter over the case's
Parquet tables, query and coverage notes included. Goal: under one second at 5 M rows.
"""
from __future__ import annotations

INGEST = """
from pathlib import Path
from engine.case import Case, IngestOptions
report = Case(Path(CASE)).ingest([Path(p) for p in FILES], IngestOptions())
result = report.tables["W3CIISLog"]
"""

HUNT = """
import time
from pathlib import Path
from engine.case import Case
from engine import hunts, rules
con = Case(Path(CASE)).connect()
rule = rules.find_rule(rules.load_rules(), SLUG)
hunts.run_rule(con, rule)  # warm-up: Parquet metadata and OS page cache
times = []
for _ in range(3):
    run = hunts.run_rule(con, rule)
    times.append(run.elapsed_s)
times.sort()
result = {"median": times[1], "findings": len(run.findings)}
"""


def measure(ctx) -> list[tuple[str, str]]:
    files = [str(p) for p in ctx.files] or sorted(
        str(p) for p in ctx.log_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".gz"))
    case = ctx.scratch("hunts-case")
    rows = ctx.run_python(INGEST.replace("FILES", repr(files)).replace("CASE", repr(str(case)))).value
    out = []
    for slug in ("exchange-alerts", "owa-export"):
        child = ctx.run_python(HUNT.replace("CASE", repr(str(case))).replace("SLUG", repr(slug)))
        value = child.value
        out.append((f"hunts: {slug} on cached case",
                    f"{value['median']:.3f} s median of 3 ({rows:,} rows, "
                    f"{value['findings']} findings, notes included; goal < 1 s at 5 M rows)"))
        out.append((f"hunts: {slug} peak RSS", f"{child.peak_rss_mib:,.0f} MiB"))
    return out
