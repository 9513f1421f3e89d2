"""`exhunt kql 'QUERY' PATH...`: formats, the now() anchor on stderr, clear errors."""
from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

pytest.importorskip("tui.commands.common")
from tui.commands import kql as kql_command  # noqa: E402

W3C = (
    "#Software: Microsoft Internet Information Services 10.0\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
    "2021-03-02 08:01:00 10.0.0.1 GET /owa/auth/export.pst - 443 - 203.0.113.7 curl - 200 0 0 5\n"
    "2021-03-02 08:02:00 10.0.0.1 GET /owa/auth/logon.aspx - 443 - =cmd|x curl - 200 0 0 5\n"
)


@pytest.fixture
def evidence(tmp_path):
    folder = tmp_path / "evidence" / "EXCH01" / "W3SVC1"
    folder.mkdir(parents=True)
    (folder / "u_ex210302.log").write_text(W3C)
    return tmp_path / "evidence"


def run(capsys, tmp_path, evidence, query: str, *options: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="exhunt")
    kql_command.register(parser.add_subparsers())
    args = parser.parse_args(["kql", query, str(evidence), "--case", str(tmp_path / "case"), *options])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_rows_and_default_anchor_on_stderr(capsys, tmp_path, evidence):
    code, out, err = run(capsys, tmp_path, evidence,
                         "W3CIISLog | project csUriStem, age = now() - TimeGenerated | sort by csUriStem asc",
                         "--format", "jsonl")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"csUriStem": "/owa/auth/export.pst", "age": "00:01:00"},
        {"csUriStem": "/owa/auth/logon.aspx", "age": "00:00:00"}]
    assert "now() = 2021-03-02T08:02:00Z (the latest TimeGenerated in the case)" in err


def test_now_option_anchors_ago(capsys, tmp_path, evidence):
    code, out, err = run(capsys, tmp_path, evidence, "W3CIISLog | where TimeGenerated > ago(1h) | count",
                         "--now", "2021-03-02T09:01:30Z", "--format", "json")
    assert code == 0 and json.loads(out) == [{"Count": 1}]
    assert "now() = 2021-03-02T09:01:30Z (--now)" in err


def test_csv_cells_never_start_a_formula(capsys, tmp_path, evidence):
    code, out, _ = run(capsys, tmp_path, evidence, "W3CIISLog | where cIP startswith '=' | project cIP",
                       "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["cIP"], ["'=cmd|x"]]


def test_dynamic_columns_are_json(capsys, tmp_path, evidence):
    code, out, _ = run(capsys, tmp_path, evidence, "W3CIISLog | summarize make_set(cIP)", "--format", "json")
    assert sorted(json.loads(out)[0]["set_cIP"]) == ["203.0.113.7", "=cmd|x"]


def test_table_format_ends_with_row_count(capsys, tmp_path, evidence):
    code, out, _ = run(capsys, tmp_path, evidence, "W3CIISLog | project csUriStem")
    assert code == 0 and out.splitlines()[0].strip() == "csUriStem" and out.endswith("(2 rows)\n")


def test_unknown_table_is_a_clear_error(capsys, tmp_path, evidence):
    code, out, err = run(capsys, tmp_path, evidence, "DeviceProcessEvents | take 1")
    assert code == 2 and out == ""
    assert "table 'DeviceProcessEvents' does not exist" in err and "line 1, column 1" in err


def test_bad_now_is_rejected(capsys, tmp_path, evidence):
    code, _, err = run(capsys, tmp_path, evidence, "W3CIISLog | count", "--now", "yesterday")
    assert code == 2 and "--now" in err
