"""The two seed hunts, compiled from their verbatim KQL, on tables whose expected rows were
worked out by hand from SPEC.md and the KQL documentation."""
from __future__ import annotations

import json
from datetime import timedelta

import yaml

from tests.kql.conftest import T0, alerts, iis, kql
from tests.kql.queries import QUERIES

HUNT_A = QUERIES["ExchangeServersAssociatedSecurityAlerts"]
HUNT_B = QUERIES["SuspectedMailBoxExportHostonOWA"]


def host(name: str, domain: str | None = None, type_: str = "host") -> dict:
    entity = {"Type": type_, "HostName": name}
    if domain is not None:
        entity["DnsDomain"] = domain
    return entity


def test_seed_queries_copied_verbatim(shared_hunts_dir):
    for name, text in [("ExchangeServersAssociatedSecurityAlerts", HUNT_A),
                       ("SuspectedMailBoxExportHostonOWA", HUNT_B)]:
        original = yaml.safe_load((shared_hunts_dir / f"{name}.yaml").read_text())["query"]
        assert original == text


def test_hunt_a_output_columns(db):
    assert list(kql(db, HUNT_A)) == []
    from engine.kql import compile_kql
    assert compile_kql(HUNT_A).columns == ["ExchangeServer", "Alerts", "AlertTimes", "AlertNames"]


def test_hunt_a_counts_alert_updates_once_and_lists_every_update(db):
    iis(db, {"Computer": "EXCH01.contoso.com", "csUriStem": "/OWA/Auth/logon.aspx"},
        {"Computer": "EXCH01.contoso.com", "csUriStem": "/ews/exchange.asmx"},
        {"Computer": "EXCH02.contoso.com", "csUriStem": "/ecp/healthcheck.htm"},
        {"Computer": "WEB01", "csUriStem": "/index.html"})
    entities = json.dumps([host("EXCH01", "contoso.com")])
    alerts(db,
           {"SystemAlertId": "a1", "AlertName": "Web shell", "Entities": entities},
           {"SystemAlertId": "a1", "AlertName": "Web shell", "Entities": entities,
            "TimeGenerated": T0 + timedelta(minutes=1)},
           # lower-cased on both sides: still exch01.contoso.com
           {"SystemAlertId": "a2", "AlertName": "Proxy", "Entities": json.dumps([host("exch01", "CONTOSO.COM")])},
           # `Type == "host"` is case-sensitive: "Host" never matches
           {"SystemAlertId": "a3", "AlertName": "X", "Entities": json.dumps([host("EXCH02", "contoso.com", "Host")])},
           {"SystemAlertId": "a4", "AlertName": "Y", "Entities": "not json"})
    rows = sorted(kql(db, HUNT_A), key=lambda r: r["ExchangeServer"])
    assert [r["ExchangeServer"] for r in rows] == ["exch01.contoso.com", "exch02.contoso.com"]
    exch01, exch02 = rows
    assert exch01["Alerts"] == 2
    assert sorted(exch01["AlertTimes"]) == ["2021-03-02T08:01:00Z", "2021-03-02T08:01:00Z",
                                            "2021-03-02T08:02:00Z"]
    assert sorted(exch01["AlertNames"]) == ["Proxy", "Web shell", "Web shell"]
    # leftouter: no alert -> nulls, not 0 / []
    assert (exch02["Alerts"], exch02["AlertTimes"], exch02["AlertNames"]) == (None, None, None)


def test_hunt_a_short_computer_never_matches_fqdn_entity(db):
    iis(db, {"Computer": "EXCH01", "csUriStem": "/owa/auth/x.js"})
    alerts(db, {"SystemAlertId": "a1", "Entities": json.dumps([host("exch01", "contoso.com")])})
    assert kql(db, HUNT_A) == [{"ExchangeServer": "exch01", "Alerts": None, "AlertTimes": None,
                                "AlertNames": None}]


def test_hunt_a_entity_without_domain_uses_host_name(db):
    iis(db, {"Computer": "EXCH01", "csUriStem": "/owa/auth/x.js"})
    alerts(db, {"SystemAlertId": "a1", "AlertName": "n", "Entities": json.dumps([host("EXCH01", "")])})
    assert kql(db, HUNT_A)[0]["Alerts"] == 1


