"""Recognising files by content; what is skipped and why; walking without following links."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from engine.evidence import discover
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, only_file, row, rows, write


def test_an_iis_log_is_recognised_whatever_its_name(tmp_path):
    path = write(tmp_path / "notes.txt", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    assert discover.sniff(path).kind == discover.IIS_W3C


def test_windows_firewall_w3c_log_is_skipped_with_a_reason(tmp_path):
    path = write(tmp_path / "pfirewall.log",
                 "#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Time Format: Local\n"
                 "#Fields: date time action protocol src-ip dst-ip src-port dst-port size\n"
                 "2024-03-01 08:00:00 ALLOW TCP 10.0.0.1 10.0.0.2 1 2 3\n")
    sniffed = discover.sniff(path)
    assert sniffed.kind == discover.SKIPPED and "Firewall" in sniffed.reason


def test_exchange_message_tracking_log_is_skipped(tmp_path):
    path = write(tmp_path / "MSGTRK2024.LOG",
                 "#Software: Microsoft Exchange Server\n#Version: 15.02.1118.007\n"
                 "#Log-type: Message Tracking Log\n#Date: 2024-03-01T00:00:01.000Z\n"
                 "#Fields: date-time,client-ip,client-hostname,server-ip,event-id,message-id\n"
                 "2024-03-01T00:00:01.000Z,10.0.0.1,,10.0.0.2,RECEIVE,<a@b>\n")
    sniffed = discover.sniff(path)
    assert sniffed.kind == discover.SKIPPED and "Exchange" in sniffed.reason


def test_iis_native_comma_format_is_rejected_with_a_clear_message(tmp_path):
    path = write(tmp_path / "in010320.log",
                 "192.168.114.201, -, 03/20/01, 7:55:20, W3SVC2, SERVER, 172.21.13.45, 4502, "
                 "163, 3223, 200, 0, GET, /DeptLogo.gif, -,\r\n")
    sniffed = discover.sniff(path)
    assert sniffed.kind == discover.SKIPPED and "native" in sniffed.reason


def test_w3c_lines_without_a_fields_line_are_skipped(tmp_path):
    path = write(tmp_path / "u.log", row() + "\n" + row() + "\n")
    sniffed = discover.sniff(path)
    assert sniffed.kind == discover.SKIPPED and "#Fields" in sniffed.reason


def test_other_files_are_skipped_with_a_reason(tmp_path):
    report = ingest(write(tmp_path / "ev/readme.md", "# Notes\n\nnothing here\n"),
                    tmp_path / "case")
    assert only_file(report).kind == "skipped" and only_file(report).reason


def test_symlink_loops_do_not_hang_and_links_are_not_followed(tmp_path):
    ev = tmp_path / "ev"
    write(ev / "S1/u.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    outside = write(tmp_path / "outside/secret.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n")
    os.symlink(ev, ev / "S1/loop")
    os.symlink(outside.parent, ev / "escape")
    os.symlink(outside, ev / "S1/linked.log")
    found = discover.walk([ev])
    loaded = [f.path for f in found if not f.skip_reason]
    assert loaded == [ev / "S1/u.log"]
    assert {f.path.name for f in found if f.skip_reason} == {"loop", "escape", "linked.log"}


def _first_record_with_a_long_value_first(path, array: bool, gz: bool) -> None:
    """Two requests; the first one's user agent (1 MiB) comes before csUriStem and cIP, so
    the keys that make it a W3CIISLog export lie beyond discovery's 256 KiB head."""
    first = ('{"TimeGenerated": "2024-03-01T08:00:01Z", "csUserAgent": "' + "A" * (1 << 20)
             + '", "Computer": "EXCH01", "csUriStem": "/owa/auth/one.js", "cIP": "1.2.3.4"}')
    second = json.dumps({"TimeGenerated": "2024-03-01T08:00:02Z", "Computer": "EXCH01",
                         "csUriStem": "/owa/auth/two.js", "cIP": "1.2.3.4"})
    text = "[" + first + ",\n" + second + "]\n" if array else first + "\n" + second + "\n"
    write(path, gzip.compress(text.encode()) if gz else text)


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "json"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_json_export_whose_identifying_keys_follow_a_value_longer_than_the_head_is_recognised(
        tmp_path, array: bool, gz: bool) -> None:
    path = tmp_path / ("requests.json" + (".gz" if gz else ""))
    _first_record_with_a_long_value_first(path, array, gz)
    sniffed = discover.sniff(path)
    assert (sniffed.kind, sniffed.fmt) == (discover.W3C_EXPORT, "json" if array else "jsonl")


def test_such_an_export_loads_every_record(tmp_path) -> None:
    _first_record_with_a_long_value_first(tmp_path / "ev" / "requests.jsonl", False, False)
    assert only_file(ingest(tmp_path / "ev", tmp_path / "case")).rows == 2
    assert [r["csUriStem"] for r in rows(tmp_path / "case")] == ["/owa/auth/one.js",
                                                                  "/owa/auth/two.js"]


def test_a_json_file_whose_long_first_record_matches_no_table_is_still_skipped(tmp_path) -> None:
    path = write(tmp_path / "other.jsonl",
                 '{"blob": "' + "A" * (1 << 20) + '", "colour": "red"}\n{"colour": "blue"}\n')
    assert discover.sniff(path).kind == discover.SKIPPED
