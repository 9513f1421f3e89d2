"""The yardstick: bare DuckDB ``read_csv`` over the same raw files, without exhunt.

Three readings, each in a fresh interpreter (peak RSS is the child's own), median of three
runs for inputs up to 2 GB (one run above; ``--repeats`` overrides):

* ``scan``: read every line, drop ``#`` directive lines, count rows;
* ``hunt B SQL`` (the reference figure of issue 2 and measured-facts.md, ~250 MB/s on 2 cores):
  the same read plus a hunt-B-shaped filter and aggregate; this is ``ctx.baseline_mb_s``;
* ``to Parquet``: the same read written to one Parquet file, the work an ingest must do at
  least once.

The CSV options are the ones measured-facts.md says W3C files need: every column VARCHAR and
given explicitly (the sniffer fails on these files), ``comment=''`` (a ``#`` inside a field
must not cut the row), ``quote=''``, ``escape=''``, ``auto_detect=false``,
``null_padding=true``, ``strict_mode=false``; directive lines are dropped by a filter.
"""
from __future__ import annotations

import statistics

from engine.demo_traffic import DEFAULT_FIELDS


def _columns() -> str:
    # Identifiers we own (the generator's fixed field list), so formatting them is safe.
    return "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in DEFAULT_FIELDS) + "}"


def _read_csv(files_param: str) -> str:
    return (f"read_csv({files_param}, columns={_columns()}, delim=' ', header=false, comment='', "
            "quote='', escape='', auto_detect=false, null_padding=true, strict_mode=false)")


SNIPPETS = {
    "scan": """
import duckdb
con = duckdb.connect()
result = con.execute("SELECT count(*) FROM " + READ + " WHERE NOT starts_with(\\"date\\", '#')", [FILES]).fetchone()[0]
""",
    "hunt B SQL": """
import duckdb
con = duckdb.connect()
sql = ("SELECT \\"cs-uri-stem\\", min(\\"date\\" || ' ' || \\"time\\"), max(\\"date\\" || ' ' || \\"time\\"), "
       "count(DISTINCT \\"c-ip\\"), list(DISTINCT \\"c-ip\\"), count(*) FROM " + READ +
       " WHERE NOT starts_with(\\"date\\", '#') AND contains(lower(\\"cs-uri-stem\\"), '/owa/') "
       "AND \\"cs-uri-query\\" = '-' AND NOT starts_with(\\"c-ip\\", '10.') AND NOT starts_with(\\"c-ip\\", '127.') "
       "GROUP BY \\"cs-uri-stem\\" HAVING count(*) <= 2 AND count(DISTINCT \\"c-ip\\") = 1")
result = len(con.execute(sql, [FILES]).fetchall())
""",
    "to Parquet": """
import duckdb, os
con = duckdb.connect()
con.execute("COPY (SELECT * FROM " + READ + " WHERE NOT starts_with(\\"date\\", '#')) TO '" + OUT +
            "' (FORMAT parquet)", [FILES])
result = os.path.getsize(OUT)
""",
}


def measure(ctx) -> list[tuple[str, str]]:
    files = [str(p) for p in ctx.files]
    scratch = ctx.scratch("baseline")
    repeats = ctx.repeats or (3 if ctx.size_mb <= 2000 else 1)
    rows: list[tuple[str, str]] = []
    for name, body in SNIPPETS.items():
        out = scratch / "baseline.parquet"
        prelude = f"FILES = {files!r}\nREAD = {_read_csv('?')!r}\nOUT = {str(out)!r}\n"
        runs = [ctx.run_python(prelude + body) for _ in range(repeats)]
        seconds = statistics.median(r.seconds for r in runs)
        rss = max(r.peak_rss_mib for r in runs)
        mb_s = ctx.mb_s(seconds)
        if name == "hunt B SQL":
            ctx.baseline_mb_s = mb_s
        if name == "scan" and runs[0].value != ctx.rows:
            rows.append(("baseline: scan row count MISMATCH", f"{runs[0].value:,} read vs {ctx.rows:,} written"))
        rows.append((f"baseline: DuckDB read_csv {name}", f"{mb_s:,.0f} MB/s ({seconds:.2f} s, peak RSS {rss:,.0f} MiB)"))
        if out.exists():
            out.unlink()
    return rows
