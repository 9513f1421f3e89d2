"""Hostile sizes (issue 13): a gzip bomb of NUL bytes, a giant line, a row of 5,000 fields.

Each case runs ``exhunt scan`` in a child process and asserts the good rows around the bad
stretch are kept, the bad stretch is one bad line saying where it was, and the child's own
peak RSS stays bounded (measured by a one-child wrapper, so other tests' children do not
count). The inputs are written lazily: the bomb appends one compressed 1 MiB member many
times, the giant line is written in 1 MiB pieces.
"""
from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, strategies as st

from engine.evidence.w3c_layout import LineCap
from tests.hardening.harness import REPO, exhunt_command

MIB = 1024 * 1024
RSS_BOUND_MIB = 600  # issue 13: < 1 GiB for exhunt as a whole; measured ~160 MiB here

HEAD = ("#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n"
        "#Date: 2021-03-01 00:00:00\r\n"
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
        "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n")


def row(n: int) -> str:
    return (f"2021-03-01 00:00:0{n} 10.0.0.1 GET /owa/auth/good{n}.js - 443 - 1.2.3.4 "
            f"Mozilla/5.0 - 200 0 0 5\r\n")


# Runs the command given as arguments and prints its peak RSS (KiB) as the last stderr line.
_WRAP = ("import resource, subprocess, sys\n"
         "p = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL)\n"
         "sys.stderr.write('\\nmaxrss_kib=%d\\n' % "
         "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
         "sys.exit(p.returncode)\n")


def scan_measured(evidence: Path, case: Path, *extra: str) -> tuple[dict, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _WRAP,
         *exhunt_command("scan", evidence, "--case", case, "--format", "json", *extra)],
        capture_output=True, text=True, errors="replace", timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rss_kib = int(proc.stderr.rsplit("maxrss_kib=", 1)[1].split()[0])
    return json.loads(proc.stdout), rss_kib


def only_file(report: dict) -> dict:
    assert len(report["files"]) == 1, report
    return report["files"][0]


def bad_lines(case: Path) -> list[tuple[int, str]]:
    files = sorted(str(p) for p in case.rglob("bad_lines.parquet"))
    assert files, "no bad_lines.parquet written"
    return [(r[0], r[1]) for r in duckdb.execute(
        "SELECT line, text FROM read_parquet($f) ORDER BY line", {"f": files}).fetchall()]


def good_stems(case: Path) -> list[str]:
    files = [str(p) for p in case.rglob("*.parquet") if "kind=rows" in str(p)]
    return sorted(r[0] for r in duckdb.execute(
        'SELECT "csUriStem" FROM read_parquet($f)', {"f": files}).fetchall())


