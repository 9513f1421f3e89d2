"""The Exchange hunting pack (rules/exchange-pack/): each file is its Sentinel original
(../shared/hunts/sentinel-dev-set) with only exhunt's `slug`/`key_columns` added, and loads
as a built-in KQL-only rule with its Sentinel metadata."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.rules import BUILTIN_RULES_DIR, load_rule_file, load_rules

PACK_DIR = BUILTIN_RULES_DIR / "exchange-pack"
# The only keys a pack file may add to its Sentinel original.
EXHUNT_KEYS = {"slug", "key_columns"}


def pack_files() -> list[Path]:
    return sorted(PACK_DIR.glob("*.yaml"))


def original_of(shared_hunts_dir: Path, pack_file: Path) -> dict:
    return yaml.safe_load((shared_hunts_dir / "sentinel-dev-set" / pack_file.name)
                          .read_text(encoding="utf-8"))


def test_pack_holds_one_file_per_dev_set_query_named_like_it(shared_hunts_dir):
    dev_set = sorted(p.name for p in (shared_hunts_dir / "sentinel-dev-set").glob("*.yaml"))
    assert len(dev_set) == 10
    assert [p.name for p in pack_files()] == dev_set


@pytest.mark.parametrize("pack_file", pack_files(), ids=lambda p: p.stem)
def test_pack_query_is_byte_equal_to_the_sentinel_original(shared_hunts_dir, pack_file):
    mine = yaml.safe_load(pack_file.read_text(encoding="utf-8"))
    assert mine["query"].encode("utf-8") == \
        original_of(shared_hunts_dir, pack_file)["query"].encode("utf-8")


@pytest.mark.parametrize("pack_file", pack_files(), ids=lambda p: p.stem)
def test_pack_file_keeps_every_sentinel_key_and_adds_only_exhunt_keys(shared_hunts_dir,
                                                                       pack_file):
    mine = yaml.safe_load(pack_file.read_text(encoding="utf-8"))
    original = original_of(shared_hunts_dir, pack_file)
    assert {k: v for k, v in mine.items() if k not in EXHUNT_KEYS} == original
    # KQL-only: compiled at run time, nothing hand-written beside the KQL.
    assert "sql" not in mine and "parameters" not in mine


@pytest.mark.parametrize("pack_file", pack_files(), ids=lambda p: p.stem)
def test_pack_rule_loads_with_its_sentinel_metadata(shared_hunts_dir, pack_file):
    original = original_of(shared_hunts_dir, pack_file)
    rule = load_rule_file(pack_file)
    assert (rule.id, rule.name) == (original["id"], original["name"])
    assert rule.sql is None and rule.parameters == ()
    assert rule.tactics == tuple(original["tactics"])
    assert rule.techniques == tuple(original["relevantTechniques"])
    assert rule.entity_mappings == tuple(original.get("entityMappings", []))
    assert rule.severity == original.get("severity", "")
    assert rule.extra["requiredDataConnectors"] == original["requiredDataConnectors"]
    for key in ("version", "metadata", "queryFrequency", "queryPeriod", "kind"):
        if key in original:
            assert rule.extra[key] == original[key]


def test_pack_rules_are_built_in_with_readable_slugs():
    builtin = {r.slug: r for r in load_rules()}
    pack = {r.slug: r for r in builtin.values() if r.source_path.parent == PACK_DIR}
    assert sorted(pack) == sorted([
        "many-user-agents", "proxylogon-uris", "failed-logons", "alert-linked-requests",
        "webshell-commands", "iis-brute-force", "proxyshell", "rare-user-agents",
        "proxytoken", "pentest-user-agents"])
    assert {"exchange-alerts", "owa-export"} <= set(builtin)


def test_pack_files_are_package_data():
    """pyproject's package-data must reach rules/exchange-pack/ (no __init__.py there)."""
    import tomllib
    pyproject = tomllib.loads((BUILTIN_RULES_DIR.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["rules"]
    relative = [p.relative_to(BUILTIN_RULES_DIR) for p in pack_files()]
    assert relative and all(any(r.match(pattern) for pattern in patterns) for r in relative)


def test_exhunt_hunt_lists_the_pack_among_the_built_in_rules(capsys):
    from tui.cli import main
    assert main(["hunt", "--list-rules"]) == 0
    listed = capsys.readouterr().out
    for path in pack_files():
        rule = load_rule_file(path)
        assert f"{rule.slug}  {rule.id}  {rule.name}" in listed
        assert f"from {path}" in listed
