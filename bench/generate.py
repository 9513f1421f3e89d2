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

``--clients distinct`` writes the stress variant of issue 12: every request comes from its
own random public IPv4 client (so each distinct-value filter of a hunt runs once per
request) and half the requests have no query string (``-``); about one request in 50,000
fetches a file of its own under /owa/ (what hunt B looks for), so the hunt has rows.
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
CLIENTS = ("demo", "distinct")  # where client addresses come from (see _distinct_clients)
# First octets of the random public clients: 1-223 without 10/8 and 127/8 and without the
# first octets of the shared, link-local and private /12 and /16 ranges and TEST-NETs, so
# that no generated client is private, loopback or special whatever the other octets.
_PUBLIC_FIRST = [a for a in range(1, 224) if a not in (10, 100, 127, 169, 172, 192, 198, 203)]

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
    clients: str = "demo"

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
             progress: bool = False, workers: int | None = None,
             clients: str = "demo") -> GeneratedLogs:
    """Write about ``size_mb`` MB (10^6 bytes) of logs under ``out`` and describe them.
    ``clients="distinct"``: a random public client per request, half the queries ``-``.

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
            jobs.append((str(out / folder / f"u_ex{day:%y%m%d}.log"), s, d, per_file, seed,
                         clients))
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
    result = GeneratedLogs(out, files, total_bytes, total_rows, seed, size_mb,
                           time.perf_counter() - started, clients)
    (out / MANIFEST).write_text(json.dumps({**asdict(result), "root": str(out)}, indent=1))
    return result


@functools.lru_cache(maxsize=None)
def _server_pool(server_index: int, seed: int) -> tuple[Server, list[str], float]:
    server = Server(f"EXCH{server_index + 1:02d}", f"10.1.1.{11 + server_index}")
    pool = _body_pool(server, seed * 100 + server_index)
    avg = sum(len(b) for b in pool) / len(pool) + 22  # + "YYYY-MM-DD HH:MM:SS " and CRLF
    return server, pool, avg


def _write_job(job: tuple[str, int, int, int, int, str]) -> tuple[str, int, int]:
    path, server_index, day_index, per_file, seed, clients = job
    _server, pool, avg = _server_pool(server_index, seed)
    rng = random.Random(seed * 7919 + server_index * 997 + day_index)
    draw = None
    if clients == "distinct":
        pieces = [_split_body(b) for b in pool]
        # A dotted quad is about as long as the demo's client addresses, so the same line
        # count still gives about the requested size.
        avg = sum(len(" ".join(p)) for p in pieces) / len(pieces) + 22 + 4
        draw = functools.partial(_distinct_clients, pieces)
    n = max(1, int(per_file / avg))
    written = _write_file(Path(path), FIRST_DAY + timedelta(days=day_index), n, pool, rng, draw)
    return path, written, n


def _split_body(body: str) -> tuple[str, str, str, str]:
    """A body (DEFAULT_FIELDS after date and time) as (s-ip method stem, its query,
    port user-name, user-agent ...), leaving out the client address."""
    f = body.split(" ")
    return " ".join(f[:3]), f[3], " ".join(f[4:6]), " ".join(f[7:])


def _distinct_clients(pieces: list[tuple[str, str, str, str]], rng: random.Random,
                      k: int) -> list[str]:
    """k bodies, each from a random public IPv4 client, every other one (at random) with
    no query string: the worst case for a hunt that filters each distinct client. A few
    fetch a one-off file under /owa/, as a mailbox export staged there would be."""
    out = []
    for head, query, mid, tail in rng.choices(pieces, k=k):
        bits = rng.getrandbits(32)
        ip = (f"{_PUBLIC_FIRST[(bits >> 24) % len(_PUBLIC_FIRST)]}."
              f"{(bits >> 16) & 255}.{(bits >> 8) & 255}.{bits & 255}")
        coin = rng.random()
        if coin < 1 / 50_000:
            head = (f"{head.split(' ', 1)[0]} GET "
                    f"/owa/auth/15.2.986/themes/resources/{rng.getrandbits(48):012x}.png")
            query = "-"
        elif coin < 0.5:
            query = "-"
        elif query == "-":
            query = "v=1"
        out.append(f"{head} {query} {mid} {ip} {tail}")
    return out


def _write_file(path: Path, day: date, n: int, pool: list[str], rng: random.Random,
                draw=None) -> int:
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
            k = -(-last * n // 86400) - a
            bodies = rng.choices(pool, k=k) if draw is None else draw(rng, k)
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


def load_existing(out: Path, size_mb: float, seed: int,
                  clients: str = "demo") -> GeneratedLogs | None:
    """A previous generation in ``out`` with the same size, seed and clients, if its files
    are intact."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if (data.get("size_mb_requested") != size_mb or data.get("seed") != seed
            or data.get("clients", "demo") != clients):
        return None
    result = GeneratedLogs(out, data["files"], data["bytes"], data["rows"], seed, size_mb,
                           data["seconds"], clients)
    if sum((out / f).stat().st_size for f in result.files if (out / f).is_file()) != result.bytes:
        return None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", choices=CLIENTS, default="demo",
                        help="distinct: a random public client IP per request and half the "
                             "queries '-' (the hunts' worst case); demo: the demo's clients")
    args = parser.parse_args(argv)
    result = generate(args.out, args.size_mb, servers=args.servers, seed=args.seed,
                      progress=sys.stderr.isatty(), clients=args.clients)
    print(f"{len(result.files)} files, {result.size_mb:,.1f} MB, {result.rows:,} rows in "
          f"{result.seconds:.1f} s ({result.size_mb / max(result.seconds, 1e-9):,.0f} MB/s) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