def test_gzip_bomb_of_nul_bytes_keeps_rows_around_it_in_bounded_memory(tmp_path: Path) -> None:
    evidence = tmp_path / "ev" / "EXCH01"
    evidence.mkdir(parents=True)
    member = gzip.compress(b"\0" * MIB, 9)
    with open(evidence / "u_ex210301.log.gz", "wb") as out:
        out.write(gzip.compress((HEAD + row(1) + row(2)).encode()))
        for _ in range(200):  # 200 MiB of NULs on one line, in ~200 KB on disk
            out.write(member)
        out.write(gzip.compress(("\r\n" + row(3)).encode()))
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert entry["kind"] == "iis-w3c", entry
    assert (entry["rows"], entry["bad_lines"]) == (3, 1), entry
    assert good_stems(tmp_path / "case") == [f"/owa/auth/good{n}.js" for n in (1, 2, 3)]
    note = next(n for n in entry["notes"] if "line limit" in n)
    # 200 MiB of NULs + the CR of its CRLF.
    assert "line 7" in note and "209,715,201 bytes" in note and "byte 447 " in note, note
    [(line, text)] = bad_lines(tmp_path / "case")
    assert line == 7 and "209715201_bytes" in text and "\u2400" in text and len(text) < 400
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_a_200_mb_line_in_a_plain_log_is_one_bad_line_and_the_rest_loads(tmp_path: Path) -> None:
    evidence = tmp_path / "ev" / "EXCH01"
    evidence.mkdir(parents=True)
    piece = (b"/owa/auth/x.aspx?" + b"A" * 1000 + b" ") * 1000
    with open(evidence / "u_ex210301.log", "wb") as out:
        out.write((HEAD + row(1)).encode())
        written = 0
        while written < 200_000_000:
            out.write(piece)
            written += len(piece)
        out.write(("\r\n" + row(2) + row(3)).encode())
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (3, 1), entry
    assert good_stems(tmp_path / "case") == [f"/owa/auth/good{n}.js" for n in (1, 2, 3)]
    [(line, text)] = bad_lines(tmp_path / "case")
    assert line == 6 and text.startswith("\u2702[line_of_") and "_starts:/owa/auth/x.aspx?AAA" in text
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_a_row_of_5000_fields_is_a_bad_line_and_the_line_limit_is_overridable(tmp_path: Path) -> None:
    evidence = tmp_path / "ev" / "EXCH01"
    evidence.mkdir(parents=True)
    wide = " ".join(f"f{i}" for i in range(5000)) + "\r\n"  # ~29 KB
    (evidence / "u_ex210301.log").write_text(HEAD + row(1) + wide + row(2), newline="")
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (2, 1), entry
    [(line, text)] = bad_lines(tmp_path / "case")
    assert line == 6 and text.startswith("f0 f1 f2") and text.endswith("f4999")
    assert rss_kib < RSS_BOUND_MIB * 1024

    # Under a lower limit the same line is cut, and the note names the option.
    report, _ = scan_measured(evidence, tmp_path / "case2", "--max-line-bytes", "4096")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (2, 1), entry
    assert any("--max-line-bytes" in n and "line 6" in n for n in entry["notes"]), entry
    [(line, text)] = bad_lines(tmp_path / "case2")
    assert line == 6 and "over_the_4096-byte_limit" in text and "_starts:f0·f1·f2" in text


