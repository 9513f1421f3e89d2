"""The demo is the same bytes on every run: seeded generators, fixed dates, no clock."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.demo import demo_summary, write_demo

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_another_process_with_other_hash_seed_writes_byte_identical_folders(tmp_path, demo_dir):
    # A separate interpreter with a different PYTHONHASHSEED: set/dict-order or id-dependent
    # output would show up here, not in a second call inside this process.
    code = "import sys; from pathlib import Path; from engine.demo import write_demo; write_demo(Path(sys.argv[1]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "again")], check=True, env=env, cwd=REPO)
    assert _tree(tmp_path / "again") == _tree(demo_dir)


def test_rewriting_a_previous_demo_gives_the_same_bytes(tmp_path, demo_dir):
    dest = tmp_path / "demo"
    write_demo(dest)
    write_demo(dest)
    assert _tree(dest) == _tree(demo_dir)


def test_summary_without_writing_equals_the_written_summary(demo):
    summary = demo_summary()
    assert (summary.files, summary.hunt_a, summary.hunt_b) == (demo.files, demo.hunt_a, demo.hunt_b)
