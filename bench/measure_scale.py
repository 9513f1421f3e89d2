"""Both hunts on the cached case, on DuckDB and on Spark (local mode), and whether the two
engines return the same finding ids.

Called by bench/bench.py as ``measure(ctx)``. Uses the case measure_ingest built
(``work/ingest-case``) when it is there, else ingests the logs into its own case first.
Each engine runs in a fresh interpreter (``ctx.run_python``), each hunt set twice: the first
run includes opening the tables (and, on Spark, query planning and JIT warm-up), the second
is what a re-run costs.

Spark runs only where pyspark and Java are installed (``pip install 'exhunt[spark]'``);
``EXHUNT_BENCH_SPARK=0`` skips it, ``EXHUNT_BENCH_SPARK_MASTER`` picks the master
(default ``local[*]``), ``EXHUNT_BENCH_SPARK_REPEAT=1`` runs the hunts once (big sizes).
Spark's memory is the JVM's, not the Python driver's: the figure is
the JVM process's own peak RSS (VmHWM), read before the session stops.
"""
from __future__ import annotations

import os
import shutil

# The figures are for the two seed hunts; the Exchange pack's KQL-only rules are
# measured by measure_hunts (and cannot all run on Spark exactly).
SEED = 'SEED_HUNTS = ("exchange-alerts", "owa-export")\n'

INGEST = """
from pathlib import Path
from engine.case import Case
Case(Path(CASE)).ingest([Path(p) for p in FILES])
"""

DUCKDB = """
import time
from pathlib import Path
from engine.case import Case
from engine.hunts import run_rules
from engine.rules import load_rules
rules = [r for r in load_rules() if r.slug in SEED_HUNTS]
times, ids = [], None
for _ in range(2):
    t = time.perf_counter()
    con = Case(Path(CASE)).connect()
    runs = run_rules(con, rules)
    con.close()
    times.append(time.perf_counter() - t)
    ids = sorted(f.finding_id for r in runs for f in r.findings)
result = {"times": times, "ids": ids}
"""

SPARK = """
import time
from pathlib import Path
from engine.rules import load_rules
from engine.spark import run_rules_spark, spark_session
t = time.perf_counter()
spark = spark_session(MASTER)
spark.sparkContext.setLogLevel("ERROR")
start = time.perf_counter() - t
rules = [r for r in load_rules() if r.slug in SEED_HUNTS]
times, ids = [], None
for _ in range(REPEAT):
    t = time.perf_counter()
    runs = run_rules_spark(CASE, rules, spark=spark)
    times.append(time.perf_counter() - t)
    ids = sorted(f.finding_id for r in runs for f in r.findings)
jvm_rss = None
try:
    pid = spark.sparkContext._gateway.proc.pid
    with open(f"/proc/{pid}/status") as fh:
        jvm_rss = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
except Exception:
    pass
spark.stop()
result = {"start": start, "times": times, "ids": ids, "jvm_rss": jvm_rss}
"""


def _case(ctx):
    shared = ctx.work_dir / "ingest-case"
    if (shared / "manifest.json").is_file():
        return shared, "measure_ingest's case"
    files = [str(p) for p in ctx.files]
    case = ctx.scratch("scale-case")
    ctx.run_python(INGEST.replace("FILES", repr(files)).replace("CASE", repr(str(case))))
    return case, "own case"


def _spark_available() -> str | None:
    if os.environ.get("EXHUNT_BENCH_SPARK", "1") == "0":
        return "EXHUNT_BENCH_SPARK=0"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark not installed"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java"
    return None


def measure(ctx) -> list[tuple[str, str]]:
    case, which = _case(ctx)
    duck = ctx.run_python(SEED + DUCKDB.replace("CASE", repr(str(case))))
    first, again = duck.value["times"]
    out = [("scale: both hunts, DuckDB (cached case)",
            f"{again:.2f} s re-run, {first:.2f} s first ({which}, "
            f"{len(duck.value['ids'])} findings, peak RSS {duck.peak_rss_mib:,.0f} MiB)")]
    missing = _spark_available()
    if missing:
        out.append(("scale: both hunts, Spark", f"skipped ({missing})"))
        return out
    master = os.environ.get("EXHUNT_BENCH_SPARK_MASTER", "local[*]")
    repeat = int(os.environ.get("EXHUNT_BENCH_SPARK_REPEAT", "2"))
    try:
        sp = ctx.run_python(SEED + SPARK.replace("MASTER", repr(master))
                            .replace("CASE", repr(str(case)))
                            .replace("REPEAT", str(max(repeat, 1))))
    except RuntimeError as exc:  # keep the DuckDB figure when Spark fails
        out.append((f"scale: both hunts, Spark {master}", f"error: {str(exc)[-200:]}"))
        return out
    s_first, s_again = sp.value["times"][0], sp.value["times"][-1]
    jvm = sp.value.get("jvm_rss")
    runs = (f"{s_again:.2f} s re-run, {s_first:.2f} s first" if len(sp.value["times"]) > 1
            else f"{s_first:.2f} s (one run)")
    out.append((f"scale: both hunts, Spark {master}",
                f"{runs}, session start {sp.value['start']:.1f} s (JVM peak RSS "
                f"{'?' if jvm is None else f'{jvm:,.0f}'} MiB)"))
    same = sp.value["ids"] == duck.value["ids"]
    out.append(("scale: Spark finding ids == DuckDB's", "yes" if same else
                f"NO ({len(sp.value['ids'])} vs {len(duck.value['ids'])} findings)"))
    return out
