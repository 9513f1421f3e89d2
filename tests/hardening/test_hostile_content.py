"""Hostile text in evidence, parameters, queries and rule files: spreadsheet formulas stay
inert in every exported field, SQL and regex metacharacters are matched literally and never
change a query, and an export path can never land on or beside the evidence."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from . import corpus
from .known_bugs import CASE_INSIDE_EVIDENCE, xfail
from .harness import REPO, fingerprint, ingest, run_cli, scan_cli

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_TENANT = "=HYPERLINK(\"http://evil\",\"t\")"
HOSTILE_STEM = "@SUM(1)/owa/auth/=1+2.png"  # hunt B: file_name "=1+2.png"
HOSTILE_B_COMPUTER = "-2+3.contoso.com"
HOSTILE_A_HOST, HOSTILE_A_DOMAIN = "+exch01", "contoso.com"  # hunt A: "+exch01.contoso.com"
HOSTILE_ALERT_NAMES = ("=cmd|' /C calc'!A0", "\tTabbed alert", "\rCarriage alert", "@alert")
HOSTILE_NOTE = "=1+1\nsecond line, with \"quotes\" and a comma"
HOSTILE_ANALYST = "@analyst"


def _hostile_evidence(root: Path) -> None:
    """Evidence whose findings carry a formula start in every field the evidence controls."""
    iis = []
    for i in range(2):
        record = corpus.w3ciislog_record(i, stem=HOSTILE_STEM)
        record.update(TenantId=HOSTILE_TENANT, Computer=HOSTILE_B_COMPUTER, cIP="203.0.113.66")
        iis.append(record)
    a_server = f"{HOSTILE_A_HOST}.{HOSTILE_A_DOMAIN}".upper()
    iis.append(corpus.w3ciislog_record(5, stem="/owa/auth/logon.aspx") | {"Computer": a_server})
    (root / "iis.jsonl").write_bytes(corpus.to_jsonl(iis))
    alerts = []
    for n, name in enumerate(HOSTILE_ALERT_NAMES):
        record = corpus.securityalert_record(
            n, entities=[corpus.host_entity(1, HOSTILE_A_HOST, HOSTILE_A_DOMAIN)]
        )
        record.update(AlertName=name, DisplayName=name, TenantId=HOSTILE_TENANT)
        alerts.append(record)
    (root / "alerts.csv").write_bytes(corpus.to_csv(alerts))


def _hostile_rule_dir(root: Path) -> Path:
    """A copy of hunt B under a new id whose name is a formula."""
    rules = root / "rules"
    rules.mkdir()
    data = yaml.safe_load((REPO / "rules" / "owa-mailbox-export.yaml").read_text())
    data.update(id=str(uuid.UUID(int=66)), slug="owa-export-formula",
                name="=HYPERLINK(\"http://evil\",\"rule\")")
    (rules / "formula.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return rules


def _finding_ids(case_dir: Path, rule_dirs: list[Path]) -> dict[str, list[str]]:
    from engine.case import open_case
    from engine.hunts import run_rules
    from engine.rules import load_rules

    con = open_case(case_dir, []).connect()
    try:
        runs = run_rules(con, load_rules(rule_dirs))
    finally:
        con.close()
    return {run.rule_slug: [f.finding_id for f in run.findings] for run in runs}


def test_no_exported_cell_starts_a_formula_whatever_field_the_attacker_controls(tmp_path, evidence_dir):
    _hostile_evidence(evidence_dir)
    rules = _hostile_rule_dir(tmp_path)
    case_dir = tmp_path / "case"
    scanned = scan_cli([evidence_dir], case_dir)
    assert scanned.returncode == 0, scanned.stderr
    by_rule = _finding_ids(case_dir, [rules])
    # Hunt A: both servers serve /owa/auth/ (one has alerts); hunt B and its formula-named
    # copy: the exported file.
    seed = [i for slug in ("exchange-alerts", "owa-export", "owa-export-formula") for i in by_rule[slug]]
    assert len(seed) == 4, by_rule
    # The built-in Exchange pack finds some of the hostile requests too: marked and exported
    # with the rest, so their cells face the same check.
    ids = [i for found in by_rule.values() for i in found]
    marked = run_cli("mark", *ids, "--as", "true-positive", "--note", HOSTILE_NOTE,
                     "--analyst", HOSTILE_ANALYST, "--case", case_dir, "--rules", rules)
    assert marked.returncode == 0, marked.stderr
    out = tmp_path / "export.csv"
    exported = run_cli("export", "--case", case_dir, "-o", out, "--all", "--rules", rules)
    assert exported.returncode == 0, exported.stderr

    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == len(ids)
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), f"live formula cell {cell!r} in {row}"
    # The test only proves something if hostile values reached every field they can reach.
    neutralised = {header[i] for row in body for i, cell in enumerate(row) if cell.startswith("'")}
    expected = {"rule name", "note", "analyst", "TenantId", "csUriStem", "file_name",
                "Computer", "HostCustomEntity", "ExchangeServer", "AlertNames"}
    assert expected <= neutralised, expected - neutralised
    notes = {row[header.index("note")] for row in body}
    assert notes == {"'" + HOSTILE_NOTE}, notes  # one leading quote, the rest exact


def test_formula_cells_are_inert_in_the_kql_csv_output_too(tmp_path, evidence_dir):
    _hostile_evidence(evidence_dir)
    result = run_cli("kql", "SecurityAlert | project AlertName, TenantId", evidence_dir,
                     "--case", tmp_path / "case", "--format", "csv")
    assert result.returncode == 0, result.stderr
    cells = [c for row in csv.reader(io.StringIO(result.stdout)) for c in row]
    assert cells and not [c for c in cells if c.startswith(FORMULA_STARTS)]


# ---------------------------------------------------------------------------------------
# SQL and regex metacharacters
# ---------------------------------------------------------------------------------------
METACHAR_STEMS = [
    "/owa/x';DROP_TABLE_W3CIISLog;--.png",
    "/owa/100%_done.png",
    "/owa/a?b$1{0}.png",
    "/owa/back\\slash.png",
    "/owa/dq\"uote.png",
    "/owa/star.*(paren.png",
    "/owa/pipe|or[x].png",
    "/owa/comment/*x*/.png",
]
DECOYS = ["/owa/100ab.png", "/owa/abb1x.png", "/owa/starXX.png", "/owa/x.png"]


def _metachar_case(tmp_path: Path, evidence_dir: Path):
    body = corpus.w3c_header() + "".join(
        corpus.w3c_row(i, stem=stem) + "\n" for i, stem in enumerate(METACHAR_STEMS + DECOYS)
    )
    (evidence_dir / "u_ex210302.log").write_text(body)
    case, report = ingest(tmp_path / "case", [evidence_dir])
    assert report["tables"]["W3CIISLog"] == len(METACHAR_STEMS + DECOYS)
    return case


def _kql_string(text: str) -> str:
    """A KQL double-quoted string literal (backslash escapes, as in KQL)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("stem", METACHAR_STEMS)
