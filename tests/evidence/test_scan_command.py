"""``exhunt scan``: the JSON report shape of issue 2, the table, --bad-lines."""
from __future__ import annotations

import argparse
import json

from tests.evidence.helpers import FIELDS, IIS_HEAD, row, write
from tui.commands import scan


def _run(argv: list[str], capsys) -> str:
    parser = argparse.ArgumentParser()
    scan.register(parser.add_subparsers())
    args = parser.parse_args(["scan", *argv])
    assert args.func(args) == 0
    return capsys.readouterr()


def _evidence(tmp_path):
    ev = tmp_path / "ev"
    write(ev / "EXCH01/W3SVC1/u.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\nshort line\r\n")
    write(ev / "notes.md", "hello\n")
    return ev


def test_json_report_has_exactly_the_documented_shape(tmp_path, capsys):
    ev = _evidence(tmp_path)
    out = _run([str(ev), "--case", str(tmp_path / "case"), "--format", "json"], capsys).out
    data = json.loads(out)
    assert data["tables"] == {"W3CIISLog": 1, "SecurityAlert": 0}
    first, second = data["files"]
    assert {k: first[k] for k in ("path", "kind", "computer", "rows", "bad_lines", "reason")} == {
        "path": str(ev / "EXCH01/W3SVC1/u.log"), "kind": "iis-w3c", "computer": "EXCH01",
        "rows": 1, "bad_lines": 1, "reason": None}
    assert (second["kind"], second["computer"], second["rows"]) == ("skipped", None, 0)
    assert isinstance(second["reason"], str)


def test_bad_lines_are_listed_with_file_line_and_text(tmp_path, capsys):
    ev = _evidence(tmp_path)
    out = _run([str(ev), "--case", str(tmp_path / "case"), "--bad-lines"], capsys).out
    assert f"{ev / 'EXCH01/W3SVC1/u.log'}:6: short line" in out


def test_default_output_is_a_readable_table_and_no_progress_without_a_terminal(tmp_path, capsys):
    captured = _run([str(_evidence(tmp_path)), "--case", str(tmp_path / "case")], capsys)
    assert captured.out.splitlines()[0].split()[:4] == ["KIND", "ROWS", "BAD", "COMPUTER"]
    assert "W3CIISLog: 1 rows" in captured.out
    assert captured.err == ""


def test_control_characters_in_evidence_are_shown_as_escapes(tmp_path, capsys):
    ev = tmp_path / "ev"
    write(ev / "S1/u.log", IIS_HEAD + FIELDS + "\r\nbad\x1b[31m line\r\n")
    out = _run([str(ev), "--case", str(tmp_path / "case"), "--bad-lines"], capsys).out
    assert "\x1b" not in out and "\\x1b[31m" in out


def test_case_alone_rescans_its_recorded_evidence(tmp_path, capsys):
    ev = _evidence(tmp_path)
    _run([str(ev), "--case", str(tmp_path / "case")], capsys)
    data = json.loads(_run(["--case", str(tmp_path / "case"), "--format", "json"], capsys).out)
    assert data["files_cached"] == 2 and data["tables"]["W3CIISLog"] == 1
