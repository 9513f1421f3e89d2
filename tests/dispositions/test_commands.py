"""``exhunt mark``, ``exhunt history`` and ``exhunt export`` on a case whose hunt results are
given (the case and hunt engines have their own tests; the demo end to end is below)."""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import pytest

import engine.case
import engine.hunts
from engine.dispositions import DispositionStore
from engine.findings import Finding, HuntRun, finding_id
from tui.commands import export as export_command
from tui.commands import history as history_command
from tui.commands import mark as mark_command


def main(argv: list[str]) -> int:
    """``exhunt`` with only these three commands (the dispatcher's other modules belong to
    other parts of the project and are tested there)."""
    parser = argparse.ArgumentParser(prog="exhunt")
    sub = parser.add_subparsers(dest="command")
    for module in (mark_command, history_command, export_command):
        module.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)

RULE_A = "84026aa0-7020-45d0-9f85-d526e43de2ab"
RULE_B = "a523786c-8382-4029-80e9-f1a7ecd067c1"
SERVER = Finding(RULE_A, finding_id(RULE_A, ("exch01.contoso.com",)),
                 {"ExchangeServer": "exch01.contoso.com", "Alerts": 1, "AlertTimes": None,
                  "AlertNames": ["=cmd|' /C calc'!A0"]})
FILE = Finding(RULE_B, finding_id(RULE_B, ("", "exch01.contoso.com", "/owa/x.zip")),
               {"TenantId": "", "file_name": "x.zip", "Computer": "exch01.contoso.com",
                "csUriStem": "/owa/x.zip"})


class FakeCase:
    def __init__(self, path: Path, evidence: list[Path]):
        self.path = path
        self.evidence_paths = evidence
        self.dispositions_path = path / "dispositions.sqlite"

    def read_manifest(self):
        return {"evidence": [str(p) for p in self.evidence_paths]} if self.path.name == "case" else {}

    def connect(self):
        class Con:
            def close(self):
                pass
        return Con()


@pytest.fixture
def evidence_dir(tmp_path) -> Path:
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "u_ex210302.log").write_text("#Fields: date time cs-uri-stem\n2021-03-02 08:01:00 /owa/x.zip\n")
    return folder


@pytest.fixture
def case(case_dir, evidence_dir, monkeypatch) -> Path:
    monkeypatch.setattr(engine.case, "open_case", lambda path, evidence: FakeCase(Path(path), [evidence_dir]))

    def run_rules(con, rules, overrides=None, *, now=None):
        runs = {RULE_A: HuntRun(RULE_A, "exchange-alerts", "Exchange servers", ["ExchangeServer", "Alerts",
                                "AlertTimes", "AlertNames"], [SERVER]),
                RULE_B: HuntRun(RULE_B, "owa-export", "Mailbox export", ["TenantId", "file_name",
                                "Computer", "csUriStem"], [FILE])}
        return [runs[r.id] for r in rules if r.id in runs]
    monkeypatch.setattr(engine.hunts, "run_rules", run_rules)
    return case_dir


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_mark_records_the_findings_rule_and_reports_the_change(case, capsys):
    assert main(["mark", SERVER.finding_id, "--as", "true-positive", "--note", "a\nb",
                 "--analyst", "ana", "--case", str(case)]) == 0
    out = capsys.readouterr().out
    assert f"{SERVER.finding_id}  unreviewed -> true-positive  Exchange servers" in out
    with DispositionStore(case / "dispositions.sqlite") as store:
        mark = store.current()[SERVER.finding_id]
    assert (mark.rule_id, mark.note, mark.analyst) == (RULE_A, "a\nb", "ana")


def test_mark_accepts_several_findings(case):
    assert main(["mark", SERVER.finding_id, FILE.finding_id, "--as", "benign", "--case", str(case)]) == 0
    with DispositionStore(case / "dispositions.sqlite") as store:
        assert {m.rule_id for m in store.current().values()} == {RULE_A, RULE_B}


def test_marking_a_finding_not_in_the_results_records_it_with_a_warning(case, capsys):
    assert main(["mark", "feedfacecafebeef", "--as", "needs-follow-up", "--case", str(case)]) == 0
    assert "finding not in current results" in capsys.readouterr().err
    with DispositionStore(case / "dispositions.sqlite") as store:
        assert store.current()["feedfacecafebeef"].rule_id == ""


def test_mark_refuses_an_unknown_disposition(case, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mark", SERVER.finding_id, "--as", "evil", "--case", str(case)])
    assert exit_info.value.code == 2
    assert "invalid disposition" in capsys.readouterr().err


def test_mark_refuses_a_finding_id_with_control_characters(case, capsys):
    assert main(["mark", "abc\x1b[2J", "--as", "benign", "--case", str(case)]) == 1
    err = capsys.readouterr().err
    assert "not a finding id" in err and "\x1b" not in err


def test_mark_on_a_missing_case_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["mark", "abc", "--as", "benign", "--case", str(tmp_path / "nope")]) == 1
    assert "no case folder" in capsys.readouterr().err


