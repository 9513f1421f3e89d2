"""engine.drilldown: the rows behind the console's panes."""
from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from engine.drilldown import Drilldown
from engine.tables import create_tables

T = dt.datetime(2021, 3, 2, 8, 0, 0)


@pytest.fixture
def drill() -> Drilldown:
    con = duckdb.connect()
    create_tables(con)
    alerts = [
        (T, "Web shell", "a1", '[{"$id":"1","Type":"host","HostName":"EXCH01",'
                               '"DnsDomain":"contoso.com"},{"$ref":"1"}]'),
        (T + dt.timedelta(hours=1), "Web shell", "a1", '[{"Type":"host","HostName":"exch01",'
                                                       '"DnsDomain":"contoso.com"}]'),
        (T, "Other host", "a2", '[{"Type":"host","HostName":"exch02"}]'),
        (T, "Wrong case type", "a3", '[{"Type":"Host","HostName":"exch01",'
                                     '"DnsDomain":"contoso.com"}]'),
        (T, "Bad json", "a4", "not json"),
    ]
    con.executemany("INSERT INTO SecurityAlert (TimeGenerated, AlertName, SystemAlertId, "
                    "Entities) VALUES (?, ?, ?, ?)", alerts)
    requests = [
        (T, "EXCH01.contoso.com", "/owa/auth/x.zip", "", "203.0.113.7", "200"),
        (T + dt.timedelta(minutes=5), "EXCH01.contoso.com", "/owa/auth/x.zip", "a=1",
         "198.51.100.1", "200"),
        (T, "EXCH01.contoso.com", "/owa/auth/logon.aspx", "", "203.0.113.7", "302"),
        (T + dt.timedelta(minutes=9), "EXCH01.contoso.com", "/owa/auth/logon.aspx", "",
         "203.0.113.7", "302"),
        (T, "EXCH02.contoso.com", "/owa/auth/x.zip", "", "203.0.113.7", "200"),
    ]
    con.executemany("INSERT INTO W3CIISLog (TimeGenerated, Computer, csUriStem, csUriQuery, "
                    "cIP, scStatus) VALUES (?, ?, ?, ?, ?, ?)", requests)
    return Drilldown(con)


def test_server_alerts_match_host_entities_as_hunt_a_does(drill):
    alerts = drill.server_alerts("exch01.contoso.com")
    assert [(a.alert_id, a.time) for a in alerts] == [("a1", T), ("a1", T + dt.timedelta(hours=1))]


def test_server_alerts_of_a_short_host_name(drill):
    assert [a.alert_id for a in drill.server_alerts("exch02")] == ["a2"]


def test_file_requests_are_every_request_for_the_path_on_that_server(drill):
    page = drill.file_requests("", "EXCH01.contoso.com", "/owa/auth/x.zip")
    assert page.total == 2
    assert [r["cIP"] for r in page.rows] == ["203.0.113.7", "198.51.100.1"]


def test_file_requests_count_all_rows_when_the_page_is_full(drill):
    page = drill.file_requests("", "EXCH01.contoso.com", "/owa/auth/x.zip", limit=1)
    assert (len(page.rows), page.total) == (1, 2)


def test_ip_pivot_counts_by_path_and_status_on_one_server(drill):
    pivot = drill.ip_pivot("EXCH01.contoso.com", "203.0.113.7")
    assert [(p.path, p.status, p.requests) for p in pivot.rows] == [
        ("/owa/auth/logon.aspx", "302", 2), ("/owa/auth/x.zip", "200", 1)]
    assert (pivot.requests, pivot.paths) == (3, 2)
    assert (pivot.first_seen, pivot.last_seen) == (T, T + dt.timedelta(minutes=9))


def test_values_are_bound_not_spliced(drill):
    assert drill.ip_pivot("x' OR '1'='1", "203.0.113.7").rows == []


def test_evidence_stats(drill):
    stats = drill.evidence_stats()
    assert (stats.iis_rows, stats.iis_hosts, stats.alert_rows, stats.alerts) == (5, 2, 5, 4)
