"""run_hunts hands each hunt over as soon as it has run (the console shows it while the
others run), and listening changes nothing in what the hunts find."""
from __future__ import annotations

import pytest

from engine.hunts import FAILED_NOTE, run_hunts
from engine.rules import RuleError, load_rules
from tests.hunts.conftest import add_alerts, add_requests, new_db


def demo_like_db():
    con = new_db()
    add_requests(con, {"csUriStem": "/owa/x.zip", "cIP": "203.0.113.9"},
                 {"csUriStem": "/ecp/y.js", "cIP": "198.51.100.14"})
    add_alerts(con, {"Entities": '[{"Type":"host","HostName":"EXCH01"}]'})
    return con


def test_each_hunt_is_handed_over_before_the_next_one_starts(tmp_path):
    rules = load_rules()
    events: list[tuple[str, str]] = []
    run_hunts(demo_like_db(), tmp_path, rules,
              on_rule=lambda done, total, rule: events.append(("start", rule.id)),
              on_run=lambda run: events.append(("done", run.rule_id)))
    expected = [event for rule in rules for event in (("start", rule.id), ("done", rule.id))]
    assert events == expected


def test_a_hunt_handed_over_carries_its_rule_and_presentation(tmp_path):
    rules = load_rules()
    handed = []
    run_hunts(demo_like_db(), tmp_path, rules, on_run=handed.append)
    assert [run.rule for run in handed] == rules
    assert all(run.presentation is not None for run in handed)


def test_listening_finds_the_same_as_not_listening(tmp_path):
    rules = load_rules()
    quiet = run_hunts(demo_like_db(), tmp_path, rules)
    heard = run_hunts(demo_like_db(), tmp_path, rules, on_run=lambda run: None)

    def outcome(runs):
        return [(r.rule_id, [f.finding_id for f in r.findings], r.columns,
                 [(n.code, n.count, n.message) for n in r.notes]) for r in runs]

    assert outcome(heard) == outcome(quiet)
    assert any(r.findings for r in quiet)


BROKEN = ("id: 0b0b0b0b-1111-4222-8333-444455556666\nname: Broken regex\n"
          "query: |\n  W3CIISLog\n  | where csUriStem matches regex \"(\"\n"
          "  | summarize n = count() by Computer\n")


def with_broken_rule(folder):
    folder.mkdir()
    (folder / "Broken.yaml").write_text(BROKEN, encoding="utf-8")
    rules = load_rules([folder])
    return rules, next(r for r in rules if r.slug == "broken")


def test_a_rule_whose_query_fails_stops_the_run_unless_asked_to_keep_going(tmp_path):
    rules, _ = with_broken_rule(tmp_path / "mine")
    with pytest.raises(RuleError, match="missing \\)"):
        run_hunts(demo_like_db(), tmp_path, rules)


def test_keeping_going_the_other_hunts_run_and_the_failed_one_says_why(tmp_path):
    rules, broken = with_broken_rule(tmp_path / "mine")
    runs = run_hunts(demo_like_db(), tmp_path, rules, keep_going=True)
    assert [r.rule_id for r in runs] == [r.id for r in rules]
    failed = next(r for r in runs if r.rule_id == broken.id)
    assert failed.findings == [] and "missing )" in failed.failed
    assert [(n.code, n.count) for n in failed.notes] == [(FAILED_NOTE, 1)]
    assert failed.notes[0].message.startswith("this hunt did not run: ")
    others = [r for r in runs if r.rule_id != broken.id]
    assert all(r.failed is None for r in others) and any(r.findings for r in others)


def test_keeping_going_does_not_excuse_a_bad_parameter_value(tmp_path):
    rules, _ = with_broken_rule(tmp_path / "mine")
    with pytest.raises(RuleError):
        run_hunts(demo_like_db(), tmp_path, rules, {"owa-export.max_access": "many"},
                  keep_going=True)
