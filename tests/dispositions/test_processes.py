"""Several exhunt processes on one case: no mark is lost, even when writers are killed."""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

from engine.dispositions import DispositionStore
from tests.dispositions import _workers

SPAWN = multiprocessing.get_context("spawn")


def test_marks_from_twelve_parallel_processes_are_all_present(store_path):
    workers, count = 12, 25
    start = SPAWN.Event()
    procs = [SPAWN.Process(target=_workers.write_marks, args=(str(store_path), w, count, start))
             for w in range(workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers

    with DispositionStore(store_path) as store:
        assert store.warnings == []
        current = store.current()
        shared_history = store.history("shared")
    expected = {f"w{w:02d}-{i:04d}{suffix}"
                for w in range(workers) for i in range(count)
                for suffix in ([""] + (["-b", "-c"] if i % 5 == 0 else []))}
    assert expected <= set(current)
    for fid in expected:
        w, i = int(fid[1:3]), int(fid[4:8])
        assert current[fid].disposition == _workers.DISPOSITION_CYCLE[i % 4]
        assert current[fid].analyst == f"analyst{w}"
        assert current[fid].note == f"worker {w} mark {i} \u2013 \"quoted\", comma\nsecond line"
    # Every worker's change to the one shared finding was kept, each after the previous one.
    assert sorted(c.note for c in shared_history) == sorted(
        f"{w}/{i}" for w in range(workers) for i in range(count))
    for before, after in zip(shared_history, shared_history[1:]):
        assert after.previous == before.disposition


def _read_acks(folder: Path) -> dict[str, str]:
    acked = {}
    for file in folder.glob("ack-*.txt"):
        for line in file.read_text().splitlines():
            fid, disposition = line.split(" ")
            acked[fid] = disposition
    return acked


def test_writers_killed_at_random_moments_lose_no_acknowledged_mark(store_path, tmp_path):
    rng = random.Random(20261123)
    acks = tmp_path / "acks"
    acks.mkdir()
    running: dict[int, multiprocessing.Process] = {}
    next_worker = 0

    def start_worker() -> None:
        nonlocal next_worker
        p = SPAWN.Process(target=_workers.mark_until_killed,
                          args=(str(store_path), str(acks / f"ack-{next_worker}.txt"), next_worker))
        p.start()
        running[next_worker] = p
        next_worker += 1

    for _ in range(4):
        start_worker()
    for _ in range(14):
        time.sleep(rng.uniform(0.05, 0.6))
        victim = rng.choice(sorted(running))
        assert running[victim].exitcode is None, (
            f"writer {victim} stopped by itself (exit code {running[victim].exitcode})")
        os.kill(running[victim].pid, signal.SIGKILL)
        running.pop(victim).join(30)
        start_worker()
    time.sleep(0.5)
    for p in running.values():
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)

    acked = _read_acks(acks)
    assert len(acked) > 50, f"only {len(acked)} marks acknowledged: the test would prove little"
    con = sqlite3.connect(store_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    with DispositionStore(store_path) as store:
        assert store.warnings == []
        current = store.current()
    missing = {fid for fid in acked if fid not in current}
    assert not missing, f"{len(missing)} acknowledged marks lost, e.g. {sorted(missing)[:5]}"
    assert {fid: current[fid].disposition for fid in acked} == acked
