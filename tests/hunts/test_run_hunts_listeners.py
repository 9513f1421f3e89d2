"""run_hunts hands each hunt over as soon as it has run (the console shows it while the
others run), and listening changes nothing in what the hunts find."""
from __future__ import annotations

from engine.hunts import run_hunts
from engine.rules import load_rules
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
