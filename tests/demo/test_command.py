"""`exhunt demo [DIR]` writes the demo and says what it wrote."""
from __future__ import annotations

import argparse

from tui.commands import demo as demo_command


def _exhunt_demo(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="exhunt")
    demo_command.register(parser.add_subparsers())
    args = parser.parse_args(["demo", *argv])
    return args.func(args)


def test_writes_the_folder_and_lists_files_and_planted_findings(tmp_path, capsys):
    assert _exhunt_demo(str(tmp_path / "ev")) == 0
    out = capsys.readouterr().out
    assert "bg_outlook.zip" in out and "u_ex210301.log" in out and "skipped" in out
    assert (tmp_path / "ev" / "README.txt").is_file()


def test_quiet_prints_only_the_folder(tmp_path, capsys):
    assert _exhunt_demo(str(tmp_path / "ev"), "--quiet") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ev")


def test_refuses_a_folder_holding_other_files_and_leaves_it_alone(tmp_path, capsys):
    (tmp_path / "evidence.log").write_text("real evidence")
    assert _exhunt_demo(str(tmp_path)) == 2
    assert "not an exhunt demo folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["evidence.log"]


def test_without_dir_writes_the_built_in_demo_in_the_user_data_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert _exhunt_demo("--quiet") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "data" / "exhunt" / "demo" / "evidence")
