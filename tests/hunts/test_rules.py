"""Rule files: the built-in hunts load with their Sentinel metadata and verbatim KQL; bad
files fail with a message naming file, key and problem; parameters bind by type."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.findings import finding_id
from engine.rules import RuleError, find_rule, load_rules, parse_value, sql_placeholders
from tests.hunts.conftest import add_requests, run

HUNT_A = "84026aa0-7020-45d0-9f85-d526e43de2ab"
HUNT_B = "a523786c-8382-4029-80e9-f1a7ecd067c1"


def test_builtin_rules_have_sentinel_ids_and_slugs():
    rules = load_rules()
    assert find_rule(rules, "exchange-alerts").id == HUNT_A
    assert find_rule(rules, HUNT_B.upper()).slug == "owa-export"


@pytest.mark.parametrize("rule_file, original", [
    ("exchange-servers-alerts.yaml", "ExchangeServersAssociatedSecurityAlerts.yaml"),
    ("owa-mailbox-export.yaml", "SuspectedMailBoxExportHostonOWA.yaml")])
def test_rule_keeps_original_query_and_metadata_verbatim(shared_hunts_dir, rule_file, original):
    ours = yaml.safe_load((Path("rules") / rule_file).read_text())
    theirs = yaml.safe_load((shared_hunts_dir / original).read_text())
    assert {k: ours.get(k) for k in theirs} == theirs


def test_key_columns_are_the_issue_s():
    rules = {r.slug: r for r in load_rules()}
    assert rules["exchange-alerts"].key_columns == ("ExchangeServer",)
    assert rules["owa-export"].key_columns == ("TenantId", "Computer", "csUriStem")


def test_finding_id_depends_on_rule_and_key_only(db):
    add_requests(db, {"csUriStem": "/owa/x.png", "Computer": "c", "TenantId": "t"})
    first = run(db, "owa-export").findings[0]
    add_requests(db, {"csUriStem": "/owa/x.png", "Computer": "c", "TenantId": "t"})
    again = run(db, "owa-export").findings[0]
    assert first.row != again.row
    assert first.finding_id == again.finding_id == finding_id(HUNT_B, ("t", "c", "/owa/x.png"))


def _write(tmp_path, text: str) -> Path:
    (tmp_path / "r.yaml").write_text(text)
    return tmp_path


GOOD = """id: 11111111-0000-0000-0000-000000000000
slug: mine
name: Mine
query: W3CIISLog | take 1
key_columns: [Computer]
sql: SELECT Computer FROM W3CIISLog WHERE sPort = $port
parameters:
  - {name: port, type: int, default: 443}
"""


def test_extra_rule_folder_is_loaded(tmp_path):
    rules = load_rules([_write(tmp_path, GOOD)])
    assert find_rule(rules, "mine").parameters[0].default == 443


@pytest.mark.parametrize("change, message", [
    (("slug: mine", "slug: Mine!"), "key 'slug'"),
    (("key_columns: [Computer]\n", ""), "key 'key_columns': missing"),
    (("default: 443", "default: x"), "parameters[0]' (port): 'default'"),
    (("type: int", "type: float"), "'type' must be one of"),
    (("$port", "$other"), "uses $other"),
    (("name: Mine", "name: [1]"), "key 'name': must be text"),
])
def test_bad_rule_file_error_names_file_and_key(tmp_path, change, message):
    folder = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(RuleError) as exc:
        load_rules([folder])
    assert str(folder / "r.yaml") in str(exc.value) and message in str(exc.value)


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(RuleError, match=r"r\.yaml: line \d+"):
        load_rules([_write(tmp_path, "id: [\n")])


def test_duplicate_id_is_an_error(tmp_path):
    with pytest.raises(RuleError, match="already used"):
        load_rules([_write(tmp_path, GOOD.replace("11111111-0000-0000-0000-000000000000", HUNT_A))])


def test_json_paths_in_sql_literals_are_not_parameters():
    assert sql_placeholders("SELECT json_type(x, '$.Type'), $a -- $b\n FROM t") == ["a"]


@pytest.mark.parametrize("ptype, text, value", [
    ("list[string]", "a,b", ["a", "b"]), ("list[string]", '["a,b"]', ["a,b"]),
    ("list[string]", "", []), ("int", " 3 ", 3), ("bool", "yes", True)])
def test_set_values_parse_by_type(ptype, text, value):
    assert parse_value(ptype, text) == value


def test_unknown_override_is_an_error(db):
    with pytest.raises(RuleError, match="no parameter"):
        run(db, "owa-export", nope=1)
