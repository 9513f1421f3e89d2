"""`exhunt import`: Log Analytics results of the same hunt become findings with the ids a
local run gives them, kept in the case and merged with local findings."""
from __future__ import annotations

import argparse
import json
from datetime import datetime

import pytest

from engine.findings import Finding, HuntRun, finding_id
from engine.hunts import run_rule
from engine.import_results import (ResultsImportError, combine_runs, import_results,
                                   imported_runs, output_types, parse_time, read_results)
from tests.scale.la_export import (write_json_rows, write_portal_csv, write_query_api_json)
from tui.commands import import_results as import_command

TIME_COLUMNS = {"exchange-alerts": (), "owa-export": ("StartTime", "EndTime", "timestamp")}


@pytest.fixture(scope="module")
def local_runs(small_case, builtin_rules):
    con = small_case.connect()
    try:
        return {slug: run_rule(con, rule) for slug, rule in builtin_rules.items()}
    finally:
        con.close()


def ids(findings) -> list[str]:
    return sorted(f.finding_id for f in findings)


@pytest.mark.parametrize("slug", ["exchange-alerts", "owa-export"])
def test_portal_csv_import_gives_local_ids_and_rows(tmp_path, builtin_rules, local_runs, slug):
    local = local_runs[slug]
    assert local.findings, "the evidence must produce findings for this rule"
    exported = write_portal_csv(tmp_path / "query_data.csv", local, TIME_COLUMNS[slug])
    report = import_results(tmp_path / "case", builtin_rules[slug], exported)
    assert report.problems == []
    assert ids(report.findings) == ids(local.findings)
    assert [f.row for f in report.findings] == [f.row for f in local.findings]


@pytest.mark.parametrize("slug", ["exchange-alerts", "owa-export"])
def test_json_rows_with_text_values_import_with_local_ids(tmp_path, builtin_rules, local_runs,
                                                          slug):
    local = local_runs[slug]
    exported = write_json_rows(tmp_path / "results.json", local, as_text=True)
    report = import_results(tmp_path / "case", builtin_rules[slug], exported)
    assert report.format == "json"
    assert ids(report.findings) == ids(local.findings)
    assert [f.row for f in report.findings] == [f.row for f in local.findings]


def test_json_rows_with_native_values_import_with_local_ids(tmp_path, builtin_rules,
                                                            local_runs):
    local = local_runs["owa-export"]
    exported = write_json_rows(tmp_path / "results.json", local, as_text=False)
    report = import_results(tmp_path / "case", builtin_rules["owa-export"], exported)
    assert [f.row for f in report.findings] == [f.row for f in local.findings]


def test_query_api_response_imports_with_local_ids(tmp_path, builtin_rules, local_runs):
    rule = builtin_rules["exchange-alerts"]
    local = local_runs["exchange-alerts"]
    exported = write_query_api_json(tmp_path / "api.json", local, output_types(rule))
    report = import_results(tmp_path / "case", rule, exported)
    assert ids(report.findings) == ids(local.findings)


def test_unmatched_server_keeps_null_alerts_not_zero(tmp_path, builtin_rules):
    rule = builtin_rules["exchange-alerts"]
    csv_text = ("\ufeffExchangeServer,Alerts,AlertTimes,AlertNames\r\n"
                "exch09.contoso.com,,,\r\n")
    (tmp_path / "r.csv").write_text(csv_text, encoding="utf-8")
    report = import_results(tmp_path / "case", rule, tmp_path / "r.csv")
    assert report.findings[0].row == {"ExchangeServer": "exch09.contoso.com", "Alerts": None,
                                      "AlertTimes": None, "AlertNames": None}
    assert report.findings[0].finding_id == finding_id(rule.id, ("exch09.contoso.com",))


@pytest.mark.parametrize("text, expected", [
    ("3/9/2026, 8:12:41.221 AM", datetime(2026, 3, 9, 8, 12, 41, 221000)),
    ("3/9/2026, 12:00:00.000 AM", datetime(2026, 3, 9, 0, 0, 0)),
    ("12/31/2025, 12:30:05.5 PM", datetime(2025, 12, 31, 12, 30, 5, 500000)),
    ("3/9/2026, 11:59:59.999 PM", datetime(2026, 3, 9, 23, 59, 59, 999000)),
    ("2026-03-09T08:12:41.2214567Z", datetime(2026, 3, 9, 8, 12, 41, 221456)),
    ("2026-03-09T10:12:41+02:00", datetime(2026, 3, 9, 8, 12, 41)),
])
def test_log_analytics_timestamps_read_as_utc(text, expected):
    assert parse_time(text) == expected


def test_times_labelled_other_than_utc_are_refused(tmp_path, builtin_rules):
    (tmp_path / "r.csv").write_text(
        "TenantId,file_name,Computer,csUriStem,StartTime [Local Time]\n", encoding="utf-8")
    with pytest.raises(ResultsImportError, match=r"r\.csv:1: .*Local Time"):
        read_results(tmp_path / "r.csv", builtin_rules["owa-export"])