class _Trickle(io.RawIOBase):
    """Hands out its bytes in small random pieces: every chunk boundary gets exercised."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data, self._pos, self._rng = data, 0, random.Random(seed)

    def read(self, size: int = -1) -> bytes:
        n = self._rng.randint(1, 3000)
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


def _reference(data: bytes, limit: int) -> list[tuple[int, int, int]]:
    found, offset = [], 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if len(line) > limit:
            found.append((number, offset, len(line)))
        offset += len(line) + 1
    return found


@given(lengths=st.lists(st.sampled_from([0, 1, 50, 1023, 1024, 1025, 2500, 7000]), max_size=12),
       final_newline=st.booleans(), seed=st.integers(0, 1000))
def test_line_cap_cuts_exactly_the_long_lines_and_keeps_line_numbers(
        lengths: list[int], final_newline: bool, seed: int) -> None:
    lines = [bytes([97 + i % 26]) * n for i, n in enumerate(lengths)]
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    cap = LineCap(_Trickle(data, seed), 1024)
    out = b"".join(iter(lambda: cap.read(), b""))
    assert [(x.line, x.offset, x.length) for x in cap.long_lines] == _reference(data, 1024)
    got, want = out.split(b"\n"), data.split(b"\n")
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w if len(w) <= 1024 else g.startswith("\u2702[line_of_".encode())


@pytest.mark.parametrize("limit", ["12", "x"])
def test_max_line_bytes_rejects_a_nonsense_limit(tmp_path: Path, limit: str) -> None:
    proc = subprocess.run(exhunt_command("scan", tmp_path, "--case", tmp_path / "c",
                                         "--max-line-bytes", limit),
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2 and "--max-line-bytes" in proc.stderr


@pytest.mark.parametrize("text, reason", [
    ("Not implemented Error: The Parallel CSV Reader currently does not support a full read "
     "on this file.", "could not be read: a line too long or too odd for the CSV reader"),
    ("Invalid Input Error: Maximum line size of 67108864 bytes exceeded. Actual Size:"
     "209715200 bytes. CSV Error on Line: 12", "could not be read: a line longer than the "
     "reader's 67108864-byte limit at line 12"),
    ("Invalid Input Error: Malformed JSON at byte 4096 of input: unexpected character.",
     "could not be read: malformed JSON at byte 4,096"),
    ("Something new", "could not be read: the reader stopped on this file (Error)"),
])
def test_a_reader_error_becomes_what_happened_and_where(text: str, reason: str) -> None:
    from engine.evidence.read_errors import describe_read_error

    got, detail = describe_read_error(duckdb.Error(text))
    assert got.startswith(reason), got
    assert "Error:" not in got and detail == text.splitlines()[0][:300]


# ---------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------
EXPORT_HEADER = "TimeGenerated,Computer,csUriStem,cIP,csMethod,scStatus"


def export_row(n: int) -> str:
    return f"2021-03-01T00:00:0{n}Z,EXCH01,/owa/auth/good{n}.js,1.2.3.4,GET,200\n"


def test_a_200_mb_cell_in_a_csv_export_is_one_bad_record_and_the_rest_loads(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    with open(evidence / "w3c_export.csv", "w") as out:
        out.write(EXPORT_HEADER + "\n" + export_row(1))
        out.write('2021-03-01T00:00:05Z,EXCH01,"/owa/')
        for _ in range(200):
            out.write("A" * MIB)
        out.write('",1.2.3.4,GET,200\n' + export_row(2))
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (2, 1), entry
    assert good_stems(tmp_path / "case") == ["/owa/auth/good1.js", "/owa/auth/good2.js"]
    [(line, text)] = bad_lines(tmp_path / "case")
    assert line == 3 and text.startswith("\u2702[line_of_") and len(text) < 400
    # DuckDB's own attempt (max_line_size 64 MiB) is what peaks, at ~0.9 GB here.
    assert rss_kib < 1024 * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_a_csv_export_of_5000_columns_loads_in_bounded_memory(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    extra = [f"x{i}" for i in range(5000)]
    with open(evidence / "w3c_export.csv", "w") as out:
        out.write(EXPORT_HEADER + "," + ",".join(extra) + "\n")
        for n in (1, 2, 3):
            out.write(export_row(n).rstrip("\n") + "," + ",".join("v" for _ in extra) + "\n")
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    assert (only_file(report)["rows"], only_file(report)["bad_lines"]) == (3, 0)
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_deeply_nested_json_in_an_export_keeps_every_record(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()

    def record(n: int) -> str:
        return json.dumps({"TimeGenerated": f"2021-03-01T00:00:0{n}Z", "Computer": "EXCH01",
                           "csUriStem": f"/owa/auth/good{n}.js", "cIP": "1.2.3.4"}) + "\n"
    depth = 100_000
    with open(evidence / "w3c_export.jsonl", "w") as out:
        out.write(record(1))
        out.write('{"TimeGenerated": "2021-03-01T00:00:05Z", "Computer": "EXCH01", '
                  '"csUriStem": "/owa/auth/good3.js", "cIP": "1.2.3.4", "x": '
                  + "[" * depth + "]" * depth + "}\n")
        out.write(record(2))
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    assert only_file(report)["rows"] == 3, report
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_an_alert_with_100k_entities_loads_in_bounded_memory(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    entities = [{"$id": str(i), "Type": "ip", "Address": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"}
                for i in range(100_000)]
    with open(evidence / "alerts.jsonl", "w") as out:
        for n, ents in ((1, entities[:2]), (2, entities), (3, entities[:1])):
            out.write(json.dumps({"TimeGenerated": f"2021-03-01T00:00:0{n}Z",
                                  "SystemAlertId": f"a{n}", "AlertName": "x", "DisplayName": "x",
                                  "Entities": json.dumps(ents)}) + "\n")
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["kind"], entry["rows"]) == ("securityalert-export", 3), entry
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"