def test_a_search_string_full_of_sql_metacharacters_matches_only_itself(tmp_path, evidence_dir, stem):
    from engine.kql import compile_kql

    case = _metachar_case(tmp_path, evidence_dir)
    con = case.connect()
    try:
        for op in ("contains", "==", "has", "startswith", "endswith", "=~"):
            query = f"W3CIISLog | where csUriStem {op} {_kql_string(stem)} | project csUriStem"
            compiled = compile_kql(query)
            assert stem not in compiled.sql, f"the value was formatted into the SQL: {compiled.sql}"
            got = [r[0] for r in compiled.execute(con).fetchall()]
            assert got == [stem], (op, got)
        total = con.execute('SELECT count(*) FROM "W3CIISLog"').fetchone()[0]
        assert total == len(METACHAR_STEMS + DECOYS)
    finally:
        con.close()


def test_rule_parameters_full_of_metacharacters_are_values_not_sql(tmp_path, evidence_dir):
    from engine.hunts import run_rules
    from engine.rules import load_rules

    case = _metachar_case(tmp_path, evidence_dir)
    con = case.connect()
    try:
        rules = load_rules()
        baseline = run_rules(con, rules)
        hostile = ["'; DROP VIEW W3CIISLog; --", "\") OR 1=1 --", "%", "_", ".*", "(", "\\", "$1"]
        overrides = {
            "excluded_ips": json.dumps(["127.0.0.1", "::1", *hostile]),
            "scripting_extensions": json.dumps(["aspx", "ashx", "asp", *hostile]),
        }
        again = run_rules(con, rules, overrides)
        assert [len(r.findings) for r in again] == [len(r.findings) for r in baseline]
        # Regex metacharacters as Exchange paths match only literally: no stem holds these.
        regexes = [".+", "[a-z]+", "a|b", "^/", "x{0}", "(?i)OWA"]
        only_regex = run_rules(con, rules, {"exchange_paths": json.dumps(regexes)})
        assert only_regex[0].findings == []
        total = con.execute('SELECT count(*) FROM "W3CIISLog"').fetchone()[0]
        assert total == len(METACHAR_STEMS + DECOYS)
    finally:
        con.close()


