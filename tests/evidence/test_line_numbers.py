"""Line numbers (``_line``, bad-line reports) on a file large enough for DuckDB to read in
several parallel chunks: they must still be the file's own line numbers."""
from __future__ import annotations

from engine.case import Case
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, only_file, row, rows


def test_every_row_keeps_its_own_line_number_in_a_file_read_in_parallel_chunks(tmp_path):
    # ~48 MB: well past DuckDB's CSV buffer, so its reader splits the file between threads.
    # Each row carries its line number in cs-uri-query; a header block repeats mid-file and
    # a few lines are cut short (bad lines), so both paths of the ingest are exercised.
    path = tmp_path / "ev/EXCH01/u_ex1.log"
    path.parent.mkdir(parents=True)
    head = IIS_HEAD + FIELDS + "\r\n"
    pad = "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+" + "A" * 80
    bad_at = {77_777, 150_001, 249_998}
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(head)
        line = head.count("\n")  # lines written so far
        for n in range(1, 250_001):
            if n == 125_000:
                out.write(head)
                line += head.count("\n")
            line += 1
            if line in bad_at:
                out.write(f"2024-03-01 08:00:01 cut-{line}\r\n")
            else:
                out.write(row(query=f"n={line}", ua=pad) + "\r\n")
    report = ingest(path, tmp_path / "case")
    got = rows(tmp_path / "case", 'SELECT "csUriQuery", "_line" FROM "W3CIISLog"')
    assert only_file(report).bad_lines == len(bad_at)
    assert len(got) == only_file(report).rows
    assert [r["_line"] for r in got if r["csUriQuery"] != f"n={r['_line']}"] == []
    bad = Case(tmp_path / "case").bad_lines()
    assert [(b.line, b.text) for b in bad] == [
        (n, f"2024-03-01 08:00:01 cut-{n}") for n in sorted(bad_at)]
