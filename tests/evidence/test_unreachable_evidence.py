"""Evidence that is not reachable on a re-run (a share not mounted, a drive not plugged in, a
folder moved) keeps what the case last read from it: the case may be all that is left of
it, and `exhunt hunt --case C` must not empty it without a word."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, row, rows, write


def _two_servers(tmp_path: Path) -> tuple[Path, Path]:
    one, two = tmp_path / "share-a", tmp_path / "share-b"
    write(one / "EXCH01/W3SVC1/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    write(two / "EXCH02/W3SVC1/u_ex1.log",
          IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row() + "\r\n")
    return one, two


def _by_server(case_dir: Path) -> dict[str, int]:
    found = rows(case_dir, 'SELECT Computer, count(*) AS n FROM "W3CIISLog" GROUP BY 1 ORDER BY 1')
    return {r["Computer"]: r["n"] for r in found}


BOTH = {"EXCH01": 1, "EXCH02": 2}  # rows per server of _two_servers


def _read_then_lose_share_b(tmp_path: Path) -> tuple[Path, Path]:
    """Both shares read into the case, then share-b is gone (not mounted, moved)."""
    one, two = _two_servers(tmp_path)
    ingest([one, two], tmp_path / "case")
    assert _by_server(tmp_path / "case") == BOTH
    shutil.rmtree(two)
    return one, two


def test_a_missing_evidence_folder_keeps_its_rows_in_the_case(tmp_path):
    one, two = _read_then_lose_share_b(tmp_path)
    ingest([one, two], tmp_path / "case")
    assert _by_server(tmp_path / "case") == BOTH


def test_the_rows_are_still_there_after_a_second_run_without_the_folder(tmp_path):
    one, two = _read_then_lose_share_b(tmp_path)
    ingest([one, two], tmp_path / "case")
    ingest([one, two], tmp_path / "case")  # superseded data folders are deleted on this run
    assert _by_server(tmp_path / "case") == BOTH


def test_the_report_says_the_folder_is_not_reachable_and_what_is_kept(tmp_path):
    one, two = _read_then_lose_share_b(tmp_path)
    report = ingest([one, two], tmp_path / "case")
    root = next(f for f in report.files if f.path == str(two))
    assert root.kind == "skipped"
    assert root.reason == "not found: the case keeps the 1 file(s) last read from it"
    kept = next(f for f in report.files if f.path.startswith(str(two) + "/"))
    assert kept.cached and kept.rows == 2
    assert f"not reachable now ({two} not found): kept as last read" in kept.notes
    assert report.tables["W3CIISLog"] == 3


def test_a_missing_evidence_file_given_by_name_is_kept_too(tmp_path):
    one, two = _two_servers(tmp_path)
    log = two / "EXCH02/W3SVC1/u_ex1.log"
    ingest([one, log], tmp_path / "case")
    assert _by_server(tmp_path / "case") == BOTH
    log.unlink()
    ingest([one, log], tmp_path / "case")
    assert _by_server(tmp_path / "case") == BOTH


def test_a_file_deleted_inside_a_reachable_folder_is_dropped_as_before(tmp_path):
    one, two = _two_servers(tmp_path)
    ingest([one, two], tmp_path / "case")
    (two / "EXCH02/W3SVC1/u_ex1.log").unlink()
    ingest([one, two], tmp_path / "case")
    assert _by_server(tmp_path / "case") == {"EXCH01": 1}