def test_a_rule_file_with_metacharacters_in_every_text_field_runs_as_written(tmp_path, evidence_dir):
    from engine.hunts import run_rule
    from engine.rules import load_rules

    case = _metachar_case(tmp_path, evidence_dir)
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    needle = METACHAR_STEMS[0]
    rule = {
        "id": str(uuid.UUID(int=77)),
        "slug": "metachar-rule",
        "name": "x'; DROP TABLE W3CIISLog; -- [link=http://evil]y[/link]",
        "description": "'); DELETE FROM SecurityAlert; --",
        "severity": "Low",
        "tactics": ["Exfiltration"],
        "relevantTechniques": ["T1567"],
        "query": f"W3CIISLog\n| where csUriStem == {_kql_string(needle)}\n"
                 "| summarize Access = count() by csUriStem, Computer\n",
        "key_columns": ["csUriStem", "Computer"],
    }
    (rules_dir / "metachar.yaml").write_text(yaml.safe_dump(rule, sort_keys=False))
    (loaded,) = [r for r in load_rules([rules_dir]) if r.slug == "metachar-rule"]
    con = case.connect()
    try:
        run = run_rule(con, loaded)
        assert [f.row["csUriStem"] for f in run.findings] == [needle]
        assert con.execute('SELECT count(*) FROM "W3CIISLog"').fetchone()[0] == len(
            METACHAR_STEMS + DECOYS
        )
    finally:
        con.close()


# ---------------------------------------------------------------------------------------
# Export paths
# ---------------------------------------------------------------------------------------
@pytest.fixture
def marked_case(tmp_path, evidence_dir):
    _hostile_evidence(evidence_dir)
    case_dir = tmp_path / "case"
    scanned = scan_cli([evidence_dir], case_dir)
    assert scanned.returncode == 0, scanned.stderr
    return case_dir


def _traversal_targets(tmp_path: Path, evidence_dir: Path) -> dict[str, Path]:
    link_dir = tmp_path / "looks-elsewhere"
    link_dir.symlink_to(evidence_dir)
    out_link = tmp_path / "out-link.csv"
    out_link.symlink_to(evidence_dir / "alerts.csv")
    dangling_into = tmp_path / "dangling.csv"
    dangling_into.symlink_to(evidence_dir / "new-file.csv")
    return {
        "over-an-evidence-file": evidence_dir / "alerts.csv",
        "inside-evidence": evidence_dir / "export.csv",
        "dot-dot-back-into-evidence": tmp_path / "elsewhere" / ".." / "evidence" / "x.csv",
        "through-a-linked-folder": link_dir / "x.csv",
        "a-link-to-an-evidence-file": out_link,
        "a-dangling-link-into-evidence": dangling_into,
        "the-evidence-folder-itself": evidence_dir,
        "relative-dot-dot": Path(os.path.relpath(evidence_dir / "rel.csv", REPO)),
    }