def test_mark_refuses_a_folder_that_is_not_a_case(case, tmp_path, capsys):
    other = tmp_path / "not-a-case"
    other.mkdir()
    assert main(["mark", "abc", "--as", "benign", "--case", str(other)]) == 1
    assert "is not an exhunt case" in capsys.readouterr().err
    assert list(other.iterdir()) == []


def test_mark_refuses_to_keep_marks_inside_the_evidence(case_dir, evidence_dir, monkeypatch, capsys):
    inside = evidence_dir / "case"
    inside.mkdir()
    monkeypatch.setattr(engine.case, "open_case", lambda path, evidence: FakeCase(Path(path), [evidence_dir]))
    monkeypatch.setattr(engine.hunts, "run_rules", lambda con, rules, overrides=None, now=None: [])
    assert main(["mark", "abc", "--as", "benign", "--case", str(inside)]) == 1
    assert "refusing to keep marks" in capsys.readouterr().err
    assert list(inside.iterdir()) == []


def test_history_shows_who_when_and_from_what_to_what(case, capsys):
    main(["mark", SERVER.finding_id, "--as", "needs-follow-up", "--analyst", "ana", "--case", str(case)])
    main(["mark", SERVER.finding_id, "--as", "true-positive", "--note", "line1\nline2\x1b]0;x",
          "--analyst", "bob", "--case", str(case)])
    capsys.readouterr()
    assert main(["history", SERVER.finding_id, "--case", str(case)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "changed", "at", "finding", "rule", "analyst", "change", "note"]
    assert "ana" in lines[1] and "unreviewed -> needs-follow-up" in lines[1]
    assert "bob" in lines[2] and "needs-follow-up -> true-positive" in lines[2]
    assert lines[2].endswith("line1\\x0aline2\\x1b]0;x") and len(lines) == 3


def test_history_as_json_keeps_the_exact_note(case, capsys):
    main(["mark", FILE.finding_id, "--as", "benign", "--note", "\u00e9\n\"q\"", "--case", str(case)])
    capsys.readouterr()
    assert main(["history", FILE.finding_id, "--case", str(case), "--format", "json"]) == 0
    [change] = json.loads(capsys.readouterr().out)
    assert (change["from"], change["to"], change["note"], change["rule"]) == (
        "unreviewed", "benign", "\u00e9\n\"q\"", RULE_B)
    assert change["changed_at"].endswith("Z")


def test_history_of_an_unmarked_case_creates_no_store(case, capsys):
    assert main(["history", "--case", str(case)]) == 0
    assert "no changes recorded" in capsys.readouterr().out
    assert not (case / "dispositions.sqlite").exists()


def test_export_writes_marked_findings_and_says_where(case, tmp_path, capsys):
    main(["mark", SERVER.finding_id, "--as", "true-positive", "--case", str(case)])
    out = tmp_path / "report.csv"
    assert main(["export", "--case", str(case), "-o", str(out)]) == 0
    assert f"wrote 1 marked findings to {out}" in capsys.readouterr().out
    with out.open(encoding="utf-8", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["finding id"] == SERVER.finding_id
    assert row["AlertNames"] == "'=cmd|' /C calc'!A0"


def test_export_all_and_rule_filter(case, tmp_path):
    out = tmp_path / "report.csv"
    assert main(["export", "--case", str(case), "-o", str(out), "--all", "--rule", "owa-export"]) == 0
    with out.open(encoding="utf-8", newline="") as f:
        assert [r["finding id"] for r in csv.DictReader(f)] == [FILE.finding_id]


def test_export_refuses_an_unknown_rule(case, tmp_path, capsys):
    assert main(["export", "--case", str(case), "-o", str(tmp_path / "r.csv"), "--rule", "nope"]) == 1
    assert "no rule with id or slug" in capsys.readouterr().err


def test_export_refuses_to_write_into_the_evidence_folder(case, evidence_dir, capsys):
    assert main(["export", "--case", str(case), "-o", str(evidence_dir / "r.csv")]) == 1
    assert "evidence" in capsys.readouterr().err
    assert sorted(p.name for p in evidence_dir.iterdir()) == ["u_ex210302.log"]


def test_export_does_not_replace_a_file_without_force(case, tmp_path, capsys):
    out = tmp_path / "report.csv"
    out.write_text("keep me")
    assert main(["export", "--case", str(case), "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["export", "--case", str(case), "-o", str(out), "--force"]) == 0


def test_mark_history_and_export_leave_the_evidence_folder_unchanged(case, evidence_dir, tmp_path):
    before = _snapshot(evidence_dir)
    main(["mark", SERVER.finding_id, FILE.finding_id, "--as", "benign", "--note", "n", "--case", str(case)])
    main(["history", "--case", str(case)])
    main(["export", "--case", str(case), "-o", str(tmp_path / "r.csv"), "--all"])
    main(["export", "--case", str(case), "-o", str(evidence_dir / "r.csv")])
    assert _snapshot(evidence_dir) == before
