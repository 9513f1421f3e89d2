"""Raw IIS W3C quirks (SPEC.md "Raw W3C files as found in the wild"), one fixture each."""
from __future__ import annotations

import datetime as dt
import gzip

from engine.case import Case, IngestOptions
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, only_file, row, rows, write


def test_rows_follow_the_fields_line_above_them_when_the_layout_changes_mid_file(tmp_path):
    text = (IIS_HEAD + FIELDS + "\r\n" + row(stem="/first") + "\r\n"
            + IIS_HEAD + "#Fields: date time c-ip cs-uri-stem sc-status\r\n"
            + "2024-03-01 09:00:00 198.51.100.9 /second 404\r\n")
    ingest(write(tmp_path / "ev/EXCH01/u_ex1.log", text), tmp_path / "case")
    got = rows(tmp_path / "case")
    assert [(r["csUriStem"], r["cIP"], r["scStatus"]) for r in got] == [
        ("/first", "203.0.113.7", "200"), ("/second", "198.51.100.9", "404")]


def test_crlf_lf_mix_and_a_missing_final_newline_load_every_row(tmp_path):
    text = IIS_HEAD + FIELDS + "\n" + row(stem="/a") + "\r\n" + row(stem="/b") + "\n" + row(stem="/c")
    report = ingest(write(tmp_path / "ev/S1/u.log", text), tmp_path / "case")
    assert only_file(report).rows == 3
    assert [r["csUriStem"] for r in rows(tmp_path / "case")] == ["/a", "/b", "/c"]
    assert rows(tmp_path / "case")[-1]["TimeTaken"] == 15  # no stray CR in the last field


def test_runs_of_blanks_between_fields_count_as_one_separator(tmp_path):
    line = row().replace(" 443 - ", " 443   CONTOSO\\alice ").replace(" GET ", "  GET ")
    ingest(write(tmp_path / "ev/S1/u.log", IIS_HEAD + FIELDS + "\r\n" + line + "\r\n"),
           tmp_path / "case")
    (got,) = rows(tmp_path / "case")
    assert (got["csMethod"], got["csUserName"], got["sPort"]) == ("GET", "CONTOSO\\alice", 443)


def test_quote_and_hash_inside_unquoted_values_are_data(tmp_path):
    line = row(stem="/owa/#frag", ua='Mozilla"5.0+#x', query='a="b"')
    report = ingest(write(tmp_path / "ev/S1/u.log", IIS_HEAD + FIELDS + "\r\n" + line + "\r\n"),
                    tmp_path / "case")
    assert only_file(report).bad_lines == 0
    (got,) = rows(tmp_path / "case")
    assert (got["csUriStem"], got["csUserAgent"], got["csUriQuery"]) == (
        "/owa/#frag", 'Mozilla"5.0+#x', 'a="b"')