def test_hunt_a_mvexpand_sees_only_the_first_128_entities(db):
    iis(db, {"Computer": "late.contoso.com", "csUriStem": "/owa/auth/"})
    entities = [{"Type": "file", "Name": f"f{i}"} for i in range(128)] + [host("late", "contoso.com")]
    alerts(db, {"SystemAlertId": "a1", "Entities": json.dumps(entities)})
    assert kql(db, HUNT_A)[0]["Alerts"] is None


def test_hunt_b_keeps_single_client_downloads_of_non_script_files(db):
    later = T0 + timedelta(hours=1)
    iis(db,
        {"Computer": "EXCH01", "csUriStem": "/owa/auth/export.pst", "cIP": "203.0.113.7"},
        {"Computer": "EXCH01", "csUriStem": "/owa/auth/logon.aspx", "cIP": "203.0.113.7"},
        {"Computer": "EXCH01", "csUriStem": "/owa/x.png", "csUriQuery": "a=1", "cIP": "203.0.113.7"},
        {"Computer": "EXCH01", "csUriStem": "/owa/", "cIP": "203.0.113.7"},
        {"Computer": "EXCH01", "csUriStem": "/owa/big.zip", "cIP": "10.0.0.5"},
        {"Computer": "EXCH01", "csUriStem": "/owa/v6.zip", "cIP": "2001:db8::1"},
        {"Computer": "EXCH01", "csUriStem": "/owa/many.zip", "cIP": "203.0.113.7"},
        {"Computer": "EXCH01", "csUriStem": "/owa/many.zip", "cIP": "198.51.100.9"},
        *[{"Computer": "EXCH01", "csUriStem": "/owa/thrice.bin", "cIP": "203.0.113.7"}] * 3,
        {"Computer": "EXCH01", "csUriStem": "/OWA/Case.PST", "cIP": "203.0.113.8"},
        {"Computer": "EXCH01", "csUriStem": "/OWA/Case.PST", "cIP": "203.0.113.8", "TimeGenerated": later})
    rows = sorted(kql(db, HUNT_B), key=lambda r: r["csUriStem"])
    assert [r["csUriStem"] for r in rows] == ["/OWA/Case.PST", "/owa/auth/export.pst"]
    case, export = rows
    assert export == {
        "TenantId": "", "file_name": "export.pst", "Computer": "EXCH01",
        "csUriStem": "/owa/auth/export.pst", "StartTime": T0, "EndTime": T0, "dcount_cIP": 1,
        "AccessingIPs": ["203.0.113.7"], "AccessTimes": ["2021-03-02T08:01:00Z"], "Access": 1,
        "timestamp": T0, "HostCustomEntity": "EXCH01"}
    assert (case["Access"], case["StartTime"], case["EndTime"]) == (2, T0, later)
    assert sorted(case["AccessTimes"]) == ["2021-03-02T08:01:00Z", "2021-03-02T09:01:00Z"]


def test_hunt_b_extension_is_the_last_dot_piece_of_the_whole_stem(db):
    # "/owa/1.2/favicon": ext "2/favicon" (not a script extension), name "favicon"
    iis(db, {"csUriStem": "/owa/1.2/favicon", "cIP": "203.0.113.7"},
        {"csUriStem": "/owa/x.ASPX", "cIP": "203.0.113.7"})
    assert [r["file_name"] for r in kql(db, HUNT_B)] == ["favicon"]


def test_hunt_b_drops_loopback_link_local_and_dash_queries(db):
    iis(db, {"csUriStem": "/owa/a.zip", "cIP": "127.0.0.1"},
        {"csUriStem": "/owa/b.zip", "cIP": "::1"},
        {"csUriStem": "/owa/c.zip", "cIP": "FE80::1"},
        {"csUriStem": "/owa/d.zip", "cIP": "203.0.113.7", "csUriQuery": "-"},
        {"csUriStem": "/owa/e.zip", "cIP": "127.0.0.2"})
    assert kql(db, HUNT_B) == []
