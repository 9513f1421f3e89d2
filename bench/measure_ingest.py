"""Ingest speed and memory: exhunt's raw W3C ingest against a bare DuckDB read of the same bytes.

Called by bench/bench.py as ``measure(ctx)``. Each reading runs in a fresh interpreter
(``ctx.run_python``) so its peak RSS is its own:

* first ingest of ``ctx.files`` into an empty case (directive pass, DuckDB read, field
  checks, typed columns, Parquet written partitioned by computer and day);
* re-run on the unchanged case (should only stat the files);
* the ratio of the first ingest's time to the bare read's (``ctx.baseline_mb_s`` from
  measure_baseline, the issue's yardstick; goal: within 1.5x).

The first ingest's CPU seconds (every thread of the child, user + system) are reported
beside its wall time: on a shared machine the wall time grows with other jobs' load, the CPU
time much less, so it is the figure to compare between runs (the load average at the start
of the run is printed with it).
"""
from __future__ import annotations

INGEST = """
import os, resource
from pathlib import Path
from engine.case import Case, IngestOptions
files = [Path(p) for p in FILES]
load = os.getloadavg()[0]
before = resource.getrusage(resource.RUSAGE_SELF)
report = Case(Path(CASE)).ingest(files, IngestOptions())
after = resource.getrusage(resource.RUSAGE_SELF)
result = {"rows": report.tables["W3CIISLog"], "read": report.files_read,
          "cached": report.files_cached, "bad": sum(f.bad_lines for f in report.files),
          "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
          "load": load}
"""


BARE = """
import duckdb
con = duckdb.connect()
cols = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, 24))
result = con.execute(
    "SELECT count(*), count(DISTINCT c9), max(c5) FROM read_csv($f, columns={" + cols + "}, "
    "delim=' ', header=false, auto_detect=false, quote='', escape='', comment='', "
    "null_padding=true, strict_mode=false) WHERE NOT starts_with(c1, '#')",
    {"f": FILES}).fetchone()[0]
"""


def measure(ctx) -> list[tuple[str, str]]:
    files = [str(p) for p in ctx.files] or sorted(
        str(p) for p in ctx.log_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".gz"))
    case = ctx.scratch("ingest-case")
    code = INGEST.replace("FILES", repr(files)).replace("CASE", repr(str(case)))
    first = ctx.run_python(code)
    again = ctx.run_python(code)
    out = [
        ("ingest: first run", f"{ctx.mb_s(first.seconds):,.0f} MB/s ({first.seconds:.2f} s, "
                              f"{first.value['rows']:,} rows, {first.value['bad']} bad lines)"),
        ("ingest: first run CPU", f"{first.value['cpu']:.2f} CPU-s = {ctx.size_mb / first.value['cpu']:,.0f} "
                                  f"MB per CPU-second (load average {first.value['load']:.1f} "
                                  "at its start)"),
        ("ingest: first run peak RSS", f"{first.peak_rss_mib:,.0f} MiB"),
        ("ingest: re-run, unchanged case", f"{again.seconds:.3f} s "
                                           f"({again.seconds / first.seconds:.3f}x of first run, "
                                           f"{again.value['cached']} files cached)"),
        ("ingest: re-run peak RSS", f"{again.peak_rss_mib:,.0f} MiB"),
    ]
    baseline = getattr(ctx, "baseline_mb_s", None)
    source = "measure_baseline"
    if not baseline:
        # measure_baseline did not run or failed: take a bare read here, same interpreter setup.
        bare = ctx.run_python(BARE.replace("FILES", repr(files)))
        baseline, source = ctx.mb_s(bare.seconds), "own bare read"
    bare_s = ctx.size_mb / baseline
    out.append(("ingest / bare read_csv time", f"{first.seconds / bare_s:.2f}x (goal <= 1.5x; "
                                               f"bare {baseline:,.0f} MB/s, {source})"))
    size = sum(__import__("os").path.getsize(f) for f in files) / 1e6
    out.append(("ingest: case size on disk",
                f"{_du(case) / 1e6:,.1f} MB for {size:,.0f} MB of logs"))
    return out


def _du(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
