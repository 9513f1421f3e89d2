"""The Exchange pack's KQL-only rules on a cached case, each rule's costly where tests made
once per distinct value (what ``exhunt hunt`` does, engine/kql/pervalue.py) and, for
comparison, once per row. Also a script for a case that exists already, whose evidence may
be gone (it reads the case's Parquet files and never ingests)::

    python bench/measure_pack.py CASE_DIR [--repeats N] [--rule SLUG]...

Each figure is the best of ``--repeats`` runs of the rule in one interpreter (the first run
warms the OS page cache and the Parquet metadata), HuntRun.elapsed_s: compile, query,
findings, coverage notes.
"""
from __future__ import annotations

PACK = """
from pathlib import Path
from engine.case import Case
from engine import hunts, rules
from engine.kql import pervalue
con = Case(Path(CASE)).connect()
pack = [r for r in rules.load_rules() if r.source_path.parent.name == "exchange-pack"
        and (not SLUGS or r.slug in SLUGS)]
result = {}
for mode, policy in (("per value", pervalue.sampled(con)), ("per row", pervalue.never)):
    for rule in pack:
        best = None
        for _ in range(REPEATS):
            run = hunts.run_rule(con, rule, per_value=policy)
            best = run.elapsed_s if best is None else min(best, run.elapsed_s)
        result.setdefault(rule.slug, {})[mode] = (best, len(run.findings),
                                                  sorted(f.finding_id for f in run.findings))
"""


def pack_times(run_python, case: str, repeats: int, slugs: list[str]) -> dict:
    code = (PACK.replace("CASE", repr(case)).replace("REPEATS", str(repeats))
            .replace("SLUGS", repr(slugs)))
    return run_python(code).value


def lines(times: dict) -> list[tuple[str, str]]:
    out = []
    total = {"per value": 0.0, "per row": 0.0}
    for slug, modes in times.items():
        (fast, n, ids), (slow, _, slow_ids) = modes["per value"], modes["per row"]
        total["per value"] += fast
        total["per row"] += slow
        same = "" if ids == slow_ids else " FINDINGS DIFFER"
        out.append((f"pack: {slug}", f"{fast:.2f} s (per row {slow:.2f} s, {n} findings){same}"))
    out.append(("pack: all rules", f"{total['per value']:.2f} s (per row {total['per row']:.2f} s)"))
    return out


INGEST = """
from pathlib import Path
from engine.case import Case, IngestOptions
Case(Path(CASE)).ingest([Path(p) for p in FILES], IngestOptions())
"""


def measure(ctx) -> list[tuple[str, str]]:
    files = [str(p) for p in ctx.files] or sorted(
        str(p) for p in ctx.log_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".gz"))
    case = ctx.scratch("pack-case")
    ctx.run_python(INGEST.replace("FILES", repr(files)).replace("CASE", repr(str(case))))
    return lines(pack_times(ctx.run_python, str(case), ctx.repeats or 2, []))


def main() -> None:
    import argparse
    import os
    import subprocess
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rule", action="append", default=[], dest="slugs")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parent.parent

    class Child:
        value = None

    def run_python(code: str):
        wrapped = code + "\nimport json, sys\nsys.stdout.write(json.dumps(result))\n"
        done = subprocess.run([sys.executable, "-c", wrapped], cwd=repo, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(repo)}, check=True)
        child = Child()
        child.value = __import__("json").loads(done.stdout)
        return child

    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}")
    for name, value in lines(pack_times(run_python, str(args.case.resolve()), args.repeats,
                                        args.slugs)):
        print(f"{name:36s} {value}")
    with open("/proc/loadavg") as f:
        print(f"load average at end: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
