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
import os
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


def scan_measured(evidence: Path, case: Path, *extra: str,
                  env: dict[str, str] | None = None) -> tuple[dict, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _WRAP,
         *exhunt_command("scan", evidence, "--case", case, "--format", "json", *extra)],
        capture_output=True, text=True, errors="replace", timeout=120, cwd=REPO,
        env={**os.environ, **env} if env else None)
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


# ---------------------------------------------------------------------------------------
# Floods of empty lines (raw W3C)
# ---------------------------------------------------------------------------------------
def test_a_gzip_flood_of_empty_lines_keeps_the_rows_and_line_numbers_after_it(
        tmp_path: Path) -> None:
    # 64 MiB of CRLF (33.5 million empty lines) in ~64 KB of gzip: each used to cost a
    # DuckDB row (4x the time per byte of ordinary rows); now runs are folded into one line.
    evidence = tmp_path / "ev" / "EXCH01"
    evidence.mkdir(parents=True)
    member = gzip.compress(b"\r\n" * (MIB // 2), 9)
    with open(evidence / "u_ex210301.log.gz", "wb") as out:
        out.write(gzip.compress((HEAD + row(1) + row(2)).encode()))
        for _ in range(64):
            out.write(member)
        out.write(gzip.compress(("garbage\r\n" + row(3)).encode()))
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (3, 1), entry
    assert good_stems(tmp_path / "case") == [f"/owa/auth/good{n}.js" for n in (1, 2, 3)]
    # 4 directives + 2 rows, then 64 x 524,288 empty lines: "garbage" is the line after.
    assert bad_lines(tmp_path / "case") == [(6 + 64 * MIB // 2 + 1, "garbage")]
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


# ---------------------------------------------------------------------------------------
# Exports: the record limit in every format, big first records, deep values
# ---------------------------------------------------------------------------------------
def _w3c_record(n: int, stem: str | None = None) -> dict:
    return {"TimeGenerated": f"2021-03-01T00:00:0{n}Z", "Computer": "EXCH01",
            "csUriStem": stem or f"/owa/auth/good{n}.js", "cIP": "1.2.3.4"}


def _json_with_giant_stem(path: Path, array: bool, mib: int) -> None:
    """Records 1, a record whose csUriStem is ``mib`` MiB (written in 1 MiB pieces), 2."""
    with open(path, "w") as out:
        out.write("[\n" if array else "")
        out.write(json.dumps(_w3c_record(1)) + (",\n" if array else "\n"))
        giant = {k: v for k, v in _w3c_record(5).items() if k != "csUriStem"}
        out.write(json.dumps(giant)[:-1] + ', "csUriStem": "/owa/')
        for _ in range(mib):
            out.write("A" * MIB)
        out.write('"}' + (",\n" if array else "\n"))
        out.write(json.dumps(_w3c_record(2)) + ("\n]\n" if array else "\n"))


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_cell_over_the_record_limit_in_a_json_export_is_one_bad_record_and_the_rest_loads(
        tmp_path: Path, fmt: str) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    _json_with_giant_stem(evidence / f"w3c_export.{fmt}", array=fmt == "json", mib=40)
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["kind"], entry["rows"], entry["bad_lines"]) == ("w3ciislog-export", 2, 1), entry
    assert good_stems(tmp_path / "case") == ["/owa/auth/good1.js", "/owa/auth/good2.js"]
    line = 3 if fmt == "json" else 2
    assert any(f"line {line}" in n and "EXHUNT_MAX_RECORD_BYTES" in n for n in entry["notes"])
    [(got, text)] = bad_lines(tmp_path / "case")
    assert got == line and text.startswith("\u2702[") and "16777216-byte_limit" in text
    assert len(text) < 400
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_a_cell_over_the_record_limit_in_a_parquet_export_is_one_bad_record(
        tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    evidence = tmp_path / "ev"
    evidence.mkdir()
    records = [_w3c_record(1), _w3c_record(5, "/owa/" + "A" * (20 * MIB)), _w3c_record(2)]
    pq.write_table(pa.table({k: [r[k] for r in records] for k in records[0]}),
                   evidence / "w3c_export.parquet")
    del records
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (2, 1), entry
    assert good_stems(tmp_path / "case") == ["/owa/auth/good1.js", "/owa/auth/good2.js"]
    [(record, text)] = bad_lines(tmp_path / "case")
    assert record == 2 and "column csUriStem: /owa/AAA" in text and len(text) < 400
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_a_parquet_row_group_that_is_mostly_one_giant_value_is_left_out_undecoded(
        tmp_path: Path) -> None:
    # A value of one repeated byte compresses to almost nothing: decoding it would cost its
    # full size. With a 1 MiB record limit, its page (over the limit) is never handed to
    # pyarrow: it is read in pieces, 80 bytes kept; the records in the other row groups load.
    import pyarrow as pa
    import pyarrow.parquet as pq

    evidence = tmp_path / "ev"
    evidence.mkdir()
    records = [_w3c_record(1), _w3c_record(5, "/owa/" + "A" * (20 * MIB)), _w3c_record(2)]
    pq.write_table(pa.table({k: [r[k] for r in records] for k in records[0]}),
                   evidence / "w3c_export.parquet", row_group_size=1, compression="zstd")
    del records
    report, rss_kib = scan_measured(evidence, tmp_path / "case",
                                    env={"EXHUNT_MAX_RECORD_BYTES": str(MIB)})
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (2, 1), entry
    [(record, text)] = bad_lines(tmp_path / "case")
    assert record == 2 and text.startswith("\u2702[record_2_of_20971525_bytes_over_the_1048576")
    assert "column csUriStem: /owa/AAA" in text and len(text) < 400
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_the_record_limit_is_overridable_through_the_environment(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "w3c_export.csv").write_text(
        EXPORT_HEADER + "\n" + export_row(1) + '2021-03-01T00:00:05Z,EXCH01,"/owa/'
        + "A" * (2 * MIB) + '",1.2.3.4,GET,200\n' + export_row(2))
    report, _ = scan_measured(evidence, tmp_path / "case")
    assert (only_file(report)["rows"], only_file(report)["bad_lines"]) == (3, 0)
    report, _ = scan_measured(evidence, tmp_path / "case2",
                              env={"EXHUNT_MAX_RECORD_BYTES": str(MIB)})
    assert (only_file(report)["rows"], only_file(report)["bad_lines"]) == (2, 1)


def test_the_record_limit_is_an_option_of_the_command(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "w3c_export.csv").write_text(
        EXPORT_HEADER + "\n" + export_row(1) + '2021-03-01T00:00:05Z,EXCH01,"/owa/'
        + "A" * (2 * MIB) + '",1.2.3.4,GET,200\n' + export_row(2))
    report, _ = scan_measured(evidence, tmp_path / "case", "--max-record-bytes", str(MIB))
    assert (only_file(report)["rows"], only_file(report)["bad_lines"]) == (2, 1)
    # The option wins over the environment.
    report, _ = scan_measured(evidence, tmp_path / "case2", "--max-record-bytes", str(4 * MIB),
                              env={"EXHUNT_MAX_RECORD_BYTES": str(MIB)})
    assert (only_file(report)["rows"], only_file(report)["bad_lines"]) == (3, 0)


def test_a_malformed_element_in_a_json_array_export_costs_only_itself(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "w3c_export.json").write_text(
        "[\n" + json.dumps(_w3c_record(1)) + ',\n{"csUriStem": tru, "x": [1, "]"]},\n'
        + json.dumps(_w3c_record(2)) + "\n]\n")
    report, _ = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (2, 1), entry
    [(line, text)] = bad_lines(tmp_path / "case")
    assert line == 3 and text.startswith('{"csUriStem": tru')


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_an_alert_export_whose_first_record_holds_100k_entities_is_recognised(
        tmp_path: Path, fmt: str) -> None:
    # The first record (~6 MB) does not end inside discovery's 256 KiB head.
    evidence = tmp_path / "ev"
    evidence.mkdir()
    entities = json.dumps([{"$id": str(i), "Type": "ip", "Address": f"10.0.{i >> 8 & 255}.{i & 255}"}
                           for i in range(100_000)])
    records = [json.dumps({"TimeGenerated": f"2021-03-01T00:00:0{n}Z", "SystemAlertId": f"a{n}",
                           "AlertName": "x", "Entities": ents})
               for n, ents in ((1, entities), (2, "[]"))]
    (evidence / f"alerts.{fmt}").write_text(
        "[" + ",\n".join(records) + "]\n" if fmt == "json" else "\n".join(records) + "\n")
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["kind"], entry["rows"]) == ("securityalert-export", 2), entry
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_alert_entities_nested_100k_deep_load_and_the_hunts_still_run(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    deep = "[" * 100_000 + "]" * 100_000
    with open(evidence / "alerts.jsonl", "w") as out:
        for n, ents in ((1, "[]"), (2, deep), (3, "[]")):
            out.write(json.dumps({"TimeGenerated": f"2021-03-01T00:00:0{n}Z",
                                  "SystemAlertId": f"a{n}", "AlertName": "x",
                                  "Entities": ents}) + "\n")
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    assert only_file(report)["rows"] == 3, report
    assert rss_kib < RSS_BOUND_MIB * 1024
    proc = subprocess.run(exhunt_command("hunt", "--case", tmp_path / "case", "--format", "json"),
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(json.loads(proc.stdout)["runs"]) >= 2


# ---------------------------------------------------------------------------------------
# Progress while a long file is read, and stopping it
# ---------------------------------------------------------------------------------------
def _nul_bomb(folder: Path, mib: int) -> Path:
    folder.mkdir(parents=True)
    member = gzip.compress(b"\0" * MIB, 9)
    path = folder / "u_ex210301.log.gz"
    with open(path, "wb") as out:
        out.write(gzip.compress((HEAD + row(1) + row(2)).encode()))
        for _ in range(mib):
            out.write(member)
        out.write(gzip.compress(("\r\n" + row(3)).encode()))
    return path


def test_progress_names_the_file_being_read_and_its_rate_before_it_is_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.case import Case
    from engine.evidence import meter
    from tui.screens.state import _describe_progress

    monkeypatch.setattr(meter, "PROGRESS_EVERY_S", 0.0)  # every block read: deterministic
    bomb = _nul_bomb(tmp_path / "ev" / "EXCH01", 64)
    seen = []
    Case(tmp_path / "case").ingest([tmp_path / "ev"], progress=seen.append)
    during = [p for p in seen if p.files_done == 0 and p.reading_bytes > 0]
    assert during and all(p.current == str(bomb) for p in during)
    assert max(p.reading_bytes for p in during) >= 64 * MIB  # the decompressed bytes
    text = _describe_progress(during[-1])
    assert "0/1 files" in text and "u_ex210301.log.gz: " in text and " MB/s" in text


def test_a_progress_receiver_that_fails_mid_file_stops_the_ingest_and_the_file_is_read_next_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.case import Case
    from engine.evidence import meter

    monkeypatch.setattr(meter, "PROGRESS_EVERY_S", 0.0)
    _nul_bomb(tmp_path / "ev" / "EXCH01", 64)

    def gone(p) -> None:  # what the console's callback does after 'q'
        if p.reading_bytes:
            raise RuntimeError("App is not running")

    case = Case(tmp_path / "case")
    with pytest.raises(RuntimeError, match="App is not running"):
        case.ingest([tmp_path / "ev"], progress=gone)
    report = case.ingest([tmp_path / "ev"])
    assert [(f.rows, f.bad_lines, f.cached) for f in report.files] == [(3, 1, False)]


def test_a_damaged_parquet_export_is_skipped_with_a_reason_in_plain_words(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    (evidence / "w3c_export.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    report, _ = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert entry["kind"] == "skipped", entry
    assert entry["reason"] == "could not be read: not a readable Parquet file (cut or damaged)"


def test_a_planted_value_in_a_big_parquet_row_group_costs_only_its_own_record(
        tmp_path: Path) -> None:
    # One 20 MiB value of one byte among 1,000 records (1 MiB limit): its page (the
    # dictionary: pyarrow dictionary-encodes it before falling back to PLAIN) is over the
    # limit, so it is read in pieces and only that record is left out; the other 999 and
    # the next row group load. (Before: the whole row group was left out undecoded.)
    import pyarrow as pa
    import pyarrow.parquet as pq

    evidence = tmp_path / "ev"
    evidence.mkdir()
    stems = [f"/owa/auth/good{i}.js" for i in range(1000)] + ["/owa/auth/after.js"]
    stems[500] = "/owa/" + "A" * (20 * MIB)
    table = pa.table({"TimeGenerated": ["2021-03-01T00:00:01Z"] * 1001,
                      "Computer": ["EXCH01"] * 1001, "csUriStem": stems,
                      "cIP": ["1.2.3.4"] * 1001})
    pq.write_table(table, evidence / "w3c_export.parquet", row_group_size=1000,
                   compression="zstd")
    del stems, table
    report, rss_kib = scan_measured(evidence, tmp_path / "case",
                                    env={"EXHUNT_MAX_RECORD_BYTES": str(MIB)})
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (1000, 1), entry
    assert good_stems(tmp_path / "case") == sorted(
        [f"/owa/auth/good{i}.js" for i in range(1000) if i != 500] + ["/owa/auth/after.js"])
    assert any(n.startswith("record 501 is over the 1,048,576-byte record limit")
               for n in entry["notes"]), entry["notes"]
    [(record, text)] = bad_lines(tmp_path / "case")
    assert record == 501 and text.startswith("\u2702[record_501_of_20971525_bytes")
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_an_incompressible_cell_in_a_big_parquet_row_group_is_never_decoded(
        tmp_path: Path) -> None:
    # 96 MiB of base64 random bytes (snappy cannot shrink it) as one cell among 20,000
    # records in one row group, 1 MiB limit. Its page (the dictionary) says 96 MiB before
    # anything is decoded; it is read in pieces and only its record is left out. Memory:
    # measured against the same export without the cell (before: the cell was decoded,
    # a few times its size; the 1 GB case by hand: 4.4 GiB -> 353 MiB).
    import base64

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 20_000
    stems = [f"/owa/auth/good{i}.js" for i in range(n)]
    cell = "/owa/" + base64.b64encode(random.Random(13).randbytes(72 * MIB)).decode()
    runs = {}
    for name, value in (("without", None), ("with", cell)):
        evidence = tmp_path / name
        evidence.mkdir()
        if value is not None:
            stems[n // 2] = value
        pq.write_table(pa.table({"TimeGenerated": ["2021-03-01T00:00:01Z"] * n,
                                 "Computer": ["EXCH01"] * n, "csUriStem": stems,
                                 "cIP": ["1.2.3.4"] * n}),
                       evidence / "w3c_export.parquet", row_group_size=n)
        stems[n // 2] = f"/owa/auth/good{n // 2}.js"
        runs[name] = scan_measured(evidence, tmp_path / f"case-{name}",
                                   env={"EXHUNT_MAX_RECORD_BYTES": str(MIB)})
    report, rss_kib = runs["with"]
    entry = only_file(report)
    assert (entry["rows"], entry["bad_lines"]) == (n - 1, 1), entry
    assert good_stems(tmp_path / "case-with") == sorted(
        f"/owa/auth/good{i}.js" for i in range(n) if i != n // 2)
    [(record, text)] = bad_lines(tmp_path / "case-with")
    assert record == n // 2 + 1
    assert text == (f"\u2702[record_{n // 2 + 1}_of_{len(cell)}_bytes_over_the_1048576-byte_limit "
                    f"(EXHUNT_MAX_RECORD_BYTES); column csUriStem: {cell[:80]}]")
    del cell
    grown = rss_kib - runs["without"][1]
    assert grown < 48 * 1024, (f"peak RSS {rss_kib // 1024} MiB: {grown // 1024} MiB over the "
                               "same export without the cell")


def test_q_quits_the_console_while_a_bomb_loads_and_nothing_is_recorded_for_it(
        tmp_path: Path) -> None:
    """The real console in a pseudo-terminal: once the status line names the bomb, `q`
    ends the process before the ingest could finish (no manifest, the bomb not journaled,
    so the next run reads it). Before, the process stayed until the whole file was read."""
    import pty
    import select
    import time

    _nul_bomb(tmp_path / "ev" / "EXCH01", 3072)  # 3 GiB decompressed: several seconds
    case = tmp_path / "case"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console, as an analyst starts it
        try:
            os.chdir(REPO)
            os.environ.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
            os.execv(sys.executable, [sys.executable, "-m", "tui.cli", "open",
                                      str(tmp_path / "ev"), "--case", str(case)])
        finally:
            os._exit(127)
    seen, screen, deadline = False, b"", time.monotonic() + 120
    status: int | None = None
    try:
        while not seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                screen = (screen + os.read(fd, 65536))[-20000:]
                seen = b"u_ex210301.log.gz: " in screen and b"MB read" in screen
        assert seen, screen[-2000:]
        asked = time.monotonic()
        os.write(fd, b"q")
        while status is None and time.monotonic() < deadline:
            try:
                if select.select([fd], [], [], 0.2)[0]:
                    os.read(fd, 65536)
            except OSError:  # the terminal closed with the child
                pass
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
        print(f"exit {time.monotonic() - asked:.1f} s after q")  # measured, not asserted
        assert status is not None, "the console did not exit after q"
    finally:
        if status is None:  # a failed test must not leave the console running
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert not (case / "manifest.json").exists()
    journal = case / "ingest-journal.jsonl"
    assert not journal.exists() or "u_ex210301" not in journal.read_text()


# ---------------------------------------------------------------------------------------
# Parquet records each under the limit that repeat one large dictionary value
# ---------------------------------------------------------------------------------------
def _repeated_value_alerts(path: Path, n: int, size: int) -> None:
    """``n`` alerts whose Entities is one ``size``-byte value (a dictionary of one entry):
    a file of a few KB that decodes to ``n * size`` bytes of text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    value = pa.array(['[{"Type":"ip","Address":"' + "1" * (size - 28) + '"}]'])
    pq.write_table(pa.table({
        "TimeGenerated": [f"2021-03-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z" for i in range(n)],
        "SystemAlertId": [f"a{i}" for i in range(n)], "AlertName": ["x"] * n,
        "DisplayName": ["x"] * n,
        "Entities": pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), value),
    }), path, store_schema=False)  # read back as plain text, as an export's would be


def test_parquet_batches_are_sized_by_the_bytes_a_record_can_decode_to(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from engine.evidence.exports import PARQUET_BATCH_BYTES, batch_records
    from engine.evidence.parquet_salvage import plan_row_group

    path = tmp_path / "alerts.parquet"
    _repeated_value_alerts(path, 500, 256 * 1024)
    source = pq.ParquetFile(path)
    with open(path, "rb") as raw:
        plan = plan_row_group(raw, source, 0, 16 * MIB)
    # The dictionary's one entry bounds every record's Entities; the other columns are small.
    assert 256 * 1024 <= plan.record_bytes < 256 * 1024 + 4096, plan.record_bytes
    assert batch_records(plan.record_bytes) * plan.record_bytes <= PARQUET_BATCH_BYTES
    assert batch_records(plan.record_bytes) >= 16
    assert batch_records(10) == 4096 and batch_records(64 * MIB) == 1


def test_parquet_alerts_repeating_a_256_kb_value_load_in_bounded_memory(tmp_path: Path) -> None:
    # 2,000 records x 256 KB = 500 MB of text from a file of a few KB. Before: decoded 4,096
    # records at a time into a DuckDB table, then scanned 2,048 rows at a time: the file
    # was skipped ("ran out of memory") at 1.4 GiB. Now ~30 records per batch, streamed
    # into the COPY, whose row groups close at 32 MiB.
    evidence = tmp_path / "ev"
    evidence.mkdir()
    _repeated_value_alerts(evidence / "alerts.parquet", 2000, 256 * 1024)
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["kind"], entry["rows"], entry["bad_lines"]) == (
        "securityalert-export", 2000, 0), entry
    files = [str(p) for p in (tmp_path / "case").rglob("data_0.parquet")]
    assert duckdb.execute('SELECT count(DISTINCT "SystemAlertId"), min(length("Entities")), '
                          'max(length("Entities")) FROM read_parquet($f)',
                          {"f": files}).fetchone() == (2000, 256 * 1024, 256 * 1024)
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


def test_parquet_w3c_rows_repeating_a_256_kb_value_load_in_bounded_memory(
        tmp_path: Path) -> None:
    # The W3CIISLog COPY is partitioned (host, day): DuckDB buffers 524,288 rows per thread
    # there before its Parquet writer sees them. Before: skipped out of memory at 1.4 GiB.
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 2000
    evidence = tmp_path / "ev"
    evidence.mkdir()
    stem = "/owa/" + "A" * (256 * 1024 - 5)
    pq.write_table(pa.table({
        "TimeGenerated": [f"2021-03-0{1 + i % 2}T00:00:{i % 60:02d}Z" for i in range(n)],
        "Computer": [f"EXCH0{i % 3}" for i in range(n)],
        "csUriStem": pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()),
                                                    pa.array([stem])),
        "csUriQuery": ["-" if i % 4 == 0 else f"id={i}" for i in range(n)],
        "cIP": ["1.2.3.4"] * n,
    }), evidence / "w3c_export.parquet", store_schema=False)
    report, rss_kib = scan_measured(evidence, tmp_path / "case")
    entry = only_file(report)
    assert (entry["kind"], entry["rows"], entry["bad_lines"]) == ("w3ciislog-export", n, 0)
    assert entry["dash_queries"] == n // 4, entry  # counted as the stream went by
    assert entry["computer"] == "EXCH00, EXCH01, EXCH02", entry
    files = [str(p) for p in (tmp_path / "case").rglob("*.parquet") if "kind=rows" in str(p)]
    assert duckdb.execute('SELECT count(*), count(DISTINCT "_line"), min("_line"), max("_line"), '
                          'min(length("csUriStem")), max(length("csUriStem")) '
                          "FROM read_parquet($f)", {"f": files}).fetchone() == (
        n, n, 1, n, len(stem), len(stem))
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"


# ---------------------------------------------------------------------------------------
# CSV and JSON exports of many records, each under the limit but large
# ---------------------------------------------------------------------------------------
BIG_RECORDS = 3000  # 3,000 x 250 KB = 750 MB of text: past DuckDB's 768 MB as one table
BIG_STEM = 250_000
BIG_LIMIT = 256 * 1024  # each record is just under it


def _big_w3c_records(n: int):
    """W3CIISLog records whose csUriStem is BIG_STEM bytes; every fourth query is '-'."""
    pad = "A" * (BIG_STEM - 16)
    for i in range(n):
        yield {"TimeGenerated": f"2021-03-0{1 + i % 2}T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
               "Computer": f"EXCH0{i % 3}", "cIP": "1.2.3.4",
               "csUriQuery": "-" if i % 4 == 0 else f"id={i}",
               "csUriStem": f"/owa/{i:09d}/{pad}"}


def _write_big_export(path: Path, fmt: str, gz: bool, n: int) -> None:
    """``n`` big records as CSV, JSON lines or a JSON array; gzip as one member per 64
    records (level 1: the padding compresses to almost nothing, quickly)."""
    records = _big_w3c_records(n)
    if fmt == "csv":  # no value needs quoting
        head = ",".join(next(_big_w3c_records(1))) + "\r\n"
        lines = (",".join(r.values()) + "\r\n" for r in records)
    elif fmt == "jsonl":
        head, lines = "", (json.dumps(r) + "\n" for r in records)
    else:
        head, lines = "[", ((",\n" if i else "\n") + json.dumps(r) for i, r in enumerate(records))
    with open(path, "wb") as out:
        batch = [head]
        for i, line in enumerate(lines, 1):
            batch.append(line)
            if i % 64 == 0 or i == n:
                data = "".join(batch + (["\n]\n"] if fmt == "json" and i == n else [])).encode()
                out.write(gzip.compress(data, 1) if gz else data)
                batch = []


@pytest.mark.parametrize("fmt, gz", [("csv", False), ("csv", True), ("jsonl", True),
                                     ("json", False)],
                         ids=["csv", "csv.gz", "jsonl.gz", "json"])
def test_an_export_of_many_big_records_under_the_limit_keeps_every_row_in_bounded_memory(
        tmp_path: Path, fmt: str, gz: bool) -> None:
    # Each record is read within the limit, yet together they are more than DuckDB's
    # memory. Before: a temporary table held them all, read 2,048 rows at a time: out of
    # memory, the file skipped with every row lost (20,000 x 256 KB by hand: 126 s, 850 MiB).
    evidence = tmp_path / "ev"
    evidence.mkdir()
    _write_big_export(evidence / f"w3c_export.{fmt}{'.gz' if gz else ''}", fmt, gz, BIG_RECORDS)
    report, rss_kib = scan_measured(evidence, tmp_path / "case",
                                    env={"EXHUNT_MAX_RECORD_BYTES": str(BIG_LIMIT)})
    entry = only_file(report)
    assert (entry["kind"], entry["rows"], entry["bad_lines"], entry["reason"]) == (
        "w3ciislog-export", BIG_RECORDS, 0, None), entry
    assert entry["dash_queries"] == BIG_RECORDS // 4, entry
    assert entry["computer"] == "EXCH00, EXCH01, EXCH02", entry
    files = [str(p) for p in (tmp_path / "case").rglob("*.parquet") if "kind=rows" in str(p)]
    assert duckdb.execute(
        'SELECT count(DISTINCT "_line"), min("_line"), max("_line"), '
        "count(*) FILTER (WHERE \"csUriStem\" = printf('/owa/%09d/', \"_line\" - 1) "
        "|| repeat('A', $pad)) FROM read_parquet($f)",
        {"f": files, "pad": BIG_STEM - 16}).fetchone() == (
        BIG_RECORDS, 1, BIG_RECORDS, BIG_RECORDS)
    assert rss_kib < RSS_BOUND_MIB * 1024, f"peak RSS {rss_kib // 1024} MiB"
