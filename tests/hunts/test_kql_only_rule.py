"""A Sentinel rule with only its KQL (no exhunt keys: no slug, sql, parameters, columns,
key_columns) runs from `exhunt hunt --rules DIR` and finds what the built-in rule finds."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.demo import write_demo
from engine.rules import BUILTIN_RULES_DIR, load_rules
from tui.cli import main

SENTINEL_KEYS = ("id", "name", "description", "severity", "requiredDataConnectors",
                 "tactics", "relevantTechniques", "tags", "query", "entityMappings",
                 "version", "metadata")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_demo(root / "evidence")
    return root


def kql_only_copy(folder: Path) -> Path:
    data = yaml.safe_load((BUILTIN_RULES_DIR / "owa-mailbox-export.yaml").read_text())
    plain = {k: data[k] for k in SENTINEL_KEYS if k in data}
    plain["id"] = "0f0e0d0c-0000-4000-8000-000000000011"
    plain["name"] = "OWA export, KQL only"
    folder.mkdir(parents=True)
    path = folder / "OwaExportKqlOnly.yaml"
    path.write_text(yaml.safe_dump(plain, sort_keys=False), encoding="utf-8")
    return path


def one_rule_folder(tmp_path: Path, name: str, text: str) -> Path:
    """A rules folder holding one rule file ``name`` written here."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def normalised(row: dict) -> dict:
    return {k: sorted(v) if isinstance(v, list) else v for k, v in row.items()}


