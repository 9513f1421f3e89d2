"""engine.drilldown: the rows behind the console's panes."""
from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest

from engine.drilldown import Drilldown, DrilldownError
from engine.findings import HuntRun
from engine.hunts import presentation_of
from engine.presentation import Pane
from engine.rules import find_rule, load_rules
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


def hunt_run(slug: str, **overrides) -> HuntRun:
    """A run of a built-in hunt (no findings needed: panes are bound from a row we give)."""
    rule = find_rule(load_rules(), slug)
    if overrides:
        rule = dataclasses.replace(rule, drilldowns={
            k: dataclasses.replace(q, **overrides) for k, q in rule.drilldowns.items()})
    run = HuntRun(rule.id, rule.slug, rule.name, list(rule.columns), rule=rule)
    run.presentation = presentation_of(run)
    return run


def pane(run: HuntRun, pane_id: str) -> Pane:
    return next(p for p in run.presentation.panes if p.id == pane_id)


def server_alerts(drill: Drilldown, server: str) -> list[dict]:
    run = hunt_run("exchange-alerts")
    return drill.pane_rows(run, pane(run, "alerts"), {"ExchangeServer": server}).rows


def file_requests(drill: Drilldown, tenant: str, computer: str, stem: str, **overrides):
    run = hunt_run("owa-export", **overrides)
    row = {"TenantId": tenant, "Computer": computer, "csUriStem": stem}
    return drill.pane_rows(run, pane(run, "requests"), row)


def ip_pivot(drill: Drilldown, computer: str, ip: str):
    run = hunt_run("owa-export")
    return drill.pane_rows(run, pane(run, "pivot"), {"Computer": computer, "AccessingIPs": [ip]})


def test_server_alerts_match_host_entities_as_hunt_a_does(drill):
    alerts = server_alerts(drill, "exch01.contoso.com")
    assert [(a["SystemAlertId"], a["TimeGenerated"]) for a in alerts] == [
        ("a1", T), ("a1", T + dt.timedelta(hours=1))]


def test_server_alerts_of_a_short_host_name(drill):
    assert [a["SystemAlertId"] for a in server_alerts(drill, "exch02")] == ["a2"]


def test_file_requests_are_every_request_for_the_path_on_that_server(drill):
    page = file_requests(drill, "", "EXCH01.contoso.com", "/owa/auth/x.zip")
    assert page.total == 2
    assert [r["cIP"] for r in page.rows] == ["203.0.113.7", "198.51.100.1"]


def test_file_requests_count_all_rows_when_the_page_is_full(drill):
    page = file_requests(drill, "", "EXCH01.contoso.com", "/owa/auth/x.zip", limit=1)
    assert (len(page.rows), page.total) == (1, 2)


def test_ip_pivot_counts_by_path_and_status_on_one_server(drill):
    pivot = ip_pivot(drill, "EXCH01.contoso.com", "203.0.113.7")
    assert [(p["csUriStem"], p["scStatus"], p["requests"]) for p in pivot.rows] == [
        ("/owa/auth/logon.aspx", "302", 2), ("/owa/auth/x.zip", "200", 1)]
    summary = pivot.summary
    assert (summary["cIP"], summary["requests"], summary["paths"]) == ("203.0.113.7", 3, 2)
    assert (summary["first_seen"], summary["last_seen"]) == (T, T + dt.timedelta(minutes=9))


def test_values_are_bound_not_spliced(drill):
    assert ip_pivot(drill, "x' OR '1'='1", "203.0.113.7").rows == []


def test_a_generic_pane_of_a_hunt_without_a_console_key_binds_through_roles(drill):
    run = hunt_run("owa-export")
    run = dataclasses.replace(run, rule=dataclasses.replace(run.rule, console=None),
                              columns=["Computer", "cIP", "Requests"])
    run.presentation = presentation_of(run)
    requests = next(p for p in run.presentation.panes if p.id == "client-requests")
    page = drill.pane_rows(run, requests, {"Computer": "exch01.CONTOSO.com",
                                           "cIP": "203.0.113.7", "Requests": 3})
    # Newest first; the two at T tie.
    assert page.rows[0]["TimeGenerated"] == T + dt.timedelta(minutes=9)
    assert sorted(r["csUriStem"] for r in page.rows) == [
        "/owa/auth/logon.aspx", "/owa/auth/logon.aspx", "/owa/auth/x.zip"]
    assert page.total == 3


def test_a_pane_naming_a_column_the_finding_lacks_says_which(drill):
    run = hunt_run("owa-export")
    with pytest.raises(DrilldownError, match="csUriStem"):
        drill.pane_rows(run, pane(run, "requests"), {"TenantId": "", "Computer": "x"})


def test_evidence_stats(drill):
    stats = drill.evidence_stats()
    assert (stats.iis_rows, stats.iis_hosts, stats.alert_rows, stats.alerts) == (5, 2, 5, 4)
