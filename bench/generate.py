"""Generate N MB of realistic raw IIS W3C logs for the benchmark (and for anyone who needs bulk).

Usage: ``python bench/generate.py --size-mb 1024 --out /tmp/logs``

The lines are the demo's ordinary Exchange traffic (``engine.demo_traffic``: Outlook over
MAPI/HTTP, ActiveSync, EWS, Autodiscover, OWA with its static resources, ECP, health checks,
Managed Availability probes, scanners), laid out like a real collection:
``EXCH0n/inetpub/logs/LogFiles/W3SVC1/u_exYYMMDD.log``, several servers and days, CRLF,
a ``#Software/#Version/#Date/#Fields`` block at the top of each file and again mid-file (a
worker restart), times increasing through the day.

Speed: rendering every request from scratch would make generation slower than the reader it
feeds. So a pool of a few tens of thousands of rendered request bodies (everything after the
``date time`` fields) is built once per server from seeded traffic, and each file is written
in chunks by picking bodies from the pool and prefixing the date and a time that advances
through the day. Same seed and size -> same bytes.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.demo_traffic import (  # noqa: E402
    DEFAULT_FIELDS, IIS10, DayTraffic, Server, TrafficMix, header_block, make_people, render_line,
)

FIRST_DAY = date(2021, 2, 1)
FILE_TARGET_MB = 256  # one server-day; real servers write 1-5 GB a day, this keeps files handy
POOL_DAYS = 6  # days of traffic whose request bodies make up each server's pool
MANIFEST = "generated.json"
# The time of day as IIS writes it, indexed by second.
_TIMES = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]


@dataclass
class GeneratedLogs:
    root: Path
    files: list[str]  # relative paths
    bytes: int
    rows: int
    seed: int
    size_mb_requested: float
    seconds: float

    @property
    def size_mb(self) -> float:
        return self.bytes / 1e6

    def paths(self) -> list[Path]:
        return [self.root / f for f in self.files]


def _layout(size_mb: float, servers: int) -> tuple[int, int]:
    """(servers, days): at least two days, files of at most FILE_TARGET_MB."""
    days = max(2, math.ceil(size_mb / (servers * FILE_TARGET_MB)))
    return servers, days


def _body_pool(server: Server, seed: int) -> list[str]:
    """Rendered request bodies (fields after date and time) of several days of traffic."""
    people = make_people(random.Random(seed), 60)
    bodies: list[str] = []
    for d in range(POOL_DAYS):
        rng = random.Random(seed * 1000 + d)
        for req in DayTraffic(rng, FIRST_DAY + timedelta(days=d), people, TrafficMix()).requests():
            line = render_line(req, server, DEFAULT_FIELDS)
            bodies.append(line.split(" ", 2)[2])
    return bodies


def generate(out: Path, size_mb: float, *, servers: int = 4, seed: int = 1,
             progress: bool = False, workers: int | None = None) -> GeneratedLogs:
    """Write about ``size_mb`` MB (10^6 bytes) of logs under ``out`` and describe them.

    Files are written in parallel (one process per core); each file has its own seeded
    generator, so the bytes do not depend on the number of workers.
    """
    started = time.perf_counter()
    n_servers, n_days = _layout(size_mb, servers)
    per_file = int(size_mb * 1e6) // (n_servers * n_days)
    jobs = []
    for s in range(n_servers):
        folder = Path(f"EXCH{s + 1:02d}.contoso.com/inetpub/logs/LogFiles/W3SVC1")
        (out / folder).mkdir(parents=True, exist_ok=True)
        for d in range(n_days):
            day = FIRST_DAY + timedelta(days=d)
            jobs.append((str(out / folder / f"u_ex{day:%y%m%d}.log"), s, d, per_file, seed))
    files: list[str] = []
    total_bytes = total_rows = 0
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for path, written, rows in pool.map(_write_job, jobs):
            files.append(Path(path).relative_to(out).as_posix())
            total_bytes += written
            total_rows += rows
            if progress:
                print(f"\r  generated {total_bytes / 1e6:,.0f} / {size_mb:,.0f} MB", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    result = GeneratedLogs(out, files, total_bytes, total_rows, seed, size_mb, time.perf_counter() - started)
    (out / MANIFEST).write_text(json.dumps({**asdict(result), "root": str(out)}, indent=1))
    return result


@functools.lru_cache(maxsize=None)
def _server_pool(server_index: int, seed: int) -> tuple[Server, list[str], float]:
    server = Server(f"EXCH{server_index + 1:02d}", f"10.1.1.{11 + server_index}")
    pool = _body_pool(server, seed * 100 + server_index)
    avg = sum(len(b) for b in pool) / len(pool) + 22  # + "YYYY-MM-DD HH:MM:SS " and CRLF
    return server, pool, avg


def _write_job(job: tuple[str, int, int, int, int]) -> tuple[str, int, int]:
    path, server_index, day_index, per_file, seed = job
    _server, pool, avg = _server_pool(server_index, seed)
    n = max(1, int(per_file / avg))
    rng = random.Random(seed * 7919 + server_index * 997 + day_index)
    written = _write_file(Path(path), FIRST_DAY + timedelta(days=day_index), n, pool, rng)
    return path, written, n


def _write_file(path: Path, day: date, n: int, pool: list[str], rng: random.Random) -> int:
    """n lines spread evenly over the day, written an hour at a time.

    Line i is logged at second i*86400//n; lines of one second share their prefix, so each
    second is one join rather than one format per line (that is most of the speed).
    """
    prefixes = [f"{day:%Y-%m-%d} {t} " for t in _TIMES]
    restart_sec = 43200 + rng.randrange(3 * 3600)  # a worker restart in the afternoon
    written = 0
    restarted = False
    with open(path, "wb") as fh:
        for hour in range(24):
            first, last = hour * 3600, (hour + 1) * 3600
            a = -(-first * n // 86400)
            bodies = rng.choices(pool, k=-(-last * n // 86400) - a)
            parts: list[str] = _header(day, 0) if hour == 0 else []
            if n < 4 * 86400:
                # Sparse: fewer than four lines a second, format line by line.
                for i, body in enumerate(bodies, start=a):
                    sec = i * 86400 // n
                    if sec >= restart_sec and not restarted:
                        parts += _header(day, sec)
                        restarted = True
                    parts.append(prefixes[sec] + body)
            else:
                for sec in range(first, last):
                    lo = -(-sec * n // 86400) - a
                    hi = -(-(sec + 1) * n // 86400) - a
                    if lo < hi:
                        if sec >= restart_sec and not restarted:
                            parts += _header(day, sec)
                            restarted = True
                        p = prefixes[sec]
                        parts.append(p + ("\r\n" + p).join(bodies[lo:hi]))
            if parts:
                data = ("\r\n".join(parts) + "\r\n").encode("utf-8")
                fh.write(data)
                written += len(data)
    return written


def _header(day: date, second: int) -> list[str]:
    at = datetime(day.year, day.month, day.day) + timedelta(seconds=second)
    return header_block(IIS10, at, DEFAULT_FIELDS)


def load_existing(out: Path, size_mb: float, seed: int) -> GeneratedLogs | None:
    """A previous generation in ``out`` with the same size and seed, if its files are intact."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if data.get("size_mb_requested") != size_mb or data.get("seed") != seed:
        return None
    result = GeneratedLogs(out, data["files"], data["bytes"], data["rows"], seed, size_mb, data["seconds"])
    if sum((out / f).stat().st_size for f in result.files if (out / f).is_file()) != result.bytes:
        return None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = generate(args.out, args.size_mb, servers=args.servers, seed=args.seed, progress=sys.stderr.isatty())
    print(f"{len(result.files)} files, {result.size_mb:,.1f} MB, {result.rows:,} rows in "
          f"{result.seconds:.1f} s ({result.size_mb / max(result.seconds, 1e-9):,.0f} MB/s) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
