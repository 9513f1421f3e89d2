"""End to end on the demo case: marks hang on finding ids, survive re-ingest, and export."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from engine.findings import finding_id
from tests.dispositions.test_commands import main

demo = pytest.importorskip("engine.demo")
case_module = pytest.importorskip("engine.case")
pytest.importorskip("engine.ingest")
pytest.importorskip("engine.hunts")
pytest.importorskip("engine.rules")

RULE_B = "a523786c-8382-4029-80e9-f1a7ecd067c1"


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_marks_survive_reingest_and_export_with_the_hunt_columns(tmp_path):
    evidence, case_dir = tmp_path / "evidence", tmp_path / "case"
    summary = demo.write_demo(evidence)
    planted = summary.hunt_b[0]  # the demo's planted mailbox export
    target = finding_id(RULE_B, (planted.tenant_id, planted.computer, planted.cs_uri_stem))
    case = case_module.open_case(case_dir, [evidence])
    case.ingest([evidence])
    before = _snapshot(evidence)

    assert main(["mark", target, "--as", "true-positive", "--note", "=exfil",
                 "--case", str(case_dir)]) == 0
    case.ingest([evidence])  # re-ingest: the finding keeps its id, the mark stays on it
    out = tmp_path / "marked.csv"
    assert main(["export", "--case", str(case_dir), "-o", str(out), "--rule", RULE_B]) == 0

    with out.open(encoding="utf-8", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert (row["finding id"], row["rule id"], row["disposition"], row["note"],
            row["finding status"]) == (target, RULE_B, "true-positive", "'=exfil", "present")
    assert row["csUriStem"] == planted.cs_uri_stem
    assert _snapshot(evidence) == before
