"""The long fuzzing run, by hand: ``python -m tests.hardening.fuzz_long --minutes N``.

The CI suite samples; this run is exhaustive where it can be and random where it cannot:

1. every-byte cuts of small seeds: a raw W3C log (LF and CRLF), its gzip, and a CSV, JSON
   lines, JSON and Parquet export of each table;
2. then, until the time is up, batches of seeded damaged evidence: mutated W3C logs (plain
   and gzip) with planted good rows around the damage, mutated exports, 1 MB lines, 10,000
   fields, NUL runs, hostile Entities values; every few batches the same batch goes through
   ``exhunt scan --format json`` in a subprocess too.

Every batch is checked for the suite's property (harness.check_report) and for its planted
rows. It prints and writes (``--out``, summary.json) the figures the README quotes: inputs
tried, crashes, hangs, data lost; a failing batch's evidence is kept under ``--out`` with
the seed that made it. Exit status 1 when anything failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import corpus, mutate
from .harness import Hang, brief, check_report, ingest, missing_markers, scan_cli, shown


@dataclass
class Tally:
    inputs: int = 0  # evidence files handed to exhunt
    batches: int = 0
    cli_runs: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    data_lost: list[str] = field(default_factory=list)  # planted good rows missing
    broken_property: list[str] = field(default_factory=list)  # report invariants

    @property
    def failed(self) -> bool:
        return bool(self.crashes or self.hangs or self.data_lost or self.broken_property)

    def summary(self) -> dict:
        return {
            "inputs_tried": self.inputs,
            "batches": self.batches,
            "cli_runs": self.cli_runs,
            "crashes": len(self.crashes),
            "hangs": len(self.hangs),
            "data_lost": len(self.data_lost),
            "property_violations": len(self.broken_property),
            "details": {
                "crashes": self.crashes[:50],
                "hangs": self.hangs[:50],
                "data_lost": self.data_lost[:50],
                "property_violations": self.broken_property[:50],
            },
        }


@dataclass
class Batch:
    """One evidence folder and what must be found in the tables after ingesting it."""

    root: Path
    label: str
    case_name: str = "case"  # odd names too: a case folder "[1]" must not act as a pattern
    # (table, column, file) -> markers planted in that file
    markers: dict[tuple[str, str, Path], list[str]] = field(default_factory=dict)

    @property
    def evidence(self) -> Path:
        return self.root / "evidence"

    def expect(self, table: str, column: str, path: Path, markers: list[str]) -> None:
        self.markers.setdefault((table, column, path), []).extend(markers)


# --------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------
def exhaustive_cut_batches(work: Path) -> list[Batch]:
    batches = []
    seeds = {
        "w3c-lf": (corpus.w3c_seed(rows=3, fields=corpus.W3C_DEFAULT_FIELDS), "u_ex{:06d}.log"),
        "w3c-crlf": (corpus.w3c_seed(rows=3, crlf=True), "u_ex{:06d}.log"),
        "w3c-gzip": (corpus.gzip_bytes(corpus.w3c_seed(rows=4)), "u_ex{:06d}.log.gz"),
    }
    for table in ("W3CIISLog", "SecurityAlert"):
        seed = corpus.export_seed(table, f"cut{table[0]}", count=2)
        for fmt in ("csv", "jsonl", "json", "parquet"):
            seeds[f"{table}-{fmt}"] = (corpus.EXPORT_WRITERS[fmt](seed.records),
                                       "export{:06d}." + fmt)
    for label, (data, pattern) in seeds.items():
        batch = Batch(work / f"cut-{label}", f"every-byte cuts of {label}")
        batch.evidence.mkdir(parents=True)
        for cut in range(len(data) + 1):
            (batch.evidence / pattern.format(cut)).write_bytes(data[:cut])
        batches.append(batch)
    return batches


def random_batch(work: Path, seed: int, files: int) -> Batch:
    rng = random.Random(seed)
    batch = Batch(work / f"batch-{seed}", f"seed {seed}", "case[1]" if seed % 2 else "case")
    batch.evidence.mkdir(parents=True)
    w3c_base = corpus.w3c_seed(rows=5) + corpus.w3c_seed(rows=3, fields=corpus.W3C_DEFAULT_FIELDS)
    # Folder names an attacker or a careless copy can produce: glob and markup characters,
    # escapes, spaces.
    odd = ("", "[1]", "*", "?", " copy", "\x1b[31m", "[b]x[/b]".replace("/", "_"))
    for n in range(files):
        folder = batch.evidence / f"EXCH{n % 4:02d}{rng.choice(odd)}" / "W3SVC1"
        folder.mkdir(parents=True, exist_ok=True)
        kind = rng.randrange(10)
        tag = f"s{seed}n{n}"
        if kind <= 4:  # damaged raw log with planted rows around the damage
            garbage = mutate.mutate(w3c_base, rng, big=rng.random() < 0.05)
            data, markers = corpus.w3c_sandwich(tag, garbage)
            name = f"u_ex{n:05d}.log"
            if rng.random() < 0.25:
                data, name = corpus.gzip_bytes(data), name + ".gz"
            (folder / name).write_bytes(data)
            batch.expect("W3CIISLog", "csUriStem", folder / name, markers)
        elif kind <= 6:  # damaged export: no promise about its rows, only the property
            table = rng.choice(("W3CIISLog", "SecurityAlert"))
            fmt = rng.choice(sorted(corpus.EXPORT_WRITERS))
            records = corpus.export_seed(table, tag, count=rng.randint(1, 5)).records
            data = corpus.EXPORT_WRITERS[fmt](records)
            suffix = "csv" if fmt == "portal.csv" else fmt
            (folder / f"export{n:05d}.{suffix}").write_bytes(mutate.mutate(data, rng))
        elif kind == 7:  # hostile Entities, intact export: every alert must load
            entities = rng.choice([
                "[" * rng.randint(1, 20000), "{" * 3000, rng.randbytes(200).hex(),
                json.dumps([corpus.host_entity(i, f"h{i}", "c.com") for i in range(300)]),
                json.dumps({"Type": "host"}), "null", "", str(rng.random()),
            ])
            record = corpus.securityalert_record(n, alert_id=f"ent-{tag}")
            record["Entities"] = entities
            fmt = rng.choice(("csv", "jsonl", "json"))
            path = folder / f"alerts{n:05d}.{fmt}"
            path.write_bytes(corpus.EXPORT_WRITERS[fmt]([record]))
            batch.expect("SecurityAlert", "SystemAlertId", path, [f"ent-{tag}"])
        elif kind == 8:  # random bytes, or a damaged gzip stream, named like evidence
            if rng.random() < 0.5:
                data = mutate.mutate(corpus.gzip_bytes(w3c_base), rng)
                (folder / f"z{n:05d}.log.gz").write_bytes(data)
            else:
                name = rng.choice(("u_ex{}.log", "export{}.csv", "x{}.json", "y{}.parquet"))
                (folder / name.format(n)).write_bytes(rng.randbytes(rng.randint(0, 5000)))
        else:  # an untouched file: must load whole
            data, markers = corpus.w3c_sandwich(tag, b"")
            path = folder / f"u_ex{n:05d}.log"
            path.write_bytes(data)
            batch.expect("W3CIISLog", "csUriStem", path, markers)
    return batch


# --------------------------------------------------------------------------------------
# Running and checking
# --------------------------------------------------------------------------------------
def count_inputs(batch: Batch) -> int:
    return sum(len(files) for _dir, _sub, files in os.walk(batch.evidence))


def check_batch(batch: Batch, tally: Tally, out: Path, *, through_cli: bool) -> None:
    tally.batches += 1
    tally.inputs += count_inputs(batch)
    failed = False
    try:
        case, report = ingest(batch.root / batch.case_name, [batch.evidence], deadline=600)
    except Hang as exc:
        tally.hangs.append(f"{batch.label}: {exc}")
        failed = True
    except Exception:  # noqa: BLE001 - a crash is what we count
        tally.crashes.append(f"{batch.label}: {traceback.format_exc()[-1500:]}")
        failed = True
    else:
        entries = {}
        try:
            entries = check_report(report, [batch.evidence])
        except AssertionError as exc:
            tally.broken_property.append(f"{batch.label}: {shown(exc)}")
            failed = True
        for (table, column, path), markers in batch.markers.items():
            lost = missing_markers(case, table, column, markers)
            if lost:
                entry = entries.get(os.path.abspath(path))
                tally.data_lost.append(
                    f"{batch.label}: {len(lost)} of {len(markers)} planted {table} rows of "
                    f"{shown(path.relative_to(batch.evidence))} missing; report: "
                    f"{brief(entry) if entry else '?'}")
                failed = True
    if through_cli:
        tally.cli_runs += 1
        try:
            result = scan_cli([batch.evidence], batch.root / "cli-case", timeout=900)
        except Hang as exc:
            tally.hangs.append(f"{batch.label} (cli): {exc}")
            failed = True
        else:
            if result.returncode != 0 or "Traceback (most recent call last)" in result.stderr:
                tally.crashes.append(f"{batch.label} (cli): exit {result.returncode}: "
                                     f"{result.stderr[-2000:]}")
                failed = True
            else:
                try:
                    check_report(result.report, [batch.evidence])
                except (AssertionError, ValueError) as exc:
                    tally.broken_property.append(f"{batch.label} (cli): {shown(exc)}")
                    failed = True
    if failed:
        keep = out / "failures" / batch.root.name
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(batch.evidence, keep / "evidence", symlinks=True)
        (keep / "label.txt").write_text(batch.label + "\n")
    shutil.rmtree(batch.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hardening.fuzz_long",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="first batch seed (default 1)")
    parser.add_argument("--files", type=int, default=60, help="files per random batch")
    parser.add_argument("--cli-every", type=int, default=5,
                        help="also run every Nth batch through `exhunt scan` (default 5)")
    parser.add_argument("--skip-cuts", action="store_true", help="skip the every-byte cuts")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for summary.json and failing inputs (default: a temp dir)")
    args = parser.parse_args(argv)

    out = args.out or Path(tempfile.mkdtemp(prefix="exhunt-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="exhunt-fuzz-work-"))
    # Never touch the real user's data directory (exhunt keeps default cases there).
    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(work / var.lower())
    deadline = time.monotonic() + args.minutes * 60
    tally = Tally()
    started = time.monotonic()
    try:
        if not args.skip_cuts:
            for batch in exhaustive_cut_batches(work):
                if time.monotonic() > deadline:
                    print(f"time is up: {batch.label} not run", flush=True)
                    continue
                check_batch(batch, tally, out, through_cli=False)
                print(f"[{time.monotonic() - started:7.0f}s] {batch.label}: "
                      f"{tally.inputs} inputs so far", flush=True)
        seed = args.seed
        while time.monotonic() < deadline:
            batch = random_batch(work, seed, args.files)
            through_cli = args.cli_every > 0 and (seed - args.seed) % args.cli_every == 0
            check_batch(batch, tally, out, through_cli=through_cli)
            print(f"[{time.monotonic() - started:7.0f}s] seed {seed}: {tally.inputs} inputs, "
                  f"{len(tally.crashes)} crashes, {len(tally.hangs)} hangs, "
                  f"{len(tally.data_lost)} with data lost", flush=True)
            seed += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = tally.summary() | {"minutes": round((time.monotonic() - started) / 60, 1),
                                 "first_seed": args.seed}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "details"}, indent=1))
    for kind, items in summary["details"].items():
        for item in items[:5]:
            print(f"--- {kind}: {item}", file=sys.stderr)
    print(f"summary and failing inputs: {out}")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
