"""How the hardening suite runs exhunt and what it demands of every run.

Two ways in: ``ingest`` runs the engine in-process in a worker thread with a deadline (a hang
fails the test instead of stalling CI), and ``scan_cli`` runs ``exhunt scan --format json`` in
a subprocess with a timeout, the way an analyst does.

``check_report`` states the property every run must have, whatever the input: each evidence
file appears in the report exactly once and is either loaded, partly loaded with its bad lines
counted, or skipped with a reason; and the table totals are the sum of the rows reported.
"""
from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KINDS = {"iis-w3c", "w3ciislog-export", "securityalert-export", "skipped"}
TABLE_OF_KIND = {
    "iis-w3c": "W3CIISLog",
    "w3ciislog-export": "W3CIISLog",
    "securityalert-export": "SecurityAlert",
}
# In-process ingest of a small corpus takes well under a second; a minute means a hang.
DEFAULT_DEADLINE_S = 120.0


def _tally_inputs(roots: Iterable[Path]) -> None:
    """For the README's figures: with EXHUNT_HARDENING_TALLY=FILE set, every ingest appends
    how many evidence files it was handed (one line per ingest; xdist workers share it)."""
    target = os.environ.get("EXHUNT_HARDENING_TALLY")
    if not target:
        return
    count = 0
    for root in roots:
        root = Path(root)
        if root.is_file() or root.is_symlink():
            count += 1
        else:
            count += sum(len(files) for _dir, _sub, files in os.walk(root))
    with open(target, "a") as handle:
        handle.write(f"{count}\n")


class Hang(AssertionError):
    """exhunt did not finish within the deadline."""


def run_guarded(fn: Callable[..., Any], *args: Any, deadline: float = DEFAULT_DEADLINE_S, **kw: Any) -> Any:
    """Run ``fn`` in a daemon thread; re-raise what it raised; fail with stacks on a hang."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args, **kw)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="hardening-guarded")
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        raise Hang(f"{getattr(fn, '__name__', fn)} still running after {deadline:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def ingest(case_dir: Path, evidence: Sequence[Path], options: Any = None, *,
           deadline: float = DEFAULT_DEADLINE_S) -> tuple[Any, dict]:
    """Open (or create) the case at ``case_dir``, ingest ``evidence``; return (case, report JSON)."""
    from engine.case import IngestOptions, open_case

    def work():
        case = open_case(case_dir, list(evidence))
        report = case.ingest(list(evidence), options or IngestOptions())
        return case, report.to_json()

    _tally_inputs(evidence)
    case, report = run_guarded(work, deadline=deadline)
    # The report must be JSON-serialisable as promised (the CLI prints it).
    json.dumps(report)
    return case, report


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict:
        return json.loads(self.stdout)

    def assert_no_traceback(self) -> None:
        assert "Traceback (most recent call last)" not in self.stderr, self.stderr[-4000:]


def exhunt_command(*args: str | os.PathLike) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *map(str, args)]


def run_cli(*args: str | os.PathLike, timeout: float = 240.0, env: dict | None = None,
            cwd: Path | None = None, preexec_fn=None) -> CliResult:
    try:
        proc = subprocess.run(
            exhunt_command(*args),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            cwd=cwd or REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=preexec_fn,
        )
    except subprocess.TimeoutExpired as exc:
        raise Hang(f"exhunt {' '.join(map(str, args))} still running after {timeout:.0f} s") from exc
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def scan_cli(evidence: Iterable[Path], case_dir: Path, *extra: str, timeout: float = 240.0,
             env: dict | None = None, preexec_fn=None) -> CliResult:
    evidence = list(evidence)
    _tally_inputs(evidence)
    return run_cli("scan", *evidence, "--case", case_dir, "--format", "json", *extra,
                   timeout=timeout, env=env, preexec_fn=preexec_fn)


# --------------------------------------------------------------------------------------
# The property every ingest must have
# --------------------------------------------------------------------------------------
def evidence_files(roots: Iterable[Path], unknowable: Iterable[Path] = ()) -> list[Path]:
    """Regular files under ``roots`` as discovery must see them (symlinks are not followed),
    leaving out what is under an ``unknowable`` folder (one exhunt is not allowed to list)."""
    hidden = [_key(p) + os.sep for p in unknowable]
    found: list[Path] = []
    for root in roots:
        if root.is_symlink():
            continue
        if root.is_file():
            found.append(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for name in filenames:
                path = Path(dirpath, name)
                if not path.is_symlink() and stat.S_ISREG(path.lstat().st_mode):
                    if not any(_key(path).startswith(h) for h in hidden):
                        found.append(path)
    return found


def _key(path: str | Path) -> str:
    return os.path.normpath(os.path.abspath(path))


def entries_by_path(report: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for entry in report["files"]:
        key = _key(entry["path"])
        assert key not in out, f"file reported twice: {shown(entry['path'])}"
        out[key] = entry
    return out


def check_report(report: dict, roots: Iterable[Path], unknowable: Iterable[Path] = ()) -> dict[str, dict]:
    """Assert the ingest property; return the report's entries keyed by absolute path."""
    assert set(report) >= {"files", "tables"}, report.keys()
    entries = entries_by_path(report)
    for entry in report["files"]:
        where = shown(entry.get("path"))
        assert entry["kind"] in KINDS, f"{where}: unknown kind {entry['kind']!r}"
        assert isinstance(entry["rows"], int) and entry["rows"] >= 0, where
        assert isinstance(entry["bad_lines"], int) and entry["bad_lines"] >= 0, where
        if entry["kind"] == "skipped":
            assert isinstance(entry["reason"], str) and entry["reason"].strip(), (
                f"{where}: skipped without a reason"
            )
            assert entry["rows"] == 0, f"{where}: skipped but {entry['rows']} rows counted"
    for path in evidence_files(roots, unknowable):
        assert _key(path) in entries, f"{shown(path)} is missing from the report: silently ignored"
    totals = {"W3CIISLog": 0, "SecurityAlert": 0}
    for entry in report["files"]:
        table = TABLE_OF_KIND.get(entry["kind"])
        if table:
            totals[table] += entry["rows"]
    for table, total in totals.items():
        assert report["tables"][table] == total, (
            f"{table}: table holds {report['tables'][table]} rows, files report {total}"
        )
    return entries


