"""The demo case, written and ingested once per module, and the pack run on it through the
`exhunt hunt` command (jsonl), the way an analyst runs it."""
from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.demo import DEMO_NOW, DemoSummary, write_demo
from engine.rules import BUILTIN_RULES_DIR, load_rules
from tui.cli import main

PACK_DIR = BUILTIN_RULES_DIR / "exchange-pack"


def pack_slugs() -> list[str]:
    return [r.slug for r in load_rules() if r.source_path.parent == PACK_DIR]


def iso(ts: datetime) -> str:
    """A whole-second UTC time as exhunt's json/jsonl writes it."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def hunt_jsonl(evidence: Path, case: Path, slugs: list[str], *options: str) -> dict[str, list[dict[str, Any]]]:
    """`exhunt hunt EVIDENCE --case CASE --rule S... --format jsonl OPTIONS`: the jsonl lines
    ({rule, finding, row}) by rule slug (every slug present, possibly with no lines)."""
    argv = ["hunt", str(evidence), "--case", str(case), "--format", "jsonl", *options]
    for slug in slugs:
        argv += ["--rule", slug]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == 0, err.getvalue()
    by_id = {r.id: r.slug for r in load_rules()}
    lines: dict[str, list[dict[str, Any]]] = {slug: [] for slug in slugs}
    for line in out.getvalue().splitlines():
        item = json.loads(line)
        lines[by_id[item["rule"]]].append(item)
    return lines


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pack-demo")


@pytest.fixture(scope="module")
def demo(demo_root) -> DemoSummary:
    return write_demo(demo_root / "evidence")


@pytest.fixture(scope="module")
def pack_run(demo, demo_root) -> dict[str, list[dict[str, Any]]]:
    """Every pack rule on the demo case at DEMO_NOW (the demo's collection time)."""
    return hunt_jsonl(demo.dest, demo_root / "case", pack_slugs(), "--now", iso(DEMO_NOW))


@pytest.fixture(scope="module")
def rows(pack_run):
    """slug -> the output rows of that rule."""
    def of(slug: str) -> list[dict[str, Any]]:
        return [line["row"] for line in pack_run[slug]]
    return of
