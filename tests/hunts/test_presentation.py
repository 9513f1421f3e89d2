"""How a hunt is shown in the console: declared under `console:` or derived for a plain
Sentinel rule (engine/presentation.py)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.findings import HuntRun
from engine.hunts import presentation_of
from engine.presentation import default_presentation
from engine.rules import RuleError, find_rule, load_rule_file, load_rules

T = dt.datetime(2021, 3, 3, 5, 41, 12)


def test_the_seed_hunts_keep_screens_2_and_3():
    rules = load_rules()
    a, b = find_rule(rules, "exchange-alerts"), find_rule(rules, "owa-export")
    assert (a.console.view, a.console.order) == ("servers", 1)
    assert (b.console.view, b.console.order) == ("files", 2)
    assert [p.kind for p in a.console.panes] == ["timeline", "findings"]
    assert [p.drilldown for p in b.console.panes] == ["file-requests", "ip-pivot"]


def test_roles_come_from_entity_mappings_and_alias_columns_repeat_nothing():
    rows = [{"Computer": "EXCH01", "cIP": "203.0.113.7", "Requests": 3, "timestamp": T,
             "HostCustomEntity": "EXCH01", "IPCustomEntity": "203.0.113.7"}]
    mappings = [{"entityType": "Host", "fieldMappings": [{"identifier": "FullName",
                                                          "columnName": "HostCustomEntity"}]}]
    p = default_presentation("Mine", list(rows[0]), rows, mappings)
    assert p.roles["server"] == "Computer"  # the alias resolved to the column it repeats
    assert p.roles["ip"] == "cIP"
    assert p.roles["time"] == "timestamp"
    assert [c.source for c in p.columns] == ["Computer", "cIP", "Requests", "timestamp"]
    assert [c.right for c in p.columns] == [False, False, True, False]


def test_a_plain_rule_with_a_client_and_a_server_gets_the_generic_panes():
    rows = [{"Computer": "EXCH01", "cIP": "203.0.113.7"}]
    p = default_presentation("Mine", ["Computer", "cIP"], rows)
    assert [(pane.id, pane.drilldown) for pane in p.panes] == [
        ("client-requests", "client-requests-on-server"), ("host-alerts", "host-alerts")]


def test_a_rule_without_roles_gets_a_list_and_no_panes():
    p = default_presentation("Counts", ["UserAgent", "n"], [{"UserAgent": "x", "n": 1}])
    assert p.panes == () and p.roles == {}
    assert [c.source for c in p.columns] == ["UserAgent", "n"]


def test_list_values_show_joined():
    p = default_presentation("Sets", ["Computer", "set_cIP"], [{"Computer": "a", "set_cIP": ["1"]}])
    assert p.columns[1].pick == "join"


def test_a_run_of_a_kql_only_rule_is_presented_from_its_output():
    rule = find_rule(load_rules(), "owa-export")
    run = HuntRun(rule.id, rule.slug, rule.name, ["Computer"], rule=None)
    assert presentation_of(run).title == rule.name


def _rule_with(tmp_path: Path, console: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("id: 0f0e0d0c-0000-4000-8000-0000000000aa\nname: R\n"
                    "query: W3CIISLog | summarize n = count() by Computer\n" + console)
    return path


@pytest.mark.parametrize("console, complaint", [
    ("console: {title: T}\n", "console.columns: missing"),
    ("console: {title: T, columns: [{source: n, pick: middle}]}\n", "console.columns[0].pick"),
    ("console: {title: T, columns: [{source: n}], roles: {boss: n}}\n", "unknown role 'boss'"),
    ("console: {title: T, columns: [{source: n}], panes: [{id: p, title: P, kind: rows, "
     "drilldown: nope, columns: [{source: x}]}]}\n", "drill-down 'nope'"),
    ("drilldowns: {q: {sql: SELECT 1, bind: {limit: n}}}\n", "$limit is bound"),
])
def test_a_bad_console_key_names_the_file_and_the_key(tmp_path, console, complaint):
    path = _rule_with(tmp_path, console)
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    assert str(path) in str(caught.value) and complaint in str(caught.value)


def test_a_pane_may_name_a_drilldown_its_rule_declares(tmp_path):
    rule = load_rule_file(_rule_with(tmp_path, (
        "console: {title: T, columns: [{source: n}], panes: [{id: p, title: P, kind: rows, "
        "drilldown: mine, columns: [{source: x}]}]}\n"
        "drilldowns: {mine: {sql: 'SELECT $c AS x', bind: {c: Computer}}}\n")))
    assert rule.console.panes[0].drilldown == "mine"
    assert rule.drilldowns["mine"].bind == {"c": "Computer"}