def test_no_export_path_reaches_the_evidence(tmp_path, evidence_dir, marked_case):
    (tmp_path / "elsewhere").mkdir()
    before = fingerprint(evidence_dir)
    for label, target in _traversal_targets(tmp_path, evidence_dir).items():
        result = run_cli("export", "--case", marked_case, "-o", target, "--all", "--force")
        result.assert_no_traceback()
        assert result.returncode != 0, f"{label}: export to {target} was accepted"
        assert result.stderr.strip(), label
        assert fingerprint(evidence_dir) == before, f"{label}: evidence changed"


def test_an_export_through_dot_dot_elsewhere_is_written_where_it_resolves(tmp_path, marked_case):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    target = tmp_path / "a" / ".." / "b" / "out.csv"
    result = run_cli("export", "--case", marked_case, "-o", target, "--all")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b" / "out.csv").is_file()


@xfail(CASE_INSIDE_EVIDENCE)
def test_a_case_folder_inside_the_evidence_is_refused(evidence_dir):
    (evidence_dir / "u_ex210302.log").write_bytes(corpus.w3c_seed(rows=2))
    before = fingerprint(evidence_dir)
    result = scan_cli([evidence_dir], evidence_dir / "case")
    result.assert_no_traceback()
    assert result.returncode != 0, "a case inside the evidence writes beside the evidence"
    assert fingerprint(evidence_dir) == before
    shutil.rmtree(evidence_dir / "case", ignore_errors=True)


def test_a_case_inside_the_evidence_is_never_read_back_as_evidence(evidence_dir):
    (evidence_dir / "u_ex210302.log").write_bytes(corpus.w3c_seed(rows=2))
    case_dir = evidence_dir / "case"
    first = scan_cli([evidence_dir], case_dir)
    second = scan_cli([evidence_dir], case_dir)
    shutil.rmtree(case_dir, ignore_errors=True)
    if first.returncode != 0:
        return  # refused: nothing to read back
    assert second.report["tables"]["W3CIISLog"] == 2, second.report["tables"]


def test_hunt_set_values_full_of_metacharacters_change_no_result_and_no_table(tmp_path, evidence_dir):
    """`exhunt hunt --set` end to end: hostile values are extra list items that match
    nothing, the findings are the same as without them, and the case is intact."""
    body = corpus.w3c_header() + "".join(
        corpus.w3c_row(i, stem=stem) + "\n" for i, stem in enumerate(METACHAR_STEMS + DECOYS)
    )
    (evidence_dir / "u_ex210302.log").write_text(body)
    case_dir = tmp_path / "case"
    plain = run_cli("hunt", evidence_dir, "--case", case_dir, "--format", "json")
    assert plain.returncode == 0, plain.stderr
    hostile = ["'; DROP VIEW W3CIISLog; --", "\") OR 1=1 --", "%", "_", "$1", "?", "\\"]
    sets = []
    for name in ("excluded_ips", "scripting_extensions"):
        sets += ["--set", f"{name}={json.dumps(['127.0.0.1', '::1', 'aspx', 'ashx', 'asp', *hostile])}"]
    again = run_cli("hunt", evidence_dir, "--case", case_dir, "--format", "json", *sets)
    again.assert_no_traceback()
    assert again.returncode == 0, again.stderr

    def finding_ids(result) -> list[str]:
        return sorted(f["finding"] for run in json.loads(result.stdout)["runs"]
                      for f in run["findings"])

    assert finding_ids(plain), "the evidence should give findings to compare"
    assert finding_ids(again) == finding_ids(plain)
    count = run_cli("kql", "W3CIISLog | count", evidence_dir, "--case", case_dir,
                    "--format", "json")
    assert json.loads(count.stdout)[0]["Count"] == len(METACHAR_STEMS + DECOYS)
