"""Things in an evidence folder that are not ordinary files, or are files with odd names:
empty files, folders named like logs, link loops, FIFOs, unreadable files, broken gzip and
names no terminal should print. exhunt accounts for each and never hangs on any."""
from __future__ import annotations

import ctypes
import gzip
import os
import subprocess
import sys

import pytest

from . import corpus
from .harness import (brief, briefs, check_report, column_values, ingest, missing_markers,
                      run_cli, scan_cli)


def test_empty_and_blank_files_are_skipped_with_a_reason(evidence_dir, case_dir):
    (evidence_dir / "u_ex210101.log").write_bytes(b"")
    (evidence_dir / "u_ex210102.log").write_bytes(b"\n\r\n   \n\t\n")
    (evidence_dir / "alerts.csv").write_bytes(b"")
    (evidence_dir / "alerts.json").write_bytes(b"[]")
    (evidence_dir / "alerts.jsonl").write_bytes(b"\n\n")
    (evidence_dir / "empty.parquet").write_bytes(b"")
    (evidence_dir / "empty.log.gz").write_bytes(gzip.compress(b""))
    _case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert all(e["kind"] == "skipped" for e in entries.values()), briefs(entries.values())
    assert (report["tables"]["W3CIISLog"], report["tables"]["SecurityAlert"]) == (0, 0)


def test_a_folder_named_like_a_log_file_is_walked_not_read(evidence_dir, case_dir):
    folder = evidence_dir / "u_ex210101.log"
    folder.mkdir()
    data, markers = corpus.w3c_sandwich("dirname", b"")
    (folder / "u_ex210102.log").write_bytes(data)
    (evidence_dir / "alerts.csv").mkdir()
    (evidence_dir / "export.parquet").mkdir()
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert entries[str(folder / "u_ex210102.log")]["rows"] == len(markers)
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def test_a_folder_named_like_a_file_given_on_the_command_line_is_walked(evidence_dir, case_dir):
    folder = evidence_dir / "u_ex210101.log"
    folder.mkdir()
    (folder / "inner.log").write_bytes(corpus.w3c_seed(rows=2))
    _case, report = ingest(case_dir, [folder])
    assert report["tables"]["W3CIISLog"] == 2


def test_symlink_loops_and_dangling_links_neither_hang_nor_duplicate(evidence_dir, case_dir):
    (evidence_dir / "u_ex210101.log").write_bytes(corpus.w3c_seed(rows=3))
    sub = evidence_dir / "sub"
    sub.mkdir()
    (sub / "loop-to-parent").symlink_to("..")
    (sub / "loop-to-self").symlink_to(".")
    (evidence_dir / "a.log").symlink_to("b.log")
    (evidence_dir / "b.log").symlink_to("a.log")
    (evidence_dir / "dangling.log").symlink_to("does-not-exist.log")
    (evidence_dir / "self.log").symlink_to("self.log")
    _case, report = ingest(case_dir, [evidence_dir])
    check_report(report, [evidence_dir])
    # The real file counted once, whatever links point at it.
    assert report["tables"]["W3CIISLog"] == 3


def test_a_link_out_of_the_evidence_tree_is_not_followed(tmp_path, evidence_dir, case_dir):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "u_ex210101.log").write_bytes(corpus.w3c_seed(rows=5))
    (evidence_dir / "elsewhere").symlink_to(outside)
    (evidence_dir / "elsewhere.log").symlink_to(outside / "u_ex210101.log")
    (evidence_dir / "u_ex210102.log").write_bytes(corpus.w3c_seed(rows=1))
    _case, report = ingest(case_dir, [evidence_dir])
    check_report(report, [evidence_dir])
    assert report["tables"]["W3CIISLog"] == 1


def test_a_fifo_named_like_a_log_does_not_block_the_ingest(evidence_dir, case_dir):
    os.mkfifo(evidence_dir / "u_ex210101.log")  # opening it for reading would wait forever
    (evidence_dir / "u_ex210102.log").write_bytes(corpus.w3c_seed(rows=2))
    _case, report = ingest(case_dir, [evidence_dir], deadline=60)
    check_report(report, [evidence_dir])
    assert report["tables"]["W3CIISLog"] == 2


def test_broken_gzip_files_are_skipped_with_a_reason_or_partly_loaded(evidence_dir, case_dir):
    good = corpus.w3c_seed(rows=3)
    gz = gzip.compress(good)
    variants = {
        "not-gzip.log.gz": good,  # plain text with a .gz name: content decides
        "garbage.log.gz": b"\x1f\x8b\x08\x00" + os.urandom(64),
        "bad-crc.log.gz": gz[:-8] + b"\x00\x00\x00\x00" + gz[-4:],
        "bad-length.log.gz": gz[:-4] + b"\xff\xff\xff\x7f",
        "trailing-junk.log.gz": gz + b"JUNK" * 10,
        "double.log.gz": gzip.compress(gz),
        "header-only.log.gz": gz[:10],
        "random.log": os.urandom(4096),
    }
    for name, data in variants.items():
        (evidence_dir / name).write_bytes(data)
    (evidence_dir / "two-members.log.gz").write_bytes(gz + gzip.compress(corpus.w3c_seed(rows=2)))
    _case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert entries[str(evidence_dir / "not-gzip.log.gz")]["rows"] == 3
    # A gzip file may hold several members (log rotation appends them): all are read.
    assert entries[str(evidence_dir / "two-members.log.gz")]["rows"] == 3 + 2 * 1, entries


def _write(path, data: bytes) -> None:
    # A "/" in a hostile name (markup closing tags, URLs) makes folders: the path still
    # reads "[link=http://evil]x[/link].log" end to end.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


