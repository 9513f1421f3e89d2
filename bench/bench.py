"""exhunt's benchmark: one entry point for every speed and memory figure the README quotes.

    python bench/bench.py --size-mb 1024 [--out DIR] [--clients demo|distinct] [--only NAME]...
                          [--repeats N] [--json FILE] [--markdown]

1. Generates ``--size-mb`` MB of realistic raw IIS logs (``bench/generate.py``) under
   ``DIR/logs`` (reused when a previous run generated the same size and seed there).
2. Runs every ``bench/measure_*.py`` module: each exposes ``measure(ctx) -> list[tuple[str,
   str]]`` (metric, value with its unit). ``measure_baseline`` runs first, so the others can
   compare against ``ctx.baseline_mb_s``; the rest run in name order. A module that fails
   is reported in the table and the others still run.
3. Prints one table of metric/value, with the machine it ran on.

``ctx.run_python(code)`` runs a snippet in a fresh interpreter and returns its wall time and
peak RSS, so each measure's memory is its own. The child reads its peak from ``VmHWM`` in
/proc/self/status rather than ``resource.getrusage``: on Linux ``ru_maxrss`` survives
fork+exec, so a child of a large process reports the parent's peak (measured: a bare child of
a 300 MiB parent reported 311 MiB by getrusage, 11 MiB by VmHWM). Elsewhere it falls back to
getrusage.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

import generate  # noqa: E402  (bench/generate.py)

_RESULT_MARK = "__EXHUNT_BENCH_RESULT__ "


@dataclass
class ChildRun:
    """What ``BenchContext.run_python`` measured in the child interpreter."""
    seconds: float  # wall time of the snippet itself (interpreter start-up excluded)
    peak_rss_mib: float  # the child's own peak RSS (VmHWM; getrusage where there is no /proc)
    value: object  # whatever the snippet assigned to the name ``result`` (JSON-serialisable)
    stdout: str


@dataclass
class BenchContext:
    log_dir: Path  # the generated raw IIS logs (read-only for measures)
    work_dir: Path  # scratch: create cases and temp files here
    size_mb: float  # MB (10^6 bytes) of logs actually generated
    rows: int  # data lines in the logs
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    python: str = sys.executable
    repo: Path = REPO
    baseline_mb_s: float | None = None  # bare DuckDB read_csv of the same files (measure_baseline)
    repeats: int | None = None  # runs per timing (median); None: each measure's own default
    clients: str = "demo"  # generate.py --clients: "distinct" is one random client per request
    results: dict[str, str] = field(default_factory=dict)  # every metric so far, by name

    def scratch(self, name: str) -> Path:
        """A fresh, empty folder under work_dir for one measure."""
        path = self.work_dir / name
        if path.exists():
            import shutil
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def run_python(self, code: str, *, env: dict[str, str] | None = None,
                   timeout: float | None = None) -> ChildRun:
        """Run ``code`` in a new interpreter (cwd = repo); time it and take its peak RSS.

        The snippet may set ``result`` to any JSON-serialisable value to hand it back.
        """
        wrapper = textwrap.dedent("""
            import json, resource, sys, time
            sys.path.insert(0, {repo!r})
            result = None
            _t0 = time.perf_counter()
            exec(compile({code!r}, "<bench snippet>", "exec"))
            _elapsed = time.perf_counter() - _t0
            # Linux carries the parent's high-water mark across fork+exec into ru_maxrss, so a
            # child of a big process would report the parent's size; VmHWM is this process's own.
            _rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            try:
                with open("/proc/self/status") as _fh:
                    _rss = next(int(l.split()[1]) for l in _fh if l.startswith("VmHWM:")) / 1024
            except (OSError, StopIteration, ValueError):
                pass
            print({mark!r} + json.dumps({{"seconds": _elapsed, "rss": _rss, "value": result}},
                                        default=str), flush=True)
        """).format(repo=str(self.repo), code=code, mark=_RESULT_MARK)
        proc = subprocess.run([self.python, "-c", wrapper], cwd=self.repo, capture_output=True,
                              text=True, env={**os.environ, **(env or {})}, timeout=timeout)
        # DuckDB's progress bar can write to stdout without a newline, so the result line may
        # not start at the beginning of a line: look for the mark anywhere in it.
        marker = [line.split(_RESULT_MARK, 1)[1] for line in proc.stdout.splitlines()
                  if _RESULT_MARK in line]
        if proc.returncode != 0 or not marker:
            raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr.strip()[-800:]}"
                               f" | stdout tail: {proc.stdout.strip()[-300:]!r}")
        data = json.loads(marker[-1])
        return ChildRun(data["seconds"], data["rss"], data["value"], proc.stdout)

    def mb_s(self, seconds: float) -> float:
        return self.size_mb / seconds if seconds > 0 else float("inf")


def machine() -> list[tuple[str, str]]:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        import duckdb
        duck = duckdb.__version__
    except ImportError:
        duck = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    return [("machine: cores", str(os.cpu_count())), ("machine: CPU", cpu), ("machine: RAM", mem),
            ("machine: OS", f"{platform.system()} {platform.release()}"),
            ("machine: Python", platform.python_version()), ("machine: duckdb", duck),
            ("machine: load average (1/5/15 min) at start", load)]


def discover_measures(only: list[str] | None = None) -> list[tuple[str, ModuleType | Exception]]:
    """bench/measure_*.py, baseline first, then by name; ``only`` filters by topic name.
    A module that fails to import comes back as its exception."""
    paths = sorted(BENCH_DIR.glob("measure_*.py"), key=lambda p: (p.stem != "measure_baseline", p.stem))
    out = []
    for path in paths:
        topic = path.stem[len("measure_"):]
        if only and topic not in only and path.stem not in only:
            continue
        spec = importlib.util.spec_from_file_location(f"exhunt_bench_{topic}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a measure that cannot even be imported is reported, not fatal
            out.append((topic, exc))
            continue
        out.append((topic, module))
    return out


def print_table(rows: list[tuple[str, str]], out=sys.stdout, *, markdown: bool = False) -> None:
    if markdown:  # for pasting into the README
        print("| metric | value |\n|---|---|", file=out)
        for metric, value in rows:
            cell = " ".join(value.split()).replace("|", "/")
            print(f"| {metric} | {cell} |", file=out)
        return
    width = max(len(m) for m, _ in rows)
    print(f"{'metric'.ljust(width)}  value", file=out)
    print(f"{'-' * width}  {'-' * 20}", file=out)
    for metric, value in rows:
        print(f"{metric.ljust(width)}  {value}", file=out)


def main(argv: list[str] | None = None) -> int:
    # The commands are measured as a user runs an installed exhunt, whose modules pip
    # compiled to bytecode at install: not by an interpreter told to compile every module
    # again on each start (PYTHONDONTWRITEBYTECODE, set on some build machines: +0.08 s
    # per command).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    parser = argparse.ArgumentParser(description="Generate N MB of IIS logs and run every bench/measure_*.py.")
    parser.add_argument("--size-mb", type=float, required=True, help="MB (10^6 bytes) of raw logs to generate")
    parser.add_argument("--out", type=Path, help="folder for logs and scratch (default: a temporary folder, "
                                                  "removed afterwards)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only measure_NAME.py (repeatable); the baseline always runs")
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", choices=generate.CLIENTS, default="demo",
                        help="distinct: a random public client IP per request and half the "
                             "queries '-' (bench/generate.py); default: the demo's clients")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="runs per timing, median reported (default: 3 up to 2 GB, then 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="exhunt-bench-")
        out = Path(tmp.name)
    else:
        out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_dir, work_dir = out / "logs", out / "work"
    work_dir.mkdir(parents=True, exist_ok=True)

    rows: list[tuple[str, str]] = machine()
    gen = generate.load_existing(log_dir, args.size_mb, args.seed, args.clients)
    if gen is None:
        print(f"generating {args.size_mb:,.0f} MB of IIS logs under {log_dir} ...", file=sys.stderr)
        gen = generate.generate(log_dir, args.size_mb, servers=args.servers, seed=args.seed,
                                progress=sys.stderr.isatty(), clients=args.clients)
        rows.append(("generate: MB/s", f"{gen.size_mb / max(gen.seconds, 1e-9):,.0f} MB/s"))
    else:
        print(f"reusing the logs generated under {log_dir}", file=sys.stderr)
    rows += [("logs: size", f"{gen.size_mb:,.1f} MB in {len(gen.files)} files"),
             ("logs: rows", f"{gen.rows:,}"), ("logs: clients", args.clients)]
    ctx = BenchContext(log_dir=log_dir, work_dir=work_dir, size_mb=gen.size_mb, rows=gen.rows,
                       files=gen.paths(), bytes=gen.bytes, repeats=args.repeats,
                       clients=args.clients)
    only = None if not args.only else ["baseline", *args.only]
    for topic, module in discover_measures(only):
        print(f"measuring {topic} ...", file=sys.stderr)
        started = time.perf_counter()
        try:
            if isinstance(module, Exception):
                raise module
            measured = list(module.measure(ctx))
        except Exception as exc:  # one broken measure must not hide the others' figures
            traceback.print_exc(file=sys.stderr)
            message = " ".join(str(exc).split())  # one line, whatever the exception holds
            measured = [(f"{topic}: error", f"{type(exc).__name__}: {message}"[-300:])]
        for metric, value in measured:
            ctx.results[metric] = value
        rows += measured
        print(f"  {topic} took {time.perf_counter() - started:.1f} s", file=sys.stderr)

    print_table(rows, markdown=args.markdown)
    if args.json:
        args.json.write_text(json.dumps(dict(rows), indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
