"""Exporting findings with their dispositions to CSV: layout, exactness, and inert cells."""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.dispositions import DispositionStore, Mark
from engine.export import (FIXED_COLUMNS, FORMULA_STARTS, NO_LONGER_PRESENT, ExportPathError,
                           check_export_path, export_table, inert_cell, write_csv,
                           write_findings_csv)
from engine.findings import Finding, HuntRun, finding_id

RULE_A = "84026aa0-7020-45d0-9f85-d526e43de2ab"
RULE_B = "a523786c-8382-4029-80e9-f1a7ecd067c1"
T1 = dt.datetime(2021, 3, 2, 8, 1, 0)
T2 = dt.datetime(2021, 3, 2, 8, 1, 0, 500000)


def _server(name: str, alerts=None, times=None, names=None) -> Finding:
    return Finding(RULE_A, finding_id(RULE_A, (name,)),
                   {"ExchangeServer": name, "Alerts": alerts, "AlertTimes": times, "AlertNames": names},
                   (name,))


def _file(stem: str, computer: str = "exch01.contoso.com") -> Finding:
    name = stem.rsplit("/", 1)[-1]
    row = {"TenantId": "", "file_name": name, "Computer": computer, "csUriStem": stem,
           "StartTime": T1, "EndTime": T2, "dcount_cIP": 1, "AccessingIPs": ["203.0.113.7"],
           "AccessTimes": [T1, T2], "Access": 2, "timestamp": T1, "HostCustomEntity": computer}
    return Finding(RULE_B, finding_id(RULE_B, ("", computer, stem)), row, ("", computer, stem))


def _runs(servers=(), files=()) -> list[HuntRun]:
    return [
        HuntRun(RULE_A, "exchange-alerts", "Exchange Servers and Associated Security Alerts",
                ["ExchangeServer", "Alerts", "AlertTimes", "AlertNames"], list(servers)),
        HuntRun(RULE_B, "owa-export", "Suspect Mailbox Export on IIS/OWA",
                ["TenantId", "file_name", "Computer", "csUriStem", "StartTime", "EndTime",
                 "dcount_cIP", "AccessingIPs", "AccessTimes", "Access", "timestamp",
                 "HostCustomEntity"], list(files)),
    ]


