"""Faults around a case: a full or read-only disk, a scan killed with SIGKILL, two scans of one
case at once, and evidence that grows while it is read. Each ends with a clear message or a
correct case, never a half-written case that looks complete."""
from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from . import corpus
from .harness import REPO, check_report, exhunt_command, ingest, run_guarded, scan_cli

KILL_SEED = 9
BULK_ROWS = 4_000
BULK_FILES = 4


def _bulk_evidence(root: Path, files: int = BULK_FILES, rows: int = BULK_ROWS) -> int:
    for n in range(files):
        folder = root / f"EXCH0{n % 2 + 1}" / "W3SVC1"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"u_ex2103{n:02d}.log").write_bytes(corpus.bulk_w3c(f"b{n}", rows, seed=n))
    return files * rows


def _table_counts(case_dir: Path) -> tuple[int, int]:
    """(rows, distinct rows) of W3CIISLog as any reader of the case sees it."""
    from engine.case import open_case

    def work():
        case = open_case(case_dir, [])
        con = case.connect()
        try:
            return con.execute(
                'SELECT count(*), count(DISTINCT csUriStem) FROM "W3CIISLog"'
            ).fetchone()
        finally:
            con.close()

    return tuple(run_guarded(work, deadline=60))


def _last_report(case_dir: Path) -> dict | None:
    from engine.case import open_case

    report = run_guarded(lambda: open_case(case_dir, []).last_report(), deadline=60)
    return None if report is None else report.to_json()


def _assert_clear_failure(result) -> None:
    result.assert_no_traceback()
    assert result.returncode != 0, "a case that cannot be written must not report success"
    assert result.stderr.strip(), "the failure must be explained on stderr"


def _assert_not_passed_off_as_complete(case_dir: Path, expected_rows: int) -> None:
    """Whatever a failed run left, a later reader must not take it for the full case."""
    report = None
    with contextlib.suppress(Exception):
        report = _last_report(case_dir)
    if report is None:
        return
    rows, _distinct = _table_counts(case_dir)
    assert rows == report["tables"]["W3CIISLog"], (
        f"the case's report claims {report['tables']['W3CIISLog']} rows, tables hold {rows}"
    )
    if rows != expected_rows:
        assert any(f["reason"] for f in report["files"]), "a partial case must say so"


# ---------------------------------------------------------------------------------------
# Full and read-only disks
# ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _tmpfs(path: Path, size: str, *extra: str):
    path.mkdir(parents=True, exist_ok=True)
    options = ",".join([f"size={size}", *extra])
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_case_on_a_full_disk_fails_clearly_and_the_next_run_repairs_it(tmp_path, evidence_dir):
    expected = _bulk_evidence(evidence_dir)  # its tables take about 900 KB in the case
    with _tmpfs(tmp_path / "small-disk", "256k") as disk:
        case_dir = disk / "case"
        result = scan_cli([evidence_dir], case_dir)
        _assert_clear_failure(result)
        _assert_not_passed_off_as_complete(case_dir, expected)
        # Space freed (the disk grows): the next run loads everything, once.
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        again = scan_cli([evidence_dir], case_dir)
        again.assert_no_traceback()
        assert again.returncode == 0, again.stderr
        check_report(again.report, [evidence_dir])
        assert again.report["tables"]["W3CIISLog"] == expected
        assert _table_counts(case_dir) == (expected, expected)


def _file_size_limit(limit: int):
    def preexec():
        # Writes past the limit fail with EFBIG instead of killing the process with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_a_failed_write_in_the_case_fails_clearly_and_the_next_run_repairs_it(tmp_path, evidence_dir):
    """The same fault without root: every file the scan writes is capped at 64 KiB."""
    expected = _bulk_evidence(evidence_dir)
    case_dir = tmp_path / "case"
    result = scan_cli([evidence_dir], case_dir, preexec_fn=_file_size_limit(64 * 1024))
    _assert_clear_failure(result)
    _assert_not_passed_off_as_complete(case_dir, expected)
    again = scan_cli([evidence_dir], case_dir)
    again.assert_no_traceback()
    assert again.returncode == 0, again.stderr
    assert again.report["tables"]["W3CIISLog"] == expected
    assert _table_counts(case_dir) == (expected, expected)