def test_advanced_logging_quoted_values_keep_their_blanks(tmp_path):
    text = ("#Software: IIS Advanced Logging Module\r\n#Version: 1.0\r\n\r\n"
            "#Fields:  date time c-ip cs(User-Agent) cs-uri-stem sc-status\r\n"
            '2024-03-01 08:00:00.125 "203.0.113.7" "Mozilla/5.0 (X11; Linux)" /owa/ '
            '" ""odd"" value "\r\n')
    report = ingest(write(tmp_path / "ev/S1/adv.log", text), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (1, 0)
    (got,) = rows(tmp_path / "case")
    assert got["cIP"] == "203.0.113.7"
    assert got["csUserAgent"] == "Mozilla/5.0 (X11; Linux)"
    assert got["scStatus"] == ' "odd" value '
    assert got["_line"] == 5  # the blank line between directives still counts


def test_invalid_utf8_keeps_the_row_and_replaces_the_bytes(tmp_path):
    data = (IIS_HEAD + FIELDS + "\r\n").encode() + row(ua="Bad\xffUA").encode("latin-1") + b"\r\n"
    report = ingest(write(tmp_path / "ev/S1/u.log", data), tmp_path / "case")
    assert only_file(report).rows == 1
    assert rows(tmp_path / "case")[0]["csUserAgent"] == "Bad\ufffdUA"


def test_gzip_files_are_read_like_plain_ones(tmp_path):
    text = IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n" + row(stem="/ecp/") + "\r\n"
    path = write(tmp_path / "ev/S1/u_ex1.log.gz", gzip.compress(text.encode()))
    report = ingest(path, tmp_path / "case")
    assert (only_file(report).kind, only_file(report).rows) == ("iis-w3c", 2)


def test_rows_that_do_not_fit_are_counted_with_file_line_and_text_and_not_loaded(tmp_path):
    text = (row(stem="/before-fields") + "\r\n" + IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n"
            + "2024-03-01 08:00:02 truncated\r\n" + row() + " extra\r\n")
    path = write(tmp_path / "ev/S1/u.log", text)
    report = ingest(path, tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (1, 3)
    bad = Case(tmp_path / "case").bad_lines()
    assert [(b.path, b.line) for b in bad] == [(str(path), 1), (str(path), 7), (str(path), 8)]
    assert bad[1].text == "2024-03-01 08:00:02 truncated"


def test_a_layout_without_date_takes_the_date_of_the_date_directive(tmp_path):
    text = ("#Software: Microsoft Internet Information Services 6.0\r\n#Date: 2013-07-30 00:00:00\r\n"
            "#Fields: time c-ip cs-uri-stem sc-status\r\n00:00:03 192.0.2.1 /a 200\r\n"
            "#Date: 2013-07-31 00:00:00\r\n00:00:04 192.0.2.1 /b 200\r\n")
    ingest(write(tmp_path / "ev/S1/u.log", text), tmp_path / "case")
    assert [r["TimeGenerated"] for r in rows(tmp_path / "case")] == [
        dt.datetime(2013, 7, 30, 0, 0, 3), dt.datetime(2013, 7, 31, 0, 0, 4)]


def test_dash_becomes_empty_by_default(tmp_path):
    ingest(write(tmp_path / "ev/S1/u.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n"),
           tmp_path / "case")
    (got,) = rows(tmp_path / "case")
    assert (got["csUriQuery"], got["csUserName"], got["csReferer"]) == ("", "", "")


def test_keep_dash_option_keeps_the_dash_literally(tmp_path):
    ingest(write(tmp_path / "ev/S1/u.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n"),
           tmp_path / "case", IngestOptions(keep_dash=True))
    (got,) = rows(tmp_path / "case")
    assert (got["csUriQuery"], got["csUserName"]) == ("-", "-")


def test_plus_and_percent_encoding_are_kept_as_logged(tmp_path):
    line = row(stem="/owa/a%20b.zip", query="x=%2F+y", ua="Mozilla/5.0+(Windows+NT)")
    ingest(write(tmp_path / "ev/S1/u.log", IIS_HEAD + FIELDS + "\r\n" + line + "\r\n"),
           tmp_path / "case")
    (got,) = rows(tmp_path / "case")
    assert (got["csUriStem"], got["csUriQuery"], got["csUserAgent"]) == (
        "/owa/a%20b.zip", "x=%2F+y", "Mozilla/5.0+(Windows+NT)")


def test_times_are_utc_with_their_fraction_kept(tmp_path):
    text = ("#Fields: date time c-ip cs-uri-stem\n2024-03-01 08:00:01.123456 192.0.2.1 /a\n")
    ingest(write(tmp_path / "ev/S1/u.log", text), tmp_path / "case")
    assert rows(tmp_path / "case")[0]["TimeGenerated"] == dt.datetime(2024, 3, 1, 8, 0, 1, 123456)


def test_blank_lines_do_not_shift_line_numbers(tmp_path):
    text = IIS_HEAD + FIELDS + "\r\n\r\n" + row() + "\r\n\r\n\r\n" + row(stem="/x") + "\r\n"
    ingest(write(tmp_path / "ev/S1/u.log", text), tmp_path / "case")
    assert [r["_line"] for r in rows(tmp_path / "case")] == [6, 9]


def test_numeric_fields_are_typed(tmp_path):
    text = "#Fields: date time s-port c-ip cs-uri-stem sc-bytes cs-bytes time-taken sc-status\n" \
           "2024-03-01 08:00:01 443 192.0.2.1 /a 1234 99 7 200\n"
    ingest(write(tmp_path / "ev/S1/u.log", text), tmp_path / "case")
    (got,) = rows(tmp_path / "case")
    assert (got["sPort"], got["scBytes"], got["csBytes"], got["TimeTaken"], got["scStatus"]) == (
        443, 1234, 99, 7, "200")
    assert (got["Type"], got["TenantId"]) == ("W3CIISLog", "")


def test_hundreds_of_alternating_header_blocks_still_map_each_row_to_its_layout(tmp_path):
    blocks = []
    for i in range(150):
        if i % 2:
            blocks.append(f"#Fields: date time c-ip cs-uri-stem\n2024-03-01 08:00:00 192.0.2.1 /odd{i}\n")
        else:
            blocks.append(f"#Fields: date time cs-uri-stem c-ip\n2024-03-01 08:00:00 /even{i} 192.0.2.2\n")
    report = ingest(write(tmp_path / "ev/S1/u.log", "".join(blocks)), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (150, 0)
    got = rows(tmp_path / "case")
    assert all(r["cIP"] == ("192.0.2.1" if "odd" in r["csUriStem"] else "192.0.2.2") for r in got)
    assert [r["_line"] for r in got][:3] == [2, 4, 6]


def test_a_run_of_blanks_hiding_a_missing_field_is_a_bad_line_not_shifted_values(tmp_path):
    fields = "#Fields: date time c-ip cs-uri-stem sc-status"
    text = fields + "\n2024-03-01 08:00:00  /owa/ 200\n"  # c-ip missing, two blanks instead
    report = ingest(write(tmp_path / "ev/S1/u.log", text), tmp_path / "case")
    assert (only_file(report).rows, only_file(report).bad_lines) == (0, 1)
