"""`exhunt open` and `exhunt` alone: what the console is asked to open."""
from __future__ import annotations

from pathlib import Path

from tui.cli import build_parser
from tui.commands.open import source_from_args


def parse(*argv: str):
    return build_parser().parse_args(["open", *argv])


def test_no_path_opens_the_demo_case():
    source = source_from_args(parse())
    assert source.demo and source.evidence == []


def test_paths_and_case_are_passed_on(tmp_path):
    source = source_from_args(parse(str(tmp_path / "ev"), "--case", str(tmp_path / "case")))
    assert not source.demo
    assert source.evidence == [tmp_path / "ev"] and source.case_dir == tmp_path / "case"


def test_ingest_options_are_passed_on(tmp_path):
    source = source_from_args(parse(str(tmp_path), "--default-domain", "contoso.com",
                                    "--keep-dash"))
    assert source.options.default_domain == "contoso.com" and source.options.keep_dash


def test_extra_rule_folders_are_passed_on(tmp_path):
    source = source_from_args(parse(str(tmp_path), "--rules", str(tmp_path / "rules")))
    assert source.rules_dirs == [Path(tmp_path / "rules")]


def test_mouse_is_off_unless_asked_for():
    assert parse().mouse is False and parse("--mouse").mouse is True