def test_missing_key_column_is_refused_naming_it(tmp_path, builtin_rules):
    (tmp_path / "r.csv").write_text("file_name,Computer\nx,y\n", encoding="utf-8")
    with pytest.raises(ResultsImportError, match="'TenantId', 'csUriStem'"):
        read_results(tmp_path / "r.csv", builtin_rules["owa-export"])


def test_bad_row_is_reported_by_line_and_the_rest_imports(tmp_path, builtin_rules):
    rule = builtin_rules["exchange-alerts"]
    (tmp_path / "r.csv").write_text(
        "ExchangeServer,Alerts,AlertTimes,AlertNames\n"
        "exch01.contoso.com,two,,\n"
        "exch02.contoso.com,1,\"[\"\"2021-03-03T06:00:00Z\"\"]\",\"[\"\"x\"\"]\"\n",
        encoding="utf-8")
    report = import_results(tmp_path / "case", rule, tmp_path / "r.csv")
    assert [f.row["ExchangeServer"] for f in report.findings] == ["exch02.contoso.com"]
    assert len(report.problems) == 1
    assert "r.csv:line 2: column Alerts" in report.problems[0]


def test_multi_line_cell_reports_the_line_its_row_starts_on(tmp_path, builtin_rules):
    (tmp_path / "r.csv").write_text(
        "ExchangeServer,Alerts,AlertTimes,AlertNames\n"
        "a,1,\"[\n\"\"2021-03-03T06:00:00Z\"\"\n]\",\"[]\"\n"
        "b,x,,\n", encoding="utf-8")
    _, rows, problems, count = read_results(tmp_path / "r.csv",
                                            builtin_rules["exchange-alerts"])
    assert count == 2 and len(rows) == 1
    assert ":line 5: column Alerts" in problems[0]


def test_import_is_kept_in_the_case_and_read_back(tmp_path, builtin_rules, local_runs):
    rule = builtin_rules["owa-export"]
    local = local_runs["owa-export"]
    exported = write_portal_csv(tmp_path / "la.csv", local, TIME_COLUMNS["owa-export"])
    report = import_results(tmp_path / "case", rule, exported)
    assert report.stored.startswith(str(tmp_path / "case" / "imported"))
    (run,) = imported_runs(tmp_path / "case", [rule])
    assert [f.row for f in run.findings] == [f.row for f in local.findings]
    assert ids(run.findings) == ids(local.findings)


def test_importing_the_same_label_again_replaces_it(tmp_path, builtin_rules):
    rule = builtin_rules["exchange-alerts"]
    path = tmp_path / "r.csv"
    path.write_text("ExchangeServer,Alerts,AlertTimes,AlertNames\na,,,\n", encoding="utf-8")
    import_results(tmp_path / "case", rule, path)
    path.write_text("ExchangeServer,Alerts,AlertTimes,AlertNames\nb,,,\n", encoding="utf-8")
    import_results(tmp_path / "case", rule, path)
    (run,) = imported_runs(tmp_path / "case", [rule])
    assert [f.row["ExchangeServer"] for f in run.findings] == ["b"]


def _finding(rule_id: str, server: str, alerts) -> Finding:
    return Finding(rule_id, finding_id(rule_id, (server,)),
                   {"ExchangeServer": server, "Alerts": alerts}, (server,))


def test_combined_run_keeps_local_row_for_shared_id_and_adds_imported_only():
    rid = "84026aa0-7020-45d0-9f85-d526e43de2ab"
    local = HuntRun(rid, "exchange-alerts", "A", ["ExchangeServer", "Alerts"],
                    [_finding(rid, "exch01", 3)])
    imported = HuntRun(rid, "exchange-alerts", "A", ["ExchangeServer", "Alerts"],
                       [_finding(rid, "exch01", 7), _finding(rid, "exch09", 1)])
    (run,) = combine_runs([local], [imported])
    assert [(f.row["ExchangeServer"], f.row["Alerts"]) for f in run.findings] == [
        ("exch01", 3), ("exch09", 1)]
    note = next(n for n in run.notes if n.code == "imported-findings")
    assert note.count == 2 and "1 of them were also found locally" in note.message


def test_rule_known_only_from_imports_becomes_its_own_run():
    rid = "84026aa0-7020-45d0-9f85-d526e43de2ab"
    imported = HuntRun(rid, "exchange-alerts", "A", ["ExchangeServer", "Alerts"],
                       [_finding(rid, "exch09", 1)])
    assert combine_runs([], [imported]) == [imported]


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    import_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_import_command_prints_one_jsonl_line_per_finding(tmp_path, capsys, local_runs):
    local = local_runs["owa-export"]
    exported = write_portal_csv(tmp_path / "la.csv", local, TIME_COLUMNS["owa-export"])
    code = _cli(["import", "owa-export", str(exported), "--case", str(tmp_path / "new-case"),
                 "--format", "jsonl"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert sorted(line["finding"] for line in lines) == ids(local.findings)
    assert {line["rule"] for line in lines} == {local.rule_id}


def test_import_command_fails_cleanly_on_unknown_rule(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("a\n", encoding="utf-8")
    code = _cli(["import", "no-such-rule", str(tmp_path / "r.csv"), "--case", str(tmp_path)])
    assert code == 1
    assert "no rule with id or slug" in capsys.readouterr().err
