"""The demo folder looks like a real triage collection."""
from __future__ import annotations

import gzip
import re

import pytest

from tests.demo.reference import read_w3c


def test_every_file_in_the_summary_exists_and_nothing_else(demo, demo_dir):
    on_disk = {p.relative_to(demo_dir).as_posix() for p in demo_dir.rglob("*") if p.is_file()}
    assert on_disk == {f.path for f in demo.files}


def test_at_least_three_exchange_servers_and_one_plain_iis_server(demo):
    assert len(demo.exchange_servers) >= 3
    assert demo.plain_iis_servers == ("WEB01",)


def test_iis_logs_sit_under_w3svc_folders_with_iis_file_names(demo):
    for f in demo.files:
        if f.kind == "iis-w3c":
            assert re.search(r"/inetpub/logs/LogFiles/W3SVC1/u_ex2103\d\d\.log(\.gz)?$", f.path), f.path


def test_tens_of_thousands_of_rows_over_several_days(demo, demo_rows):
    assert demo.w3c_rows == len(demo_rows) >= 20_000
    assert len({r.time.date() for r in demo_rows}) == 3


def test_total_size_stays_modest(demo_dir):
    assert sum(p.stat().st_size for p in demo_dir.rglob("*") if p.is_file()) < 8_000_000


def test_each_file_has_the_rows_and_bad_lines_the_summary_promises(demo, demo_dir):
    for f in demo.files:
        if f.kind == "iis-w3c":
            rows, bad = read_w3c(demo_dir / f.path, demo_dir)
            assert (len(rows), bad, f.bad_lines) == (f.rows, list(f.bad_line_numbers), len(bad)), f.path


def test_computer_comes_from_the_folder_or_from_s_computername(demo, demo_rows):
    assert {r.computer for r in demo_rows} == set(demo.exchange_servers) | set(demo.plain_iis_servers)
    exch02 = [r for r in demo_rows if r.computer == "EXCH02"]
    assert exch02 and all(r.fields["s-computername"] == "EXCH02" for r in exch02)


def _text(demo_dir, path: str) -> str:
    data = (demo_dir / path).read_bytes()
    return (gzip.decompress(data) if path.endswith(".gz") else data).decode("utf-8")


def test_header_blocks_repeat_mid_file(demo, demo_dir):
    for f in demo.files:
        if f.kind == "iis-w3c":
            text = _text(demo_dir, f.path)
            assert text.startswith("#Software: Microsoft Internet Information Services")
            assert text.count("#Fields: ") >= 2, f.path
            assert text.count("#Date: ") == text.count("#Fields: ") == text.count("#Version: 1.0")


def test_the_field_list_changes_mid_file_on_exch04(demo_dir):
    text = _text(demo_dir, "EXCH04.contoso.com/C/inetpub/logs/LogFiles/W3SVC1/u_ex210302.log")
    fields = {line for line in text.splitlines() if line.startswith("#Fields: ")}
    assert len(fields) == 2
    assert any("sc-bytes cs-bytes" in f for f in fields)


def test_iis_lines_end_in_crlf(demo_dir):
    text = _text(demo_dir, "EXCH01.contoso.com/C/inetpub/logs/LogFiles/W3SVC1/u_ex210301.log")
    assert text.count("\r\n") == text.count("\n")


def test_one_file_is_gzip_compressed(demo, demo_dir):
    gz = [f.path for f in demo.files if f.path.endswith(".gz")]
    assert len(gz) == 1
    assert gzip.decompress((demo_dir / gz[0]).read_bytes()).startswith(b"#Software: ")


def test_user_agents_use_plus_for_spaces_as_iis_writes_them(demo_rows):
    agents = {r.fields["cs(User-Agent)"] for r in demo_rows}
    assert "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/88.0.4324.190+Safari/537.36" in agents
    assert not any(" " in a for a in agents)


def test_ordinary_traffic_covers_every_exchange_protocol(demo_rows):
    stems = {r.fields["cs-uri-stem"].lower() for r in demo_rows}
    for stem in ("/owa/", "/owa/auth.owa", "/ecp/default.aspx", "/ews/exchange.asmx", "/mapi/emsmdb/",
                 "/microsoft-server-activesync/default.eas", "/autodiscover/autodiscover.xml",
                 "/owa/healthcheck.htm", "/ecp/healthcheck.htm"):
        assert stem in stems, stem


def test_a_truncated_last_line_is_the_only_bad_line(demo, demo_bad_lines):
    bad = {path: lines for path, lines in demo_bad_lines.items() if lines}
    assert bad == {"WEB01/C$/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log": [659]}
    assert not (demo.dest / "WEB01/C$/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log").read_bytes().endswith(b"\n")


@pytest.mark.parametrize("path, first_line", [
    ("EXCH01.contoso.com/C/Windows/System32/LogFiles/Firewall/pfirewall.log", "#Version: 1.5"),
    ("EXCH01.contoso.com/C/Program Files/Microsoft/Exchange Server/V15/TransportRoles/Logs/MessageTracking/"
     "MSGTRK2021030300-1.LOG", "#Software: Microsoft Exchange Server"),
])
def test_files_that_are_not_iis_logs_are_there_to_be_skipped(demo, demo_dir, path, first_line):
    assert demo.file(path).kind == "skipped"
    assert (demo_dir / path).read_text().splitlines()[0] == first_line


def test_readme_lists_the_sha256_of_every_other_file(demo, demo_dir):
    import hashlib
    readme = (demo_dir / "README.txt").read_text()
    for f in demo.files:
        if f.path != "README.txt":
            assert f"{hashlib.sha256((demo_dir / f.path).read_bytes()).hexdigest()}  {f.path}" in readme