HOSTILE_NAMES = [
    "[link=http://evil]x[/link].log",
    "[/].log",
    "\x1b]8;;http://evil\x07click\x1b]8;;\x07.log",
    "\x1b[2J\x1b[31mred.log",
    "new\nline.log",
    "tab\there.log",
    "\u202eevil\u202c.log",
    "=cmd|' -C calc'!A0.log",
    "'; DROP TABLE W3CIISLog; --.log",
    "x" * 240 + ".log",
]


def test_hostile_file_names_are_read_like_any_other(evidence_dir, case_dir):
    for n, name in enumerate(HOSTILE_NAMES):
        _write(evidence_dir / name, corpus.w3c_seed(rows=1 + n % 2))
    _case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert all(e["kind"] == "iis-w3c" for e in entries.values()), briefs(entries.values())
    assert report["tables"]["W3CIISLog"] == sum(1 + n % 2 for n in range(len(HOSTILE_NAMES)))


def _write_bad_utf8_name(evidence_dir, rows: int) -> None:
    # Linux file names are bytes: this one is not UTF-8 (Python sees a lone surrogate).
    with open(os.fsencode(evidence_dir) + b"/bad-utf8-\xff\xfe.log", "wb") as handle:
        handle.write(corpus.w3c_seed(rows=rows))


def test_a_file_name_that_is_not_utf8_is_read_like_any_other(evidence_dir, case_dir):
    _write_bad_utf8_name(evidence_dir, rows=2)
    _case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert (entry["kind"], entry["rows"]) == ("iis-w3c", 2), brief(entry)


def test_hostile_file_names_survive_the_json_report_on_the_command_line(evidence_dir, case_dir):
    for name in HOSTILE_NAMES:
        _write(evidence_dir / name, corpus.w3c_seed(rows=1))
    _write_bad_utf8_name(evidence_dir, rows=1)
    result = scan_cli([evidence_dir], case_dir)
    result.assert_no_traceback()
    assert result.returncode == 0, result.stderr
    assert len(result.report["files"]) == len(HOSTILE_NAMES) + 1
    assert result.report["tables"]["W3CIISLog"] >= len(HOSTILE_NAMES)


def test_hostile_file_names_print_no_escape_sequence_in_the_table_report(evidence_dir, case_dir):
    for name in HOSTILE_NAMES:
        _write(evidence_dir / name, corpus.w3c_seed(rows=1))
    result = run_cli("scan", evidence_dir, "--case", case_dir)
    result.assert_no_traceback()
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    assert "\u202e" not in result.stdout


def _without_root_file_access():
    """preexec_fn for a child that keeps uid 0 but loses the power to ignore permissions.

    As root, chmod 000 stops nothing. Dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from
    the bounding set before exec makes the child a root that file modes do apply to."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _unreadable_really_is(path) -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", f"open({str(path)!r}, 'rb').read()"],
        capture_output=True, text=True,
        preexec_fn=_without_root_file_access if os.geteuid() == 0 else None,
    )
    return "PermissionError" in probe.stderr


def _scan_without_root_powers(evidence_dir, case_dir, *locked_paths):
    for path in locked_paths:
        path.chmod(0)
    try:
        if not _unreadable_really_is(locked_paths[0]):
            pytest.skip("cannot make a file unreadable here (root without CAP_SETPCAP?)")
        return scan_cli(
            [evidence_dir], case_dir,
            preexec_fn=_without_root_file_access if os.geteuid() == 0 else None,
        )
    finally:
        for path in locked_paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_an_unreadable_file_is_skipped_with_a_reason(evidence_dir, case_dir):
    secret = evidence_dir / "u_ex210101.log"
    secret.write_bytes(corpus.w3c_seed(rows=2))
    (evidence_dir / "u_ex210102.log").write_bytes(corpus.w3c_seed(rows=3))
    result = _scan_without_root_powers(evidence_dir, case_dir, secret)
    result.assert_no_traceback()
    assert result.returncode == 0, result.stderr
    entries = check_report(result.report, [evidence_dir])
    assert entries[str(secret)]["kind"] == "skipped", brief(entries[str(secret)])
    assert "ermission" in entries[str(secret)]["reason"], brief(entries[str(secret)])
    assert result.report["tables"]["W3CIISLog"] == 3


def test_an_unreadable_folder_is_reported_not_passed_over(evidence_dir, case_dir):
    (evidence_dir / "u_ex210102.log").write_bytes(corpus.w3c_seed(rows=3))
    locked = evidence_dir / "locked"
    locked.mkdir()
    (locked / "u_ex210103.log").write_bytes(corpus.w3c_seed(rows=4))
    result = _scan_without_root_powers(evidence_dir, case_dir, locked)
    result.assert_no_traceback()
    assert result.returncode == 0, result.stderr
    # What is inside the locked folder cannot be known; the folder itself must be reported.
    check_report(result.report, [evidence_dir], unknowable=[locked])
    assert result.report["tables"]["W3CIISLog"] == 3
    assert str(locked) in {e["path"] for e in result.report["files"]}, (
        "an unreadable folder is silently passed over"
    )


@pytest.mark.parametrize("case_name", [
    "[x]case",
    "[@click=app.quit]case",
    "ca*se?",
])
def test_a_case_folder_named_with_glob_characters_keeps_every_row(tmp_path, evidence_dir, case_name):
    (evidence_dir / "u_ex210302.log").write_bytes(corpus.w3c_seed(rows=3))
    (evidence_dir / "iis.jsonl").write_bytes(
        corpus.to_jsonl(corpus.export_seed("W3CIISLog", "glob").records))
    case, report = ingest(tmp_path / case_name, [evidence_dir])
    assert report["tables"]["W3CIISLog"] == 3 + 4, briefs(report["files"])
    assert len(column_values(case, "W3CIISLog", "csUriStem")) == 3 + 4
