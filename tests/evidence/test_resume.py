"""An ingest interrupted part-way resumes after the files it finished, instead of starting over."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.case import IngestOptions, open_case
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, row, write


class Interrupted(Exception):
    pass


def _evidence(tmp_path: Path, files: int = 4) -> Path:
    ev = tmp_path / "ev"
    for n in range(files):
        write(ev / f"EXCH0{n}/W3SVC1/u_ex1.log",
              IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row() + "\r\n")
    return ev


def _interrupt_after(files_done: int):
    def progress(p):
        if p.files_done >= files_done and p.current is not None:
            raise Interrupted
    return progress


def test_files_finished_before_an_interruption_are_not_read_again(tmp_path, monkeypatch):
    monkeypatch.setenv("EXHUNT_INGEST_WORKERS", "1")
    ev, case_dir = _evidence(tmp_path), tmp_path / "case"
    with pytest.raises(Interrupted):
        open_case(case_dir, [ev]).ingest([ev], IngestOptions(), _interrupt_after(2))
    report = ingest(ev, case_dir)
    assert sum(f.cached for f in report.files) == 2
    assert report.files_read == 2


def test_a_resumed_ingest_loads_every_row_exactly_once(tmp_path, monkeypatch):
    monkeypatch.setenv("EXHUNT_INGEST_WORKERS", "1")
    ev, case_dir = _evidence(tmp_path), tmp_path / "case"
    with pytest.raises(Interrupted):
        open_case(case_dir, [ev]).ingest([ev], IngestOptions(), _interrupt_after(3))
    ingest(ev, case_dir)
    con = open_case(case_dir, [ev]).connect()
    assert con.execute('SELECT count(*) FROM "W3CIISLog"').fetchone()[0] == 8


def test_a_file_changed_since_the_interruption_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setenv("EXHUNT_INGEST_WORKERS", "1")
    ev, case_dir = _evidence(tmp_path), tmp_path / "case"
    with pytest.raises(Interrupted):
        open_case(case_dir, [ev]).ingest([ev], IngestOptions(), _interrupt_after(2))
    for log in sorted(ev.rglob("*.log"))[:2]:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(row() + "\r\n")
    report = ingest(ev, case_dir)
    assert report.files_read == 4
    con = open_case(case_dir, [ev]).connect()
    assert con.execute('SELECT count(*) FROM "W3CIISLog"').fetchone()[0] == 10


def test_a_completed_ingest_leaves_no_journal(tmp_path):
    ev, case_dir = _evidence(tmp_path), tmp_path / "case"
    ingest(ev, case_dir)
    assert not (case_dir / "ingest-journal.jsonl").exists()