def _mark(finding: Finding | str, disposition="true-positive", note="", rule=None) -> Mark:
    fid = finding if isinstance(finding, str) else finding.finding_id
    rule_id = rule if rule is not None else ("" if isinstance(finding, str) else finding.rule_id)
    return Mark(fid, rule_id, disposition, note, "ana", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _uninert(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def test_header_is_the_fixed_columns_then_every_hunt_column_once_in_rule_order():
    header, _rows = export_table(_runs(), {})
    assert header[:len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    assert header[len(FIXED_COLUMNS):] == [
        "ExchangeServer", "Alerts", "AlertTimes", "AlertNames", "TenantId", "file_name",
        "Computer", "csUriStem", "StartTime", "EndTime", "dcount_cIP", "AccessingIPs",
        "AccessTimes", "Access", "timestamp", "HostCustomEntity"]


def test_by_default_only_marked_findings_are_exported(tmp_path):
    a, b = _file("/owa/a.zip"), _file("/owa/b.zip")
    out = tmp_path / "out.csv"
    count = write_findings_csv(out, _runs(files=[a, b]), {b.finding_id: _mark(b)})
    assert count == 1
    assert [r["finding id"] for r in _read(out)] == [b.finding_id]


def test_all_adds_unreviewed_findings_and_cleared_marks_count_as_unreviewed(tmp_path):
    a, b, c = _file("/owa/a.zip"), _file("/owa/b.zip"), _file("/owa/c.zip")
    out = tmp_path / "out.csv"
    marks = {a.finding_id: _mark(a, "unreviewed", note="look later"), b.finding_id: _mark(b, "benign")}
    assert write_findings_csv(out, _runs(files=[a, b, c]), marks) == 1
    write_findings_csv(out, _runs(files=[a, b, c]), marks, include_unreviewed=True)
    rows = _read(out)
    assert [(r["finding id"], r["disposition"], r["note"], r["analyst"]) for r in rows] == [
        (a.finding_id, "unreviewed", "look later", "ana"),  # cleared: who and when stay visible
        (b.finding_id, "benign", "", "ana"),
        (c.finding_id, "unreviewed", "", "")]


def test_rows_carry_rule_mark_and_the_hunts_own_columns_readably(tmp_path):
    server = _server("exch01.contoso.com", 2, [T1, T2], ["Alert one", "Alert two"])
    out = tmp_path / "out.csv"
    write_findings_csv(out, _runs(servers=[server]), {server.finding_id: _mark(server, note="n")})
    [row] = _read(out)
    assert row["rule id"] == RULE_A
    assert row["rule name"] == "Exchange Servers and Associated Security Alerts"
    assert (row["disposition"], row["note"], row["analyst"], row["marked at"]) == (
        "true-positive", "n", "ana", "2026-01-02T03:04:05Z")
    assert row["finding status"] == "present"
    assert row["AlertTimes"] == "2021-03-02T08:01:00Z; 2021-03-02T08:01:00.5Z"
    assert row["AlertNames"] == "Alert one; Alert two"
    assert row["csUriStem"] == ""  # hunt B's column: empty on a hunt A row


def test_kql_nulls_are_empty_cells(tmp_path):
    server = _server("exch02.contoso.com")  # unmatched: Alerts/AlertTimes/AlertNames null
    out = tmp_path / "out.csv"
    write_findings_csv(out, _runs(servers=[server]), {server.finding_id: _mark(server)})
    [row] = _read(out)
    assert (row["Alerts"], row["AlertTimes"], row["AlertNames"]) == ("", "", "")


def test_marks_whose_finding_is_gone_are_exported_as_no_longer_present(tmp_path):
    kept = _file("/owa/a.zip")
    out = tmp_path / "out.csv"
    marks = {kept.finding_id: _mark(kept), "0123456789abcdef": _mark("0123456789abcdef", rule=RULE_B,
                                                                     note="was here")}
    write_findings_csv(out, _runs(files=[kept]), marks)
    rows = {r["finding id"]: r for r in _read(out)}
    gone = rows["0123456789abcdef"]
    assert gone["finding status"] == NO_LONGER_PRESENT
    assert (gone["rule id"], gone["rule name"], gone["note"]) == (
        RULE_B, "Suspect Mailbox Export on IIS/OWA", "was here")
    assert rows[kept.finding_id]["finding status"] == "present"


def test_a_rule_filter_keeps_only_that_rules_findings_and_gone_marks(tmp_path):
    server, file = _server("exch01.contoso.com"), _file("/owa/a.zip")
    marks = {server.finding_id: _mark(server), file.finding_id: _mark(file),
             "gone-a": _mark("gone-a", rule=RULE_A), "gone-x": _mark("gone-x", rule="")}
    _header, rows = export_table(_runs([server], [file]), marks, rule_ids={RULE_B})
    assert [r[2] for r in rows] == [file.finding_id]
    _header, rows = export_table(_runs([server], [file]), marks)
    assert [r[2] for r in rows] == [server.finding_id, "gone-a", file.finding_id, "gone-x"]


def test_the_file_is_utf8_with_crlf_rows_and_rfc4180_quoting(tmp_path):
    file = _file("/owa/a.zip")
    out = tmp_path / "out.csv"
    write_findings_csv(out, _runs(files=[file]), {file.finding_id: _mark(file, note='say "hi",\nbye \u00e9')})
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == 2  # header and one row; the note's own newline stays LF
    assert '"say ""hi"",\nbye \u00e9"'.encode() in raw
    assert not raw.startswith(b"\xef\xbb\xbf")


def test_bom_option_writes_a_byte_order_mark_for_excel(tmp_path):
    out = tmp_path / "out.csv"
    write_findings_csv(out, _runs(), {}, bom=True)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfrule id,")


@pytest.mark.parametrize("text, expected", [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("'quoted", "''quoted"), ("plain", "plain"),
    ("a=1", "a=1"), ("", ""),
])
def test_inert_cell_prefixes_formula_starts_with_a_quote(text, expected):
    assert inert_cell(text) == expected


def test_a_file_named_like_a_formula_is_not_a_formula(tmp_path):
    file = _file("=1+2.png")
    out = tmp_path / "out.csv"
    write_findings_csv(out, _runs(files=[file]), {file.finding_id: _mark(file, note="@cmd")})
    [row] = _read(out)
    assert (row["file_name"], row["csUriStem"], row["note"]) == ("'=1+2.png", "'=1+2.png", "'@cmd")


_hostile = st.text(alphabet=st.sampled_from(list("=+-@\t\r\n'\",;a\u00e9\u202e ")) | st.characters(),
                   max_size=12)


@settings(max_examples=200, deadline=None)
@given(note=_hostile, stem=_hostile, column=_hostile.filter(bool), rule_name=_hostile,
       analyst=_hostile, items=st.lists(_hostile, max_size=3))
def test_no_exported_cell_starts_a_formula(note, stem, column, rule_name, analyst, items):
    fid = "0123456789abcdef"
    run = HuntRun("r", "r", rule_name, [column, "list"], [Finding("r", fid, {column: stem, "list": items})])
    mark = Mark(fid, "r", "benign", note, analyst, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    header, rows = export_table([run], {fid: mark})
    buffer = io.StringIO(newline="")
    write_csv(buffer, header, rows)  # the writer write_findings_csv uses, without the fsync
    cells = [cell for row in csv.reader(io.StringIO(buffer.getvalue(), newline="")) for cell in row]
    assert len(cells) == len(header) * 2
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]


@pytest.fixture(scope="module")
def shared_case(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared-case")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=st.text())
def test_notes_round_trip_exactly_through_store_and_export(shared_case, note):
    file = _file("/owa/a.zip")
    with DispositionStore(shared_case / "dispositions.sqlite") as store:
        store.mark([file.finding_id], "needs-follow-up", rule_id=RULE_B, note=note, analyst="ana")
        marks = store.current()
    out = shared_case.parent / f"{shared_case.name}.csv"
    write_findings_csv(out, _runs(files=[file]), marks)
    [row] = _read(out)
    assert _uninert(row["note"]) == note
    assert row["note"] == inert_cell(note)


def test_refuses_to_overwrite_an_evidence_file(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    log = evidence / "u_ex210302.log"
    log.write_text("#Fields: date time\n")
    with pytest.raises(ExportPathError, match="evidence"):
        write_findings_csv(log, _runs(), {}, evidence=[log])
    assert log.read_text() == "#Fields: date time\n"


@pytest.mark.parametrize("inside", ["out.csv", "sub/out.csv"])
def test_refuses_to_write_into_an_evidence_folder(tmp_path, inside):
    evidence = tmp_path / "evidence"
    (evidence / "sub").mkdir(parents=True)
    with pytest.raises(ExportPathError, match="evidence folder"):
        check_export_path(evidence / inside, [evidence])
    assert sorted(p.name for p in evidence.rglob("*")) == ["sub"]


def test_refuses_to_write_beside_an_evidence_file(tmp_path):
    log = tmp_path / "logs" / "u_ex210302.log"
    log.parent.mkdir()
    log.write_text("x")
    with pytest.raises(ExportPathError, match="evidence folder"):
        check_export_path(log.parent / "out.csv", [log])


def test_a_symlink_into_evidence_is_refused(tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (tmp_path / "reports").symlink_to(evidence)
    with pytest.raises(ExportPathError, match="evidence"):
        check_export_path(tmp_path / "reports" / "out.csv", [evidence])


def test_a_missing_folder_is_an_error_not_created(tmp_path):
    with pytest.raises(ExportPathError, match="does not exist"):
        write_findings_csv(tmp_path / "nope" / "out.csv", _runs(), {})
    assert not (tmp_path / "nope").exists()


def test_an_existing_file_is_replaced_only_when_allowed(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old")
    with pytest.raises(ExportPathError, match="already exists"):
        write_findings_csv(out, _runs(), {}, overwrite=False)
    assert out.read_text() == "old"
    write_findings_csv(out, _runs(), {})
    assert out.read_text().startswith("rule id,")


def test_a_failed_export_leaves_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("previous export")

    class Boom(Exception):
        pass

    def failing_writer(*args, **kwargs):
        raise Boom()
    monkeypatch.setattr("engine.export.csv.writer", failing_writer)
    with pytest.raises(Boom):
        write_findings_csv(out, _runs(), {})
    assert out.read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_folder_as_output_is_refused(tmp_path):
    with pytest.raises(ExportPathError, match="is a folder"):
        check_export_path(tmp_path, [])
