"""`exhunt hunt`: formats, notes on stderr, exit codes (on the demo evidence)."""
from __future__ import annotations

import json

import pytest

from engine.demo import write_demo
from tui.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_demo(root / "evidence")
    return root


def hunt(demo, capsys, *args):
    code = main(["hunt", str(demo / "evidence"), "--case", str(demo / "case"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_is_one_line_per_finding_with_rule_finding_row(demo, capsys):
    code, out, err = hunt(demo, capsys, "--format", "jsonl", "--rule", "owa-export")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines
    assert all(list(line) == ["rule", "finding", "row"] for line in lines)
    assert list(lines[0]["row"])[:4] == ["TenantId", "file_name", "Computer", "csUriStem"]
    assert lines[0]["row"]["StartTime"].endswith("Z")


def test_demo_planted_export_is_found_and_notes_go_to_stderr(demo, capsys):
    code, out, err = hunt(demo, capsys, "--format", "jsonl")
    files = {json.loads(line)["row"].get("file_name") for line in out.splitlines()}
    assert "bg_outlook.zip" in files
    assert "note [owa-export] ipv6-clients-dropped" in err


def test_unmatched_servers_have_json_nulls(demo, capsys):
    code, out, err = hunt(demo, capsys, "--format", "jsonl", "--rule", "exchange-alerts")
    rows = [json.loads(line)["row"] for line in out.splitlines()]
    assert any(r["Alerts"] is None and r["AlertTimes"] is None for r in rows)


def test_json_format_carries_notes_including_zero_counts(demo, capsys):
    code, out, err = hunt(demo, capsys, "--format", "json")
    runs = json.loads(out)["runs"]
    assert {n["code"] for r in runs for n in r["notes"]} >= {"dash-query-strings",
                                                             "short-name-matches"}


def test_csv_cells_are_formula_inert(demo, capsys):
    # The seed hunts, in this order: the header starts with the first selected rule's columns.
    code, out, err = hunt(demo, capsys, "--format", "csv", "--rule", "exchange-alerts",
                          "--rule", "owa-export")
    assert out.startswith("rule id,finding id,ExchangeServer")
    assert not any(line.startswith(("=", "+", "@")) for line in out.splitlines())


def test_no_findings_is_success(demo, capsys):
    code, out, err = hunt(demo, capsys, "--format", "jsonl", "--set", "exchange_paths=/nothing/",
                          "--rule", "exchange-alerts")
    assert code == 0 and out == ""


def test_bad_parameter_exits_2_with_message(demo, capsys):
    code, out, err = hunt(demo, capsys, "--set", "max_access=many")
    assert code == 2 and "max_access" in err
