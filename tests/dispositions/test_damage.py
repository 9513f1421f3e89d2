"""A damaged store is detected, reported, moved aside, and everything readable still loads."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.dispositions import DispositionError, DispositionStore, PAGE_SIZE

DISPOSITIONS = ("true-positive", "false-positive", "benign", "needs-follow-up")


def _note(i: int) -> str:
    # Unique per mark so the test can find where in the file each row lives; every 40th is
    # long enough to spill into overflow pages.
    return f"<note {i:05d}>" + ("\u00e9" * 3000 if i % 40 == 0 else "") + f"</note {i:05d}>"


@pytest.fixture(scope="module")
def healthy_store(tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A closed store of 700 marks (about 50 pages) and what it holds."""
    path = tmp_path_factory.mktemp("healthy") / "dispositions.sqlite"
    expected = {}
    with DispositionStore(path) as store:
        for i in range(700):
            disposition = DISPOSITIONS[i % 4]
            store.mark([f"f{i:05d}"], disposition, rule_id="r", note=_note(i), analyst="ana")
            expected[f"f{i:05d}"] = (disposition, _note(i))
    return path, expected


def _damaged_copy(healthy: Path, case_dir: Path, keep_bytes: int) -> Path:
    target = case_dir / "dispositions.sqlite"
    shutil.copyfile(healthy, target)
    os.truncate(target, keep_bytes)
    return target


def _rows_wholly_before(data: bytes, keep_bytes: int, expected) -> set[str]:
    """Findings whose whole row sits in a page that survived the truncation."""
    survivors = set()
    last_whole_page_end = keep_bytes // PAGE_SIZE * PAGE_SIZE
    for fid, (_disposition, note) in expected.items():
        i = int(fid[1:])
        start = data.find(f"<note {i:05d}>".encode())
        if len(note) > 100:
            continue  # spans overflow pages: only required when the whole file survived
        if start >= 0 and start + len(note.encode()) <= last_whole_page_end:
            survivors.add(fid)
    return survivors


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.77, 0.99])
def test_a_truncated_store_loads_everything_before_the_damage_with_a_warning(
        healthy_store, case_dir, fraction):
    healthy, expected = healthy_store
    data = healthy.read_bytes()
    keep = int(len(data) * fraction)
    path = _damaged_copy(healthy, case_dir, keep)

    with DispositionStore(path) as store:
        assert len(store.warnings) == 1
        assert "damaged" in store.warnings[0] and ".corrupt" in store.warnings[0]
        current = store.current()

    for fid, mark in current.items():  # nothing invented, nothing altered
        assert (mark.disposition, mark.note) == expected[fid]
    must_survive = _rows_wholly_before(data, keep, expected)
    assert len(must_survive) > 80
    assert must_survive <= set(current)


@pytest.mark.parametrize("keep", [1, 50, 100, PAGE_SIZE, PAGE_SIZE * 2 + 17])
def test_a_store_truncated_near_its_start_is_reported_and_starts_afresh(healthy_store, case_dir, keep):
    healthy, _expected = healthy_store
    path = _damaged_copy(healthy, case_dir, keep)
    with DispositionStore(path) as store:
        assert len(store.warnings) == 1 and "damaged" in store.warnings[0]
        store.mark(["new"], "benign", analyst="ana")  # the rebuilt store works
    with DispositionStore(path) as store:
        assert store.warnings == []
        assert "new" in store.current()


def test_an_emptied_store_file_is_reported_not_silently_reset(healthy_store, case_dir):
    path = _damaged_copy(healthy_store[0], case_dir, 0)
    with DispositionStore(path) as store:
        assert "the file is empty" in store.warnings[0]


def test_the_damaged_file_is_kept_aside_inside_the_case_folder(healthy_store, case_dir):
    healthy, _expected = healthy_store
    path = _damaged_copy(healthy, case_dir, healthy.stat().st_size // 2)
    damaged_bytes = path.read_bytes()
    DispositionStore(path).close()
    [aside] = case_dir.glob("dispositions.sqlite.*.corrupt")
    assert aside.read_bytes() == damaged_bytes


def test_a_page_overwritten_in_the_middle_loses_only_that_pages_rows(healthy_store, case_dir):
    healthy, expected = healthy_store
    path = case_dir / "dispositions.sqlite"
    data = bytearray(healthy.read_bytes())
    victim_page = len(data) // PAGE_SIZE // 2
    data[victim_page * PAGE_SIZE:(victim_page + 1) * PAGE_SIZE] = b"\xa5" * PAGE_SIZE
    path.write_bytes(bytes(data))
    with DispositionStore(path) as store:
        assert store.warnings
        current = store.current()
    assert len(current) >= len(expected) - 40
    for fid, mark in current.items():
        assert (mark.disposition, mark.note) == expected[fid]


def test_a_file_that_is_not_a_database_is_reported_and_moved_aside(case_dir):
    path = case_dir / "dispositions.sqlite"
    path.write_bytes(b"this is not sqlite\n" * 400)
    with DispositionStore(path) as store:
        assert "damaged" in store.warnings[0]
        assert store.current() == {}
    assert list(case_dir.glob("dispositions.sqlite.*.corrupt"))


def test_marks_still_only_in_the_wal_are_recovered_when_the_main_file_is_damaged(
        healthy_store, case_dir):
    # A process that dies leaves its committed marks in the -wal file, not yet copied into
    # the main file; recovery must read them from there.
    healthy, _expected = healthy_store
    path = case_dir / "dispositions.sqlite"
    shutil.copyfile(healthy, path)
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from engine.dispositions import DispositionStore\n"
        "store = DispositionStore(Path(sys.argv[1]))\n"
        "for i in range(150):\n"
        "    store.mark([f'w{i:03d}'], 'benign', note=f'wal {i}', analyst='ana')\n"
        "os._exit(0)\n"  # no close, so no checkpoint: the marks stay in the WAL
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True,
                   cwd=Path(__file__).resolve().parents[2])
    assert Path(f"{path}-wal").stat().st_size > 0
    os.truncate(path, path.stat().st_size // 2)
    with DispositionStore(path) as store:
        assert store.warnings and "damaged" in store.warnings[0]
        current = store.current()
    assert {fid: current[fid].note for fid in current if fid.startswith("w")} == {
        f"w{i:03d}": f"wal {i}" for i in range(150)}


def test_a_damaged_store_in_use_by_another_process_opens_read_only(healthy_store, case_dir):
    healthy, expected = healthy_store
    path = case_dir / "dispositions.sqlite"
    shutil.copyfile(healthy, path)
    holder = DispositionStore(path)  # "another exhunt session" keeps the store open
    try:
        with open(path, "r+b") as f:  # the disk loses the second half
            f.truncate(path.stat().st_size // 2)
        with DispositionStore(path) as store:
            assert store.read_only
            assert "another exhunt process" in store.warnings[0]
            assert 0 < len(store.current()) < len(expected)
            with pytest.raises(DispositionError, match="read-only"):
                store.mark(["x"], "benign")
        assert not list(case_dir.glob("*.corrupt")), "must not move the file from under the holder"
    finally:
        holder.close()


def test_a_healthy_store_opens_without_warnings(healthy_store, case_dir):
    path = case_dir / "dispositions.sqlite"
    shutil.copyfile(healthy_store[0], path)
    with DispositionStore(path) as store:
        assert store.warnings == []
        assert len(store.current()) == 700
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA quick_check").fetchone() == ("ok",)
    finally:
        con.close()
