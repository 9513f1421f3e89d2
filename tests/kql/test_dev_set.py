"""Each Sentinel dev-set query (../shared/hunts/sentinel-dev-set), verbatim, on small tables
whose expected rows were worked out by hand from the KQL documentation."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from tests.kql.conftest import T0, alerts, iis, kql
from tests.kql.queries import QUERIES

DEV_SET = [n for n in QUERIES if n not in ("ExchangeServersAssociatedSecurityAlerts",
                                           "SuspectedMailBoxExportHostonOWA")]
PUBLIC = "203.0.113.7"


@pytest.mark.parametrize("name", DEV_SET)
def test_dev_set_copy_is_verbatim(shared_hunts_dir, name):
    original = yaml.safe_load((shared_hunts_dir / "sentinel-dev-set" / f"{name}.yaml").read_text())
    assert original["query"] == QUERIES[name]


def test_client_ip_with_many_user_agents(db):
    base = {"Computer": "EXCH01", "sSiteName": "W3SVC1", "sIP": "10.0.0.1", "sPort": 443,
            "cIP": PUBLIC, "csMethod": "GET", "scStatus": "404"}
    iis(db, {**base, "csUserAgent": "ua1"}, {**base, "csUserAgent": "ua2"},
        {**base, "csUserAgent": "ua1"},
        # one user agent only: fewer than 2
        {**base, "cIP": "198.51.100.9", "csUserAgent": "ua1"},
        # 2xx statuses are excluded before counting
        {**base, "cIP": "198.51.100.10", "scStatus": "200", "csUserAgent": "a"},
        {**base, "cIP": "198.51.100.10", "scStatus": "200", "csUserAgent": "b"})
    rows = kql(db, QUERIES["ClientIPwithManyUserAgents"])
    assert len(rows) == 1
    row = rows[0]
    assert sorted(row["set_csUserAgent"]) == ["ua1", "ua2"]
    assert (row["ConnectionCount"], row["csUserAgentPerIPCount"]) == (3, 2)
    assert (row["IPCustomEntity"], row["HostCustomEntity"], row["timestamp"]) == (PUBLIC, "EXCH01", T0)


def test_exchange_server_proxylogon_uris(db):
    iis(db, {"csUriStem": "/owa/auth/abc.js", "cIP": PUBLIC},
        {"csUriStem": "/owa/auth/x.css", "cIP": PUBLIC},
        {"csUriStem": "/ecp/y.flt", "cIP": PUBLIC},
        {"csUriStem": "/ecp/a-b.js", "cIP": PUBLIC},
        {"csUriStem": "/owa/auth/abc.js", "cIP": "10.1.1.1"})
    rows = kql(db, QUERIES["ExchangeServerProxyLogonURI"])
    assert sorted(r["csUriStem"] for r in rows) == ["/ecp/y.flt", "/owa/auth/abc.js"]
    assert all(r["IPCustomEntity"] == PUBLIC for r in rows)


def test_high_failed_logon_count_by_client_ip(db):
    fail = {"scStatus": "401", "scSubStatus": "1", "scWin32Status": "1326", "csUserName": "bob",
            "cIP": PUBLIC, "sPort": 443, "csUriQuery": "a%20b", "Computer": "EXCH01"}
    iis(db, *[{**fail, "TimeGenerated": T0 + timedelta(seconds=2 * i)} for i in range(20)],
        # 19 failures only
        *[{**fail, "cIP": "198.51.100.9"} for _ in range(19)],
        # csUserName "-" is excluded
        {**fail, "csUserName": "-"})
    rows = kql(db, QUERIES["HighFailedLogonCountByClientIP"])
    assert len(rows) == 1
    row = rows[0]
    assert row["TimeGenerated"] == T0  # bin(…, 1m): 08:01:00 .. 08:01:38 share one bin
    assert row["FailedConnectionsCount"] == 20
    assert row["set_scStatusFull"] == ["401.1"]
    assert row["set_scStatusFull_Friendly"] == ["Logon failed."]
    assert row["set_scWin32Status_Hex"] == ["52e"]
    assert row["set_scWin32Status_Friendly"] == ["Logon failure: Unknown user name or bad password."]
    assert row["set_decodedUriQuery"] == ["a b"]
    assert row["set_sPort"] == [443]
    assert (row["HostCustomEntity"], row["IPCustomEntity"]) == ("EXCH01", PUBLIC)


def test_malicious_alert_linked_web_requests(db):
    now = T0 + timedelta(minutes=30)
    entities = [{"Type": "file", "Name": "shell.aspx", "Directory": "c:\\inetpub"},
                {"Type": "host", "HostName": "EXCH01", "DnsDomain": "contoso.com"}]
    alerts(db, {"SystemAlertId": "a1", "ProviderName": "MDATP", "Entities": json.dumps(entities)},
           # older than ago(1h): ignored
           {"SystemAlertId": "a2", "ProviderName": "MDATP", "TimeGenerated": T0 - timedelta(hours=2),
            "Entities": json.dumps([{"Type": "file", "Name": "old.aspx"},
                                    {"Type": "host", "HostName": "EXCH01"}])})
    req = {"sComputerName": "EXCH01", "csUriStem": "/owa/auth/shell.aspx", "cIP": PUBLIC,
           "sSiteName": "W3SVC1", "csUserAgent": "curl", "csMethod": "POST", "scStatus": "200"}
    iis(db, req, {**req, "TimeGenerated": T0 - timedelta(days=1)},
        {**req, "csUriStem": "/owa/auth/old.aspx"},
        # another server: HostName does not match
        {**req, "sComputerName": "EXCH02"})
    rows = kql(db, QUERIES["MaliciousAlertLinkedWebRequests"], now=now)
    assert len(rows) == 1
    row = rows[0]
    assert (row["AttackerIP"], row["HostName"], row["ShellLocation"]) == (PUBLIC, "EXCH01", "/owa/auth/shell.aspx")
    assert (row["RequestCount"], row["StartTime"], row["EndTime"]) == (2, T0 - timedelta(days=1), T0)
    assert row["RequestUserAgents"] == ["curl"] and row["ReqestMethods"] == ["POST"]


def test_potential_webshell(db):
    iis(db, {"csMethod": "GET", "csUriQuery": "cmd=whoami", "cIP": "1.1.1.1"},
        {"csMethod": "GET", "csUriQuery": "x=cmd.exe%20/c%20dir", "cIP": "2.2.2.2"},
        {"csMethod": "GET", "csUriQuery": "x=cmd.exe%20/c%20dir", "cIP": "2.2.2.2",
         "TimeGenerated": T0 + timedelta(minutes=5)},
        {"csMethod": "POST", "csUriQuery": "cmd=whoami"},
        {"csMethod": "GET", "csUriQuery": "cmd=whoamix"})
    rows = sorted(kql(db, QUERIES["PotentialWebshell"]), key=lambda r: r["cIP"])
    assert [(r["cIP"], r["ConnectionCount"]) for r in rows] == [("1.1.1.1", 1), ("2.2.2.2", 2)]
    # the query names max() StartTime and min() EndTime
    assert (rows[1]["StartTime"], rows[1]["EndTime"]) == (T0 + timedelta(minutes=5), T0)


def test_potential_iis_brute_force(db):
    db.execute(
        "INSERT INTO W3CIISLog (TimeGenerated, Computer, sSiteName, sIP, cIP, scStatus, "
        "scSubStatus, scWin32Status, csMethod, csUserAgent, sPort) "
        "SELECT $1 + to_seconds(i), 'EXCH01', 'W3SVC1', '10.0.0.1', $2, '401', '1', '1326', "
        "'POST', CASE WHEN i % 2 = 0 THEN 'ua1' ELSE 'ua2' END, 443 FROM range(1200) r(i)",
        [T0, PUBLIC])
    success = T0 + timedelta(hours=2)
    iis(db, {"TimeGenerated": success, "Computer": "EXCH01", "sSiteName": "W3SVC1",
             "sIP": "10.0.0.1", "cIP": PUBLIC, "scStatus": "200"},
        # a success inside the failure window does not count
        {"TimeGenerated": T0 + timedelta(seconds=10), "Computer": "EXCH01", "sSiteName": "W3SVC1",
         "sIP": "10.0.0.1", "cIP": PUBLIC, "scStatus": "200"})
    rows = kql(db, QUERIES["Potential_IIS_BF"])
    assert len(rows) == 1
    row = rows[0]
    assert row["set_LogonSuccessTime"] == ["2021-03-02T10:01:00Z"]
    assert (row["ConnectionCount"], row["csUserAgentPerIPCount"], row["sPortCount"]) == (1200, 2, 1)
    assert (row["FailStartTime"], row["FailEndTime"]) == (T0, T0 + timedelta(seconds=1199))
    assert row["set_csUserName"] == '[""]'  # tostring() of the set, as grouped
    assert (row["scStatusFull"], row["scWin32Status_Hex"]) == ("401.1", "52e")


def test_proxyshell_pwn2own(db):
    base = {"scStatus": "200", "cIP": PUBLIC, "csUriStem": "/autodiscover/autodiscover.json"}
    iis(db, {**base, "csUriQuery": "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com"},
        {**base, "csUriQuery": "Protocol=x"},
        {**base, "scStatus": "404", "csUriQuery": "/mapi/"},
        {**base, "csUriStem": "/owa/", "csUriQuery": "/mapi/"})
    rows = kql(db, QUERIES["ProxyShellPwn2Own"])
    assert len(rows) == 1
    assert rows[0]["csUriQuery"].startswith("@evil.com/mapi/")
    assert rows[0]["_ResourceId"] == ""


def test_rare_user_agent_strings(db):
    iis(db, {"csUserAgent": "abc", "cIP": PUBLIC}, {"csUserAgent": "xyz", "cIP": PUBLIC},
        {"csUserAgent": "longer-agent", "cIP": PUBLIC},
        {"csUserAgent": "-", "cIP": PUBLIC},
        {"csUserAgent": "abc", "cIP": "192.168.1.1"})
    rows = kql(db, QUERIES["RareUserAgentStrings"])
    got = sorted((r["csUserAgent_size"], r["csUserAgent_count"], r["csUserAgent"]) for r in rows)
    # the join is innerunique (KQL's default): the left side keeps ONE arbitrary row per
    # csUserAgent_size, so only one of "abc" / "xyz" (both 3 long) comes back
    assert [(size, count) for size, count, _ in got] == [(3, 2), (12, 1)]
    assert got[0][2] in ("abc", "xyz") and got[1][2] == "longer-agent"


def test_suspected_proxytoken_exploitation(db):
    hit = {"csMethod": "post", "csUriStem": "/ecp/x/RulesEditor/InboxRules.svc/NewObject",
           "csCookie": "SecurityToken=x", "csUriQuery": "msExchEcpCanary=abc", "cIP": PUBLIC,
           "Computer": "EXCH01"}
    iis(db, hit, {**hit, "csCookie": ""}, {**hit, "csUriStem": "/ecpx/y"}, {**hit, "csMethod": "GET"})
    rows = kql(db, QUERIES["SuspectedProxyTokenExploitation"])
    assert len(rows) == 1
    assert (rows[0]["HostCustomEntity"], rows[0]["IPCustomEntity"]) == ("EXCH01", PUBLIC)


def test_useragent_exploit_pentest_runs_the_iis_leg_only(db):
    from engine.kql import compile_kql
    iis(db, {"Type": "W3CIISLog", "cIP": PUBLIC,
             "csUserAgent": "Mozilla/5.0+(Windows+NT+10.0;+Win32;+x32;+rv:60.0)"},
        {"Type": "W3CIISLog", "cIP": PUBLIC, "csUserAgent": "okhttp/3.12"},
        {"Type": "W3CIISLog", "cIP": PUBLIC, "csUserAgent": "Mozilla/5.0+(X11)"})
    rows = kql(db, QUERIES["UseragentExploitPentest"])
    assert [(r["Type"], r["UserAgent"], r["SourceIP"], r["count_"]) for r in rows] == [
        ("W3CIISLog", "Mozilla/5.0 (Windows NT 10.0; Win32; x32; rv:60.0)", PUBLIC, 1)]
    notes = compile_kql(QUERIES["UseragentExploitPentest"]).notes
    assert any("OfficeActivity" in n for n in notes) and any("AWSCloudTrail" in n for n in notes)
