"""Issue 12's table: exhunt's commands as ratios of one bare DuckDB query measured in the
same run, and hunt B's rows from both.

* ``bare``: one DuckDB ``read_csv`` query (no exhunt code) over the generated raw files that
  computes hunt B's rows, in a fresh interpreter, the query alone timed (the ratios' unit);
  also reported as the wall time of that fresh process, start and ``import duckdb`` included,
  which is the floor of any command that uses DuckDB;
* ``first run``: ``exhunt hunt --case NEW PATH`` as a user runs it (interpreter start,
  ingest, both hunts, coverage notes), wall time, on a fresh case each time;
* ``cached``: ``exhunt hunt --case C`` again on that case (evidence re-checked, nothing
  re-read), wall time; and hunt B's own time inside it (``elapsed_s`` of ``--format json``).

Median of 3 runs up to 2 GB (1 above; ``--repeats`` overrides). Hunt B's rows must be the
same from both: the count and (Computer, csUriStem, Access) of each row are compared and a
mismatch is reported as such.

The bare query reads each field as VARCHAR with the options measured-facts.md gives, takes
Computer from the generated layout (the folder above ``inetpub``) and treats ``-`` as empty,
as ingest does by default. Its tests are plain DuckDB (``lower``, ``split_part``, a regular
expression for a public IPv4): exact for these files, which are ASCII.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from engine.demo_traffic import DEFAULT_FIELDS

# A dotted-quad IPv4 (0-255 each) and the three private ranges, in plain RE2.
_OCTET = r"(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
_PRIVATE = r"(0?10\..*|172\.0?(1[6-9]|2[0-9]|3[01])\..*|192\.168\..*)"

BARE = r"""
import time, duckdb
con = duckdb.connect()
sql = '''
WITH r AS (
    SELECT regexp_extract(filename, '([^/]+)/inetpub/', 1) AS Computer,
           CAST("date" || ' ' || "time" AS TIMESTAMP) AS TimeGenerated,
           "cs-uri-stem" AS stem, "cs-uri-query" AS query, "c-ip" AS ip
    FROM READ
    WHERE NOT starts_with("date", '#')
)
SELECT Computer, stem, count(*) AS Access, count(DISTINCT ip) AS dcount_cIP,
       min(TimeGenerated), max(TimeGenerated),
       list(DISTINCT ip ORDER BY ip), list(DISTINCT TimeGenerated ORDER BY TimeGenerated)
FROM r
WHERE contains(lower(stem), '/owa/') AND query IN ('-', '')
  AND lower(split_part(stem, '.', -1)) NOT IN ('aspx', 'ashx', 'asp')
  AND split_part(stem, '/', -1) <> ''
  AND ip NOT IN ('127.0.0.1', '::1') AND NOT starts_with(ip, '127.')
  AND regexp_full_match(ip, 'IPV4') AND NOT regexp_full_match(ip, 'PRIVATE')
GROUP BY Computer, stem
HAVING count(*) <= 2 AND count(DISTINCT ip) = 1
ORDER BY Computer, stem
'''
started = time.perf_counter()
rows = con.execute(sql, [FILES]).fetchall()
result = {"seconds": time.perf_counter() - started,
          "rows": sorted([r[0], r[1], r[2]] for r in rows)}
