"""Computer naming: host map > s-computername > nearest non-IIS folder; default domain."""
from __future__ import annotations

from pathlib import Path

from engine.case import IngestOptions
from engine.evidence.hosts import HostMap, host_for_file, is_iis_component
from tests.evidence.helpers import FIELDS, IIS_HEAD, ingest, row, rows, write

SCN_FIELDS = "#Fields: date time s-computername c-ip cs-uri-stem sc-status"


def test_iis_and_windows_folder_names_are_not_server_names():
    for name in ("W3SVC1", "w3svc12", "LogFiles", "logs", "inetpub", "C", "C$", "d:"):
        assert is_iis_component(name), name
    assert not is_iis_component("EXCH01")


def test_computer_is_the_nearest_folder_that_is_not_an_iis_component(tmp_path):
    path = tmp_path / "ev/EXCH01/C$/inetpub/logs/LogFiles/W3SVC1/u_ex1.log"
    assert host_for_file(path, tmp_path / "ev", None, None).computer == "EXCH01"


def test_default_domain_turns_short_names_into_fqdns(tmp_path):
    path = tmp_path / "ev/EXCH01/W3SVC1/u.log"
    assert host_for_file(path, tmp_path / "ev", None, "contoso.com").computer == "EXCH01.contoso.com"


def test_folders_above_the_evidence_root_are_never_used(tmp_path):
    path = tmp_path / "alice/ev/W3SVC1/u.log"
    assert host_for_file(path, tmp_path / "alice/ev/W3SVC1", None, None).computer == ""


def test_host_map_formats(tmp_path):
    assert HostMap.load(write(tmp_path / "m.txt", "# c\nEXCH01 exch01.contoso.com\n")).lookup(
        "exch01") == "exch01.contoso.com"
    assert HostMap.load(write(tmp_path / "m.json", '{"EXCH02": "e2.contoso.com"}')).lookup(
        "EXCH02") == "e2.contoso.com"
    assert HostMap.load(write(tmp_path / "m.csv", "name,computer\nweb,web.contoso.com\n")).lookup(
        "WEB") == "web.contoso.com"


def test_s_computername_names_the_computer_and_fills_scomputername(tmp_path):
    text = SCN_FIELDS + "\n2024-03-01 08:00:00 EXCH09 192.0.2.1 /owa/ 200\n"
    ingest(write(tmp_path / "ev/folder01/u.log", text), tmp_path / "case",
           IngestOptions(default_domain="contoso.com"))
    (got,) = rows(tmp_path / "case")
    assert (got["Computer"], got["sComputerName"]) == ("EXCH09.contoso.com", "EXCH09")


def test_host_map_wins_over_s_computername(tmp_path):
    hostmap = write(tmp_path / "hosts.txt", "folder01 mapped.contoso.com\n")
    text = SCN_FIELDS + "\n2024-03-01 08:00:00 EXCH09 192.0.2.1 /owa/ 200\n"
    ingest(write(tmp_path / "ev/folder01/u.log", text), tmp_path / "case",
           IngestOptions(host_map=hostmap))
    assert rows(tmp_path / "case")[0]["Computer"] == "mapped.contoso.com"


def test_folder_name_is_used_when_no_s_computername(tmp_path):
    ingest(write(tmp_path / "ev/EXCH01/W3SVC1/u.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n"),
           tmp_path / "case")
    assert rows(tmp_path / "case")[0]["Computer"] == "EXCH01"


def test_tenant_id_option_fills_tenantid_of_raw_rows(tmp_path):
    ingest(write(tmp_path / "ev/EXCH01/u.log", IIS_HEAD + FIELDS + "\r\n" + row() + "\r\n"),
           tmp_path / "case", IngestOptions(tenant_id="t-1"))
    assert rows(tmp_path / "case")[0]["TenantId"] == "t-1"


def test_hostile_host_names_stay_inside_the_case_folder(tmp_path):
    text = SCN_FIELDS + "\n2024-03-01 08:00:00 ../../../etc 192.0.2.1 /owa/ 200\n"
    case_dir = tmp_path / "case"
    ingest(write(tmp_path / "ev/x/u.log", text), case_dir)
    assert rows(case_dir)[0]["Computer"] == "../../../etc"
    written = [p for p in tmp_path.rglob("*.parquet")]
    assert written and all(Path(case_dir) in p.parents for p in written)
