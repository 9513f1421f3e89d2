"""How long marking takes: one mark as the console saves it (fsynced), and the reads around it.

Run by bench/bench.py (``measure(ctx)``; only ``ctx.work_dir`` is used) or on its own:
``python bench/measure_marks.py``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from engine.dispositions import DispositionStore

PREFILL = 10_000  # findings already marked, as in a long-running case
SAMPLES = 400


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _fsync_floor(path: Path, samples: int = 200) -> float:
    """What the disk charges for one durable write, whatever the store does on top."""
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(samples):
            started = time.perf_counter()
            os.write(fd, b"x" * 100)
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
    return statistics.median(times)


def measure(ctx) -> list[tuple[str, str]]:
    folder = Path(ctx.work_dir) / "marks-bench"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "dispositions.sqlite"
    results: list[tuple[str, str]] = []
    with DispositionStore(path) as store:
        for batch in range(PREFILL // 100):
            store.mark([f"{batch:04d}{i:012x}" for i in range(100)], "benign", rule_id="bench",
                       note=f"prefill {batch}", analyst="bench")
        single, cpu = [], []
        for i in range(SAMPLES):
            started, started_cpu = time.perf_counter(), time.process_time()
            store.mark([f"single{i:010x}"], ("true-positive", "false-positive")[i % 2],
                       rule_id="bench", note=f"note {i}\nwith a second line", analyst="bench")
            single.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        results.append((f"marks: mark 1 finding, fsynced (median of {SAMPLES}, store of {PREFILL:,})",
                        _ms(statistics.median(single))))
        results.append(("marks: mark 1 finding, fsynced (p99)", _ms(_p99(single))))
        results.append(("marks: mark 1 finding, CPU time only (median)", _ms(statistics.median(cpu))))
        results.append(("marks: disk floor: append 100 bytes + fsync (median)",
                        _ms(_fsync_floor(folder / "fsync-probe"))))
        batches = []
        for i in range(20):
            started = time.perf_counter()
            store.mark([f"batch{i:02d}{j:08x}" for j in range(100)], "needs-follow-up",
                       rule_id="bench", analyst="bench")
            batches.append(time.perf_counter() - started)
        results.append(("marks: mark 100 selected findings at once (median)", _ms(statistics.median(batches))))
        reads = []
        for _ in range(10):
            started = time.perf_counter()
            current = store.current()
            reads.append(time.perf_counter() - started)
        results.append((f"marks: current() of {len(current):,} marked findings (median)",
                        _ms(statistics.median(reads))))
    opens = []
    for _ in range(5):
        started = time.perf_counter()
        DispositionStore(path).close()
        opens.append(time.perf_counter() - started)
    results.append(("marks: open store with integrity check (median)", _ms(statistics.median(opens))))
    shutil.rmtree(folder, ignore_errors=True)
    return results


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for name, value in measure(SimpleNamespace(work_dir=Path(tmp))):
            print(f"{name}: {value}")