"""


def _read_csv() -> str:
    # Field names are the generator's fixed list, so formatting them is safe.
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in DEFAULT_FIELDS) + "}"
    return (f"read_csv(?, columns={columns}, delim=' ', header=false, comment='', quote='', "
            "escape='', auto_detect=false, null_padding=true, strict_mode=false, "
            "filename=true)")


def _exhunt(ctx, args: list[str]) -> tuple[float, dict]:
    """Run ``exhunt hunt ... --format json`` as a user would; wall time and its output."""
    started = time.perf_counter()
    # The figures are for the two seed hunts (the Exchange pack is measured apart).
    proc = subprocess.run([ctx.python, "-m", "tui.cli", "hunt", *args, "--format", "json",
                           "--rule", "exchange-alerts", "--rule", "owa-export"],
                          cwd=ctx.repo, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ctx.repo)})
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"exhunt hunt {' '.join(args)}: exit {proc.returncode}: "
                           f"{proc.stderr.strip()[-500:]}")
    return seconds, json.loads(proc.stdout)


def _hunt_b(output: dict) -> dict:
    return next(run for run in output["runs"] if run["slug"] == "owa-export")


def measure(ctx) -> list[tuple[str, str]]:
    files = [str(p) for p in ctx.files]
    repeats = ctx.repeats or (3 if ctx.size_mb <= 2000 else 1)
    code = (f"FILES = {files!r}\n" + BARE.replace("READ", _read_csv())
            .replace("IPV4", _IPV4.replace("\\", "\\\\"))
            .replace("PRIVATE", _PRIVATE.replace("\\", "\\\\")))
    bare_runs, bare_walls = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        bare_runs.append(ctx.run_python(code).value)
        bare_walls.append(time.perf_counter() - started)
    bare = statistics.median(r["seconds"] for r in bare_runs)
    # The same query as a program a user starts (interpreter, import duckdb, query): the
    # floor of any fresh process that uses DuckDB, which exhunt's commands are.
    bare_wall = statistics.median(bare_walls)
    bare_rows = bare_runs[0]["rows"]

    first_times = []
    for _ in range(repeats):
        case = ctx.scratch("vs-bare-case")
        seconds, first = _exhunt(ctx, ["--case", str(case), str(ctx.log_dir)])
        first_times.append(seconds)
    cached_times, hunt_b_times = [], []
    for _ in range(repeats):
        seconds, cached = _exhunt(ctx, ["--case", str(case)])
        cached_times.append(seconds)
        hunt_b_times.append(_hunt_b(cached)["elapsed_s"])
    first_s, cached_s = statistics.median(first_times), statistics.median(cached_times)
    hunt_b_s = statistics.median(hunt_b_times)

    exhunt_rows = sorted([f["row"]["Computer"], f["row"]["csUriStem"], f["row"]["Access"]]
                         for f in _hunt_b(cached)["findings"])
    same = exhunt_rows == bare_rows and sorted(
        [f["row"]["Computer"], f["row"]["csUriStem"], f["row"]["Access"]]
        for f in _hunt_b(first)["findings"]) == bare_rows
    label = f"vs bare ({ctx.clients} clients)"
    return [
        (f"{label}: bare DuckDB read_csv computing hunt B's rows",
         f"{bare:.2f} s ({ctx.mb_s(bare):,.0f} MB/s, {len(bare_rows)} rows)"),
        (f"{label}: the bare query as a fresh process (interpreter + import duckdb + query)",
         f"{bare_wall:.2f} s = {bare_wall / bare:.2f}x bare"),
        (f"{label}: exhunt hunt PATH, first run (ingest + both hunts)",
         f"{first_s:.2f} s = {first_s / bare:.2f}x bare (goal <= 1.5x)"),
        (f"{label}: exhunt hunt --case C, cached",
         f"{cached_s:.2f} s = {cached_s / bare:.2f}x bare (goal <= 0.3x)"),
        (f"{label}: hunt B alone on the cached case (notes included)",
         f"{hunt_b_s:.2f} s = {hunt_b_s / bare:.2f}x bare"),
        (f"{label}: hunt B rows, exhunt vs bare",
         f"{len(exhunt_rows)} = {len(bare_rows)}: equal" if same else
         f"MISMATCH: exhunt {len(exhunt_rows)} rows, bare {len(bare_rows)} rows"),
    ]


if __name__ == "__main__":  # pragma: no cover - run through bench/bench.py
    sys.exit("run through bench/bench.py --only vs_bare")
