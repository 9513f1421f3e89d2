"""Evidence is read-only: after every command (scan, hunt, kql, mark, history, export, and
the console) each evidence file has the same bytes, size, mode and modification time, and
nothing new appeared in or beside the evidence folder."""
from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from . import corpus
from .harness import fingerprint, run_cli

OLD = 1_600_000_000  # 2020-09-13: an mtime no command run today can produce by accident


def _write_evidence(root: Path) -> None:
    server = root / "EXCH01" / "W3SVC1"
    server.mkdir(parents=True)
    (server / "u_ex210302.log").write_bytes(
        corpus.w3c_seed(rows=5)
        + corpus.w3c_row(7, stem="/owa/auth/dump.zip").encode() + b"\n"
    )
    (server / "u_ex210301.log.gz").write_bytes(corpus.gzip_bytes(corpus.w3c_seed(rows=3)))
    (root / "alerts.csv").write_bytes(corpus.to_csv([corpus.securityalert_record(i) for i in range(3)]))
    (root / "iis.json").write_bytes(corpus.to_json_array([corpus.w3ciislog_record(i) for i in range(3)]))
    (root / "iis.parquet").write_bytes(corpus.to_parquet([corpus.w3ciislog_record(i) for i in range(2)]))
    (root / "notes.txt").write_text("not evidence the tool reads\n")
    (root / "bad.log").write_bytes(corpus.w3c_seed(rows=2) + b"too few fields\n")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (OLD, OLD), follow_symlinks=False)


@pytest.fixture
def evidence_parent(tmp_path) -> Path:
    """A folder holding only the evidence folder: anything written beside it shows up."""
    parent = tmp_path / "seized"
    (parent / "evidence").mkdir(parents=True)
    _write_evidence(parent / "evidence")
    os.utime(parent, (OLD, OLD))
    return parent


def _finding_ids(case_dir: Path) -> list[str]:
    from engine.case import open_case
    from engine.hunts import run_rules
    from engine.rules import load_rules

    con = open_case(case_dir, []).connect()
    try:
        return [f.finding_id for run in run_rules(con, load_rules()) for f in run.findings]
    finally:
        con.close()


def _run_console(evidence: Path, case_dir: Path) -> None:
    from tui.app import ExhuntApp
    from tui.screens.state import CaseSource

    async def drive():
        app = ExhuntApp(CaseSource(evidence=[evidence], case_dir=case_dir))
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(400):
                await app.workers.wait_for_complete()
                await pilot.pause()
                if app.main.data is not None:
                    break
            assert app.main.data is not None, "the console never loaded the case"
            for key in ("2", "3", "t", "1", "r"):
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
            await pilot.press("q")

    asyncio.run(drive())


def test_no_command_changes_or_adds_anything_in_or_beside_the_evidence(tmp_path, evidence_parent):
    evidence = evidence_parent / "evidence"
    case = tmp_path / "case"
    before = fingerprint(evidence_parent)
    assert len(before) > 8

    def unchanged(step: str) -> None:
        after = fingerprint(evidence_parent)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        assert not changed, f"{step} changed the evidence: {changed}"

    steps = [
        ("scan", ["scan", evidence, "--case", case, "--format", "json"]),
        ("scan again", ["scan", evidence, "--case", case, "--bad-lines"]),
        ("scan without --case", ["scan", evidence]),
        ("hunt", ["hunt", evidence, "--case", case]),
        ("kql", ["kql", "W3CIISLog | summarize count() by Computer", evidence, "--case", case]),
    ]
    for step, args in steps:
        result = run_cli(*args)
        assert result.returncode == 0, f"{step}: {result.stderr}"
        unchanged(step)

    ids = _finding_ids(case)
    assert ids, "the evidence should give at least one finding to mark"
    for step, args in [
        ("mark", ["mark", ids[0], "--as", "true-positive", "--note", "seen", "--case", case]),
        ("history", ["history", ids[0], "--case", case]),
        ("export", ["export", "--case", case, "-o", tmp_path / "out.csv", "--all"]),
    ]:
        result = run_cli(*args)
        assert result.returncode == 0, f"{step}: {result.stderr}"
        unchanged(step)

    _run_console(evidence, case)
    unchanged("the console")


@pytest.fixture
def read_only_evidence(evidence_parent):
    """The evidence folder bind-mounted read-only over itself: a write attempt fails loudly."""
    evidence = evidence_parent / "evidence"
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(evidence), str(evidence)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here: {done.stderr.strip()}")
    # Older kernels ignore ro on the first bind; remount makes it stick.
    subprocess.run(["mount", "-o", "remount,bind,ro", str(evidence)], capture_output=True)
    try:
        probe = evidence / ".probe"
        try:
            probe.write_bytes(b"x")
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip("the read-only bind mount does not stop writes here")
        yield evidence
    finally:
        subprocess.run(["umount", "-l", str(evidence)], capture_output=True)


def test_every_command_works_on_evidence_mounted_read_only(tmp_path, read_only_evidence):
    case = tmp_path / "case"
    for step, args in [
        ("scan", ["scan", read_only_evidence, "--case", case, "--format", "json"]),
        ("hunt", ["hunt", read_only_evidence, "--case", case]),
        ("kql", ["kql", "SecurityAlert | take 1", read_only_evidence, "--case", case]),
    ]:
        result = run_cli(*args)
        result.assert_no_traceback()
        assert result.returncode == 0, f"{step}: {result.stderr}"
    _run_console(read_only_evidence, case)