def column_values(case: Any, table: str, column: str) -> list[str]:
    """Every value of ``table.column`` in the case, read through the engine's own connection."""
    from engine.tables import TABLES

    TABLES[table].column(column)  # only our identifiers are formatted below
    con = case.connect()
    try:
        return [r[0] for r in con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()]
    finally:
        con.close()


def missing_markers(case: Any, table: str, column: str, markers: Iterable[str]) -> list[str]:
    values = column_values(case, table, column)
    joined = "\n".join(v or "" for v in values)
    return [m for m in markers if m not in joined]


# --------------------------------------------------------------------------------------
# Evidence integrity
# --------------------------------------------------------------------------------------
def fingerprint(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (files, folders, links) with content hash, size, mtime, mode.

    Access time is left out on purpose: reading a file may update it, and that is not a
    change to the evidence.
    """
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mode, st.st_mtime_ns)
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[rel] = ("file", digest, st.st_size, st.st_mtime_ns, st.st_mode)
            else:
                out[rel] = ("other", st.st_mode, st.st_mtime_ns)
    st = root.lstat()
    out["."] = ("root", st.st_mode, st.st_mtime_ns)
    return out


def shown(text: str) -> str:
    """Text safe to put in an assertion message: xdist cannot send lone surrogates (from
    file names that are not UTF-8) between processes."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def brief(entry: dict) -> str:
    """One report entry as a short line for assertion messages."""
    return (f"{shown(Path(entry['path']).name)}: {entry['kind']} rows={entry['rows']} "
            f"bad={entry['bad_lines']} reason={entry['reason']!r}")


def briefs(entries) -> str:
    return "\n".join(brief(e) for e in entries)