def test_kql_only_rule_defaults_slug_and_finds_the_builtin_rows(demo, tmp_path, capsys):
    folder = tmp_path / "mine"
    kql_only_copy(folder)
    rule = [r for r in load_rules([folder]) if r.source_path.parent == folder][0]
    assert rule.slug == "owaexportkqlonly" and rule.key_columns == () and rule.sql is None

    def jsonl(slug):
        code = main(["hunt", str(demo / "evidence"), "--case", str(demo / "case"),
                     "--rules", str(folder), "--rule", slug, "--format", "jsonl"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]

    mine, builtin = jsonl("owaexportkqlonly"), jsonl("owa-export")
    assert builtin
    key = lambda line: (line["row"]["Computer"], line["row"]["csUriStem"])  # noqa: E731
    assert [normalised(line["row"]) for line in sorted(mine, key=key)] == \
        [normalised(line["row"]) for line in sorted(builtin, key=key)]
    # Key derived from the last summarize's `by` columns: one finding per file.
    assert len({line["finding"] for line in mine}) == len(mine)


def test_derived_key_falls_back_to_every_non_list_column():
    from engine.hunts import derive_key_columns
    assert derive_key_columns(["a", "b", "c"], ["a", "x"], {"b"}) == ("a", "c")
    assert derive_key_columns(["a", "b"], ["b"], {"a"}) == ("b",)


def test_rules_folders_are_searched_recursively_with_folder_form_and_module_checks(tmp_path):
    nested = tmp_path / "pack" / "deep"
    kql_only_copy(nested)
    folder_form = tmp_path / "pack" / "My Hunt"
    folder_form.mkdir()
    (folder_form / "hunt.yaml").write_text(
        "id: 0f0e0d0c-0000-4000-8000-000000000012\nname: Folder form\n"
        "query: W3CIISLog | summarize n = count() by Computer\ncoverage: [always-one]\n")
    (folder_form / "hunt.py").write_text(
        "from engine.coverage import Check\nfrom engine.findings import CoverageNote\n"
        "CHECKS = {'always-one': Check('always-one', {},"
        " lambda con, params: CoverageNote('always-one', 1, 'one'))}\n")
    rules = {r.slug: r for r in load_rules([tmp_path / "pack"])}
    assert {"owaexportkqlonly", "my-hunt"} <= set(rules)
    assert rules["my-hunt"].module_path == folder_form / "hunt.py"
    assert set(rules["my-hunt"].checks) == {"always-one"}


def test_seed_hunts_checks_come_from_their_modules():
    rules = {r.slug: r for r in load_rules()}
    assert set(rules["owa-export"].checks) == set(rules["owa-export"].coverage)
    assert rules["exchange-alerts"].module_path.name == "exchange-servers-alerts.py"
    import engine.coverage
    assert engine.coverage.CHECKS == {}


def test_what_the_compiler_leaves_out_is_a_note_on_the_run(tmp_path):
    import duckdb

    from engine.hunts import KQL_NOTE, run_rule
    from engine.rules import load_rule_file
    from engine.tables import create_tables

    path = tmp_path / "fuzzy.yaml"
    path.write_text("id: 0f0e0d0c-0000-4000-8000-000000000013\nname: Fuzzy union\n"
                    "query: |\n  union isfuzzy=true (W3CIISLog | project cIP),\n"
                    "    (OfficeActivity | project cIP = ClientIP)\n"
                    "  | summarize n = count() by cIP\n")
    con = duckdb.connect()
    create_tables(con)
    run = run_rule(con, load_rule_file(path))
    notes = [n for n in run.notes if n.code == KQL_NOTE]
    assert len(notes) == 1 and "OfficeActivity" in notes[0].message and notes[0].count == 1


@pytest.mark.parametrize("query, ordered", [
    ("W3CIISLog | summarize n = count() by cIP", False),
    ("W3CIISLog | summarize n = count() by cIP | order by n | extend x = 1", True),
    ("W3CIISLog | top 5 by TimeGenerated | project cIP", True),
    ("W3CIISLog | sort by cIP | summarize n = count() by cIP", False),
])
def test_whether_a_query_fixes_its_row_order(query, ordered):
    from engine.hunts import kql_sorts_its_output
    assert kql_sorts_its_output(query) is ordered


def test_an_unsorted_kql_rule_lists_its_findings_in_key_order(demo, tmp_path, capsys):
    folder = one_rule_folder(tmp_path, "PerClient.yaml",
                             "id: 0f0e0d0c-0000-4000-8000-000000000014\nname: Per client\n"
                             "query: W3CIISLog | summarize n = count() by cIP, Computer\n")
    code = main(["hunt", str(demo / "evidence"), "--case", str(demo / "case"),
                 "--rules", str(folder), "--rule", "perclient", "--format", "jsonl"])
    out, err = capsys.readouterr()
    assert code == 0, err
    keys = [(r["row"]["cIP"], r["row"]["Computer"]) for r in map(json.loads, out.splitlines())]
    assert len(keys) > 2 and keys == sorted(keys)


def test_each_rule_is_announced_before_it_runs(demo, tmp_path):
    import duckdb

    from engine.hunts import run_rules
    from engine.tables import create_tables

    con = duckdb.connect()
    create_tables(con)
    rules = load_rules()
    heard = []
    run_rules(con, rules, on_rule=lambda done, total, rule: heard.append((done, total, rule.slug)))
    assert heard == [(i, len(rules), r.slug) for i, r in enumerate(rules)]


def test_a_dropped_in_rule_whose_query_fails_leaves_the_other_hunts_printed_and_exits_1(
        demo, tmp_path, capsys):
    folder = one_rule_folder(tmp_path, "Broken.yaml",
                             "id: 0b0b0b0b-1111-4222-8333-444455556666\nname: Broken regex\n"
                             "query: W3CIISLog | where csUriStem matches regex \"(\" | count\n")
    code = main(["hunt", str(demo / "evidence"), "--case", str(demo / "case"),
                 "--rules", str(folder), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    runs = {run["slug"]: run for run in json.loads(out)["runs"]}
    assert runs["owa-export"]["findings"] and runs["broken"]["findings"] == []
    assert [n["code"] for n in runs["broken"]["notes"]] == ["hunt-failed"]
    assert "note [broken] hunt-failed: this hunt did not run: " in err
