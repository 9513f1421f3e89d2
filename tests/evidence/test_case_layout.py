"""Where a raw W3C file's rows land in the case: W3CIISLog/kind=rows/host=<h>/day=<d>/,
whichever way the ingest wrote them (one file moved into place, or partitioned)."""
from __future__ import annotations

from pathlib import Path

from engine.case import Case, IngestOptions
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, only_file, row, rows, write


def _folders(case_dir: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(p.parents[3]))
                  for p in case_dir.glob("data/*/W3CIISLog/kind=*/host=*/day=*/*.parquet"))


def test_rows_of_one_server_and_one_day_are_in_that_servers_and_days_folder(tmp_path):
    ingest(write(tmp_path / "ev/EXCH01/u_ex1.log",
                 IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row(stem="/b") + "\r\n"),
           tmp_path / "case")
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01"]
    assert len(rows(tmp_path / "case")) == 2


def test_a_file_whose_rows_span_two_days_has_one_folder_per_day(tmp_path):
    late = row(stem="/late").replace("2024-03-01", "2024-03-02")
    ingest(write(tmp_path / "ev/EXCH01/u_ex1.log",
                 IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + late + "\r\n"), tmp_path / "case")
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01",
                                           "kind=rows/host=exch01/day=2024-03-02"]
    assert [r["csUriStem"] for r in rows(tmp_path / "case")] == ["/owa/auth/logon.aspx", "/late"]


def test_rows_naming_two_computers_have_one_folder_per_computer(tmp_path):
    fields = FIELDS + " s-computername"
    text = (IIS_HEAD + fields + "\r\n" + row() + " EXCH01\r\n" + row(stem="/b") + " EXCH02\r\n")
    ingest(write(tmp_path / "ev/logs/u_ex1.log", text), tmp_path / "case")
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01",
                                           "kind=rows/host=exch02/day=2024-03-01"]
    assert [r["Computer"] for r in rows(tmp_path / "case")] == ["EXCH01", "EXCH02"]


def test_a_single_computer_named_by_s_computername_gets_its_sanitised_folder(tmp_path):
    fields = FIELDS + " s-computername"
    text = IIS_HEAD + fields + "\r\n" + row() + " Exch-01/A\r\n"
    ingest(write(tmp_path / "ev/logs/u_ex1.log", text), tmp_path / "case",
           IngestOptions(default_domain="contoso.com"))
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch-01_a.contoso.com/day=2024-03-01"]
    assert [r["Computer"] for r in rows(tmp_path / "case")] == ["Exch-01/A.contoso.com"]


def test_rows_without_a_time_keep_the_same_rows_as_the_partitioned_write(tmp_path):
    text = IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row(stem="/b").replace(
        "2024-03-01 08:00:01", "2024-13-45 08:00:01") + "\r\n"
    report = ingest(write(tmp_path / "ev/EXCH01/u_ex1.log", text), tmp_path / "case")
    assert only_file(report).rows == 2
    got = rows(tmp_path / "case")
    assert [(r["csUriStem"], r["TimeGenerated"] is None) for r in got] == [
        ("/owa/auth/logon.aspx", False), ("/b", True)]


def test_a_file_with_a_bad_line_keeps_its_rows_line_numbers_and_the_bad_lines_text(tmp_path):
    text = (IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + "2024-03-01 08:00:02 cut\r\n"
            + row(stem="/b") + "\r\n")
    path = write(tmp_path / "ev/EXCH01/u_ex1.log", text)
    report = ingest(path, tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (2, 1)
    assert [(r["csUriStem"], r["_line"]) for r in rows(tmp_path / "case")] == [
        ("/owa/auth/logon.aspx", 5), ("/b", 7)]
    assert [(b.line, b.text) for b in Case(tmp_path / "case").bad_lines()] == [
        (6, "2024-03-01 08:00:02 cut")]
    assert _folders(tmp_path / "case") == ["kind=rows/host=exch01/day=2024-03-01"]


def test_a_line_of_blanks_only_is_neither_a_row_nor_a_bad_line(tmp_path):
    text = IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n   \r\n" + row(stem="/b") + "\r\n"
    report = ingest(write(tmp_path / "ev/EXCH01/u_ex1.log", text), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (2, 0)
    assert [r["_line"] for r in rows(tmp_path / "case")] == [5, 7]


def test_a_reader_during_an_ingest_sees_the_previous_case_until_the_manifest_is_swapped(
        tmp_path):
    ev = tmp_path / "ev"
    write(ev / "EXCH01/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    ingest(ev, tmp_path / "case")
    write(ev / "EXCH02/u_ex1.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row() + "\r\n")
    seen = []

    def read_meanwhile(progress):
        if progress.current is not None:  # a file is done, the manifest not yet replaced
            seen.append(len(rows(tmp_path / "case")))

    Case(tmp_path / "case").ingest([ev], progress=read_meanwhile)
    assert seen and set(seen) == {1}
    assert len(rows(tmp_path / "case")) == 3


def test_an_iis_file_with_hundreds_of_header_blocks_maps_each_row_to_its_layout(tmp_path):
    soft = "#Software: Microsoft Internet Information Services 10.0\r\n"
    blocks = []
    for i in range(150):
        if i % 2:
            blocks.append(soft + "#Fields: date time c-ip cs-uri-stem\r\n"
                          f"2024-03-01 08:00:00 192.0.2.1 /odd{i}\r\n")
        else:
            blocks.append(soft + "#Fields: date time cs-uri-stem c-ip\r\n"
                          f"2024-03-01 08:00:00 /even{i} 192.0.2.2\r\n")
    report = ingest(write(tmp_path / "ev/EXCH01/u.log", "".join(blocks)), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (150, 0)
    got = rows(tmp_path / "case")
    assert all(r["cIP"] == ("192.0.2.1" if "odd" in r["csUriStem"] else "192.0.2.2") for r in got)
    assert [r["_line"] for r in got][:3] == [3, 6, 9]