ENGINE_INGEST = """
import json, sys
from pathlib import Path
from engine.case import open_case
case_dir, evidence = Path(sys.argv[1]), Path(sys.argv[2])
try:
    open_case(case_dir, [evidence]).ingest([evidence])
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


def test_the_engine_stops_with_a_clear_error_when_the_case_cannot_be_written(tmp_path, evidence_dir):
    """The engine's side of a full disk (the console and every command sit on it): the
    ingest raises an error that names the case, records no evidence file as skipped, and
    the next ingest with room loads everything once."""
    expected = _bulk_evidence(evidence_dir)
    case_dir = tmp_path / "case"
    done = subprocess.run(
        [sys.executable, "-c", ENGINE_INGEST, str(case_dir), str(evidence_dir)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        preexec_fn=_file_size_limit(64 * 1024),
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["error"], "writing the case failed, yet the ingest reported success"
    assert str(case_dir) in outcome["message"], outcome
    _assert_not_passed_off_as_complete(case_dir, expected)
    _case, report = ingest(case_dir, [evidence_dir])
    assert report["tables"]["W3CIISLog"] == expected, report["tables"]
    assert _table_counts(case_dir) == (expected, expected)


def test_a_new_case_on_a_read_only_disk_fails_clearly(tmp_path, evidence_dir):
    (evidence_dir / "u_ex210302.log").write_bytes(corpus.w3c_seed(rows=3))
    with _tmpfs(tmp_path / "ro-disk", "4m", "ro") as disk:
        result = scan_cli([evidence_dir], disk / "case")
        _assert_clear_failure(result)
        assert "case" in result.stderr.lower() or str(disk) in result.stderr


def test_a_complete_case_made_read_only_keeps_its_tables_when_new_evidence_cannot_be_added(
    tmp_path, evidence_dir
):
    (evidence_dir / "u_ex210302.log").write_bytes(corpus.w3c_seed(rows=3))
    with _tmpfs(tmp_path / "disk", "64m") as disk:
        case_dir = disk / "case"
        first = scan_cli([evidence_dir], case_dir)
        assert first.returncode == 0, first.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        (evidence_dir / "u_ex210303.log").write_bytes(corpus.w3c_seed(rows=2))
        result = scan_cli([evidence_dir], case_dir)
        result.assert_no_traceback()
        if result.returncode == 0:
            # Accepted only if it really has everything (it cannot have written it).
            assert result.report["tables"]["W3CIISLog"] == 5
        else:
            assert result.stderr.strip()
        assert _table_counts(case_dir)[0] == 3


# ---------------------------------------------------------------------------------------
# SIGKILL during ingest
# ---------------------------------------------------------------------------------------
def _timed_scan(evidence: Path, case_dir: Path) -> float:
    start = time.monotonic()
    result = scan_cli([evidence], case_dir)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - start


def _kill_scan_after(evidence: Path, case_dir: Path, delay: float) -> None:
    proc = subprocess.Popen(
        exhunt_command("scan", evidence, "--case", case_dir, "--format", "json"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_a_scan_killed_at_random_moments_is_repaired_by_the_next_run(tmp_path, evidence_dir):
    expected = _bulk_evidence(evidence_dir)
    full = _timed_scan(evidence_dir, tmp_path / "reference-case")
    rng = random.Random(KILL_SEED)
    for attempt in range(3):
        case_dir = tmp_path / f"case{attempt}"
        # Kill anywhere from start-up to just past the end of a normal run.
        _kill_scan_after(evidence_dir, case_dir, rng.uniform(0.0, full * 1.1))
        again = scan_cli([evidence_dir], case_dir)
        again.assert_no_traceback()
        assert again.returncode == 0, (attempt, again.stderr)
        check_report(again.report, [evidence_dir])
        assert again.report["tables"]["W3CIISLog"] == expected, (attempt, again.report["tables"])
        assert _table_counts(case_dir) == (expected, expected), attempt


def test_a_case_killed_again_and_again_still_ends_complete(tmp_path, evidence_dir):
    expected = _bulk_evidence(evidence_dir)
    full = _timed_scan(evidence_dir, tmp_path / "reference-case")
    rng = random.Random(KILL_SEED + 1)
    case_dir = tmp_path / "case"
    for _ in range(4):
        _kill_scan_after(evidence_dir, case_dir, rng.uniform(0.05, full))
        # New evidence between kills: a changed evidence set must not confuse the repair.
        extra = evidence_dir / "EXCH03" / "W3SVC1" / f"u_ex_{rng.randrange(10**6)}.log"
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_bytes(corpus.bulk_w3c(extra.stem, 50, seed=1))
        expected += 50
    again = scan_cli([evidence_dir], case_dir)
    assert again.returncode == 0, again.stderr
    assert again.report["tables"]["W3CIISLog"] == expected
    assert _table_counts(case_dir) == (expected, expected)


# ---------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------
def test_two_scans_of_the_same_case_at_once_leave_one_correct_case(tmp_path, evidence_dir):
    expected = _bulk_evidence(evidence_dir)
    case_dir = tmp_path / "case"
    procs = [
        subprocess.Popen(
            exhunt_command("scan", evidence_dir, "--case", case_dir, "--format", "json"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    outcomes = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outcomes):
        assert "Traceback (most recent call last)" not in err, err[-3000:]
        # Waiting for the other scan, or refusing with a message, are both fine; a crash is not.
        assert proc.returncode == 0 or err.strip(), err
    assert any(p.returncode == 0 for p in procs), [o[1] for o in outcomes]
    again = scan_cli([evidence_dir], case_dir)
    assert again.returncode == 0, again.stderr
    assert again.report["tables"]["W3CIISLog"] == expected
    assert _table_counts(case_dir) == (expected, expected)


def test_reading_a_case_while_another_process_ingests_it_never_fails(tmp_path, evidence_dir):
    expected = _bulk_evidence(evidence_dir)
    case_dir = tmp_path / "case"
    first = scan_cli([evidence_dir], case_dir)
    assert first.returncode == 0, first.stderr
    more = evidence_dir / "EXCH09" / "W3SVC1"
    more.mkdir(parents=True)
    for n in range(3):
        (more / f"u_ex2104{n:02d}.log").write_bytes(corpus.bulk_w3c(f"more{n}", 3000, seed=50 + n))
    proc = subprocess.Popen(
        exhunt_command("scan", evidence_dir, "--case", case_dir, "--format", "json"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    seen = []
    while proc.poll() is None:
        rows, distinct = _table_counts(case_dir)
        assert rows == distinct, "a reader saw duplicated rows during an ingest"
        assert expected <= rows <= expected + 9000, rows
        seen.append(rows)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert _table_counts(case_dir) == (expected + 9000, expected + 9000)


# ---------------------------------------------------------------------------------------
# Evidence that changes while it is read
# ---------------------------------------------------------------------------------------
def test_a_log_that_grows_during_the_ingest_is_read_consistently_and_then_fully(tmp_path, evidence_dir):
    log = evidence_dir / "u_ex210302.log"
    log.write_bytes(corpus.bulk_w3c("grow", 20_000, seed=3))
    stop = threading.Event()
    appended = [0]

    def append():
        n = 0
        with open(log, "ab") as handle:
            while not stop.is_set() and n < 20_000:
                handle.write(
                    "".join(
                        corpus.w3c_row(i, stem=f"/owa/auth/{corpus.good_marker('late', i)}.png") + "\n"
                        for i in range(n, n + 200)
                    ).encode()
                )
                handle.flush()
                n += 200
                appended[0] = n
                time.sleep(0.002)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        _case, report = ingest(tmp_path / "case", [evidence_dir])
    finally:
        stop.set()
        writer.join()
    (entry,) = check_report(report, [evidence_dir]).values()
    assert 20_000 <= entry["rows"] + entry["bad_lines"] <= 20_000 + appended[0], entry
    # The file changed after it was read: the next run sees the change and reads it all.
    case, again = ingest(tmp_path / "case", [evidence_dir])
    (entry,) = check_report(again, [evidence_dir]).values()
    assert (entry["rows"], entry["bad_lines"]) == (20_000 + appended[0], 0), entry
    assert again["tables"]["W3CIISLog"] == 20_000 + appended[0]


def test_a_log_replaced_or_truncated_during_the_ingest_does_not_crash_it(tmp_path, evidence_dir):
    logs = []
    for n in range(6):
        path = evidence_dir / f"u_ex2103{n:02d}.log"
        path.write_bytes(corpus.bulk_w3c(f"rot{n}", 4000, seed=n))
        logs.append(path)
    stop = threading.Event()

    def churn():
        rng = random.Random(5)
        while not stop.is_set():
            victim = rng.choice(logs)
            action = rng.randrange(3)
            with contextlib.suppress(OSError):
                if action == 0:
                    os.truncate(victim, rng.randrange(victim.stat().st_size + 1))
                elif action == 1:
                    victim.unlink()
                else:
                    victim.write_bytes(corpus.w3c_seed(rows=rng.randrange(1, 5)))
            time.sleep(0.001)

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        _case, report = ingest(tmp_path / "case", [evidence_dir])
    finally:
        stop.set()
        churner.join()
    for entry in report["files"]:
        assert entry["kind"] in ("iis-w3c", "skipped"), entry
    # Once the evidence holds still, a re-run agrees with it exactly.
    _case, again = ingest(tmp_path / "case", [evidence_dir])
    check_report(again, [evidence_dir])
