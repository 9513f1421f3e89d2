"""Child-process bodies for the multi-process tests (spawned, so they must be importable).

A worker acknowledges a mark by appending its finding ids to its own file *after*
``mark()`` returned, one ``os.write`` per mark, so the parent knows exactly which marks the
user would have seen confirmed.
"""
from __future__ import annotations

import os
from pathlib import Path

from engine.dispositions import DispositionStore

DISPOSITION_CYCLE = ("true-positive", "false-positive", "benign", "needs-follow-up")


def write_marks(store_path: str, worker: int, count: int, start_event) -> None:
    """Mark ``count`` own findings, each also re-marking the one finding every worker shares."""
    start_event.wait()
    with DispositionStore(Path(store_path)) as store:
        for i in range(count):
            disposition = DISPOSITION_CYCLE[i % len(DISPOSITION_CYCLE)]
            note = f"worker {worker} mark {i} \u2013 \"quoted\", comma\nsecond line"
            ids = [f"w{worker:02d}-{i:04d}"]
            if i % 5 == 0:
                ids += [f"w{worker:02d}-{i:04d}-b", f"w{worker:02d}-{i:04d}-c"]
            store.mark(ids, disposition, rule_id="rule-x", note=note, analyst=f"analyst{worker}")
            store.mark(["shared"], disposition, note=f"{worker}/{i}", analyst=f"analyst{worker}")


def mark_until_killed(store_path: str, ack_path: str, worker: int) -> None:
    """Mark forever; the parent kills this process with SIGKILL at a random moment."""
    ack = os.open(ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    store = DispositionStore(Path(store_path))
    i = 0
    while True:
        ids = [f"k{worker:03d}-{i:05d}"]
        if i % 3 == 0:
            ids.append(f"k{worker:03d}-{i:05d}-b")
        disposition = DISPOSITION_CYCLE[i % len(DISPOSITION_CYCLE)]
        store.mark(ids, disposition, note=f"{worker}:{i}:" + "n" * ((i % 50) * 100))
        os.write(ack, ("".join(f"{fid} {disposition}\n" for fid in ids)).encode())
        i += 1
