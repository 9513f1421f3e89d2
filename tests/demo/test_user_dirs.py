"""The built-in demo lives in the user's data directory and never overwrites anything else."""
from __future__ import annotations

import pytest

from engine.demo import DemoError, demo_case_dir, demo_evidence_dir, is_demo_folder, write_demo


def test_demo_evidence_dir_is_written_on_first_use_under_user_data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = demo_evidence_dir()
    assert path == tmp_path / "exhunt" / "demo" / "evidence"
    assert is_demo_folder(path)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".evidence-")]


def test_demo_evidence_dir_reuses_an_existing_demo_without_rewriting(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    first = demo_evidence_dir()
    readme = first / "README.txt"
    before = readme.stat().st_mtime_ns
    assert demo_evidence_dir() == first
    assert readme.stat().st_mtime_ns == before


def test_demo_case_dir_is_beside_the_evidence(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert demo_case_dir() == tmp_path / "exhunt" / "demo" / "case"
    assert demo_case_dir().is_dir()


def test_write_demo_refuses_a_non_empty_folder_that_is_not_a_demo(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DemoError):
        write_demo(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_write_demo_refuses_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DemoError):
        write_demo(target)


def test_rewriting_a_demo_keeps_files_the_user_added(tmp_path):
    write_demo(tmp_path)
    (tmp_path / "my-notes.txt").write_text("keep me")
    write_demo(tmp_path)
    assert (tmp_path / "my-notes.txt").read_text() == "keep me"


def test_an_empty_existing_folder_is_accepted(tmp_path):
    summary = write_demo(tmp_path)
    assert summary.dest == tmp_path and is_demo_folder(tmp_path)


def test_rewriting_a_demo_keeps_folders_the_user_added(tmp_path):
    write_demo(tmp_path)
    (tmp_path / "EXCH01.contoso.com" / "notes").mkdir()
    write_demo(tmp_path)
    assert (tmp_path / "EXCH01.contoso.com" / "notes").is_dir()


def test_rewriting_a_demo_removes_what_the_previous_demo_listed(tmp_path):
    write_demo(tmp_path)
    readme = tmp_path / "README.txt"
    # Pretend an older demo also wrote a file that this version no longer writes.
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "gone.log").write_text("x")
    digest = "0" * 64
    readme.write_bytes(readme.read_bytes() + f"{digest}  old/gone.log\r\n".encode())
    write_demo(tmp_path)
    assert not (tmp_path / "old").exists()
