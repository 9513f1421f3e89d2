"""Cases: tables kept on disk, incremental re-reads, read-only evidence, safe concurrency."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

from engine.case import Case, IngestOptions, default_case_dir, open_case
from engine.tables import TABLES
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, row, rows, write


def _evidence(tmp_path: Path) -> Path:
    ev = tmp_path / "ev"
    write(ev / "EXCH01/W3SVC1/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    write(ev / "EXCH02/W3SVC1/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row() + "\r\n")
    write(ev / "alerts.csv", "SystemAlertId,AlertName,TimeGenerated,Entities\r\na,b,2021-01-01,[]\r\n")
    return ev


def _snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path)] = (digest, st.st_mtime_ns, st.st_mode)
    return out


def test_evidence_folder_is_byte_for_byte_unchanged_after_a_run(tmp_path):
    ev = _evidence(tmp_path)
    before = _snapshot(ev)
    ingest(ev, tmp_path / "case")
    ingest(ev, tmp_path / "case")
    assert _snapshot(ev) == before


def test_connect_gives_exactly_the_schema_columns_and_types(tmp_path):
    ingest(_evidence(tmp_path), tmp_path / "case")
    con = Case(tmp_path / "case").connect()
    for name, table in TABLES.items():
        described = con.execute(f'DESCRIBE "{name}"').fetchall()
        assert [(r[0], r[1]) for r in described] == [(c.name, c.sql_type) for c in table.columns]
    assert con.execute("SELECT kql_isempty('')").fetchone()[0] is True


def test_connect_on_an_empty_case_gives_empty_tables(tmp_path):
    con = open_case(tmp_path / "case", []).connect()
    assert con.execute('SELECT count(*) FROM "W3CIISLog"').fetchone()[0] == 0
    assert con.execute('SELECT count(*) FROM "SecurityAlert"').fetchone()[0] == 0


def test_second_run_on_unchanged_evidence_reads_nothing(tmp_path):
    ev = _evidence(tmp_path)
    ingest(ev, tmp_path / "case")
    report = ingest(ev, tmp_path / "case")
    assert report.files_read == 0 and all(f.cached for f in report.files)
    assert report.tables == {"W3CIISLog": 3, "SecurityAlert": 1}


def test_only_changed_and_new_files_are_read_again(tmp_path):
    ev = _evidence(tmp_path)
    ingest(ev, tmp_path / "case")
    changed = ev / "EXCH01/W3SVC1/u_ex1.log"
    write(changed, changed.read_text() + row(stem="/new") + "\r\n")
    os.utime(changed, ns=(1, 1))
    write(ev / "EXCH03/u_ex2.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    report = ingest(ev, tmp_path / "case")
    reread = sorted(f.path for f in report.files if not f.cached)
    assert reread == [str(changed), str(ev / "EXCH03/u_ex2.log")]
    assert report.tables["W3CIISLog"] == 5
    assert len(rows(tmp_path / "case")) == 5


def test_rows_of_removed_files_disappear(tmp_path):
    ev = _evidence(tmp_path)
    ingest(ev, tmp_path / "case")
    (ev / "EXCH02/W3SVC1/u_ex1.log").unlink()
    report = ingest(ev, tmp_path / "case")
    assert report.tables["W3CIISLog"] == 1
    assert {r["Computer"] for r in rows(tmp_path / "case")} == {"EXCH01"}


def test_changing_an_option_reads_every_file_again(tmp_path):
    ev = _evidence(tmp_path)
    ingest(ev, tmp_path / "case")
    report = ingest(ev, tmp_path / "case", IngestOptions(default_domain="contoso.com"))
    assert not any(f.cached for f in report.files)
    assert {r["Computer"] for r in rows(tmp_path / "case")} == {
        "EXCH01.contoso.com", "EXCH02.contoso.com"}


def test_case_records_its_evidence_paths_and_last_report(tmp_path):
    ev = _evidence(tmp_path)
    ingest(ev, tmp_path / "case")
    case = Case(tmp_path / "case")
    assert case.evidence_paths == [ev]
    assert case.last_report().tables["SecurityAlert"] == 1


def test_a_half_written_folder_from_a_killed_ingest_is_ignored_then_removed(tmp_path):
    ev = _evidence(tmp_path)
    ingest(ev, tmp_path / "case")
    stray = tmp_path / "case/data/f99-dead/W3CIISLog/kind=rows/host=x/day=2024-01-01"
    stray.mkdir(parents=True)
    (stray / "data_0.parquet").write_bytes(b"PAR1 truncated")
    assert len(rows(tmp_path / "case")) == 3  # the manifest does not name it
    ingest(ev, tmp_path / "case")
    assert not (tmp_path / "case/data/f99-dead").exists()


def _ingest_in_process(args):
    ev, case_dir = args
    Case(Path(case_dir)).ingest([Path(ev)])
    return True


def test_two_processes_ingesting_one_case_do_not_corrupt_it(tmp_path):
    ev = _evidence(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        assert pool.map(_ingest_in_process, [(str(ev), str(tmp_path / "case"))] * 2) == [True, True]
    assert len(rows(tmp_path / "case")) == 3
    assert Case(tmp_path / "case").last_report().tables == {"W3CIISLog": 3, "SecurityAlert": 1}


def test_default_case_folder_is_under_the_user_data_directory_and_stable(tmp_path):
    ev = _evidence(tmp_path)
    first = default_case_dir([ev])
    assert first == default_case_dir([ev])
    assert os.environ["XDG_DATA_HOME"] in str(first)


def test_queries_over_a_case_are_held_to_the_memory_limit_and_spill_inside_it(tmp_path):
    from engine.case import MEMORY_LIMIT
    case = Case(tmp_path / "case")
    case.path.mkdir()
    con = case.connect()
    limit, spill = con.execute("SELECT current_setting('memory_limit'), "
                               "current_setting('temp_directory')").fetchone()
    # DuckDB reads "768MB" as 10^6 bytes and reports it in MiB: "732.4 MiB".
    assert MEMORY_LIMIT == "768MB" and limit == "732.4 MiB"
    # Its own folder, outside tmp/ (which an ingest in another process clears).
    assert Path(spill).parent == case.path / "spill"
    assert Path(spill) != Path(case.connect().execute(
        "SELECT current_setting('temp_directory')").fetchone()[0])


def test_a_case_without_room_to_spill_spills_to_the_system_temporary_folder(tmp_path):
    case = Case(tmp_path / "case")
    case.path.mkdir()
    # What a read-only copy of a case gives (and root, who may write anywhere, can still
    # be shown): no spill folder can be made there.
    (case.path / "spill").write_text("not a folder")
    con = case.connect()
    spill = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert not Path(spill).is_relative_to(case.path)
