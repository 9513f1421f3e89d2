"""Each pack rule, run by `exhunt hunt` on the demo case at DEMO_NOW, returns the rows the
demo planted for it. Expected values come from engine.demo's planted constants (or, for the
two queries that see ordinary traffic too, from tests/demo/reference.py's plain reading of
the raw logs), never from a previous run's output."""
from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest

from engine import demo as d
from engine.demo_traffic import UA, iis_text
from tests.demo.reference import ipv4_is_private, read_demo_iis
from tests.pack.conftest import hunt_jsonl, iso, pack_slugs


@pytest.fixture(scope="module")
def raw_rows(demo):
    return read_demo_iis(demo.dest)[0]


def public_ipv4(ip: str) -> bool:
    """The pack's client filter: `ipv4_is_private(cIP) == false` and not fe80/::/127."""
    return ipv4_is_private(ip) is False and not ip.lower().startswith(("fe80", "::", "127."))


@pytest.mark.parametrize("slug", pack_slugs())
def test_each_pack_rule_finds_what_the_demo_summary_says(demo, pack_run, slug):
    assert len(pack_run[slug]) == demo.pack_story(slug).findings > 0


def test_many_user_agents_finds_the_recon_client_on_exch01(rows):
    [row] = rows("many-user-agents")
    assert (row["Computer"], row["sIP"], row["sPort"], row["cIP"], row["csMethod"]) == \
        (d.EXCH01.computer, d.EXCH01.server.ip, 443, d.RECON, "GET")
    assert sorted(row["set_csUserAgent"]) == sorted(iis_text(a) for a in d.RECON_AGENTS)
    assert row["csUserAgentPerIPCount"] == len(d.RECON_AGENTS)
    assert row["ConnectionCount"] == len(d.RECON_PROBES)
    assert (row["StartTime"], row["EndTime"]) == (
        iso(d.RECON_START), iso(d.RECON_START + timedelta(seconds=d.RECON_EVERY_S * (len(d.RECON_PROBES) - 1))))


def test_proxylogon_uris_are_every_public_request_to_a_proxylogon_script_path(rows, raw_rows):
    pattern = re.compile(r"/owa/auth/[A-Za-z0-9]{1,30}\.js|/ecp/[A-Za-z0-9]{1,30}\.(js|flt|css)")
    expected = sorted((iso(r.time), r.fields["cs-uri-stem"], r.fields["c-ip"], r.fields["s-ip"])
                      for r in raw_rows if pattern.search(r.fields["cs-uri-stem"])
                      and public_ipv4(r.fields["c-ip"]))
    got = sorted((r["TimeGenerated"], r["csUriStem"], r["cIP"], r["sIP"]) for r in rows("proxylogon-uris"))
    assert got == expected
    # ... which are the planted probes and exploit calls, not ordinary traffic.
    assert {stem for _, stem, _, _ in got} == {d.PROBE_STEM, "/ecp/y.js"}
    assert {ip for _, stem, ip, _ in got if stem == "/ecp/y.js"} == {d.ATTACKER}
    assert {sip for _, stem, _, sip in got if stem == "/ecp/y.js"} == {d.EXCH01.server.ip, d.EXCH02.server.ip}


def test_failed_logons_are_the_minutes_of_the_stuffing_burst_over_the_threshold(rows):
    got = rows("failed-logons")
    bursts = [(minute, n) for minute, n in d.STUFFER_BURST if n >= d.FAILED_LOGON_THRESHOLD]
    # `order by FailedConnectionsCount` (descending).
    assert [(r["TimeGenerated"], r["FailedConnectionsCount"]) for r in got] == \
        [(iso(minute), n) for minute, n in sorted(bursts, key=lambda b: -b[1])]
    for row in got:
        assert (row["cIP"], row["Computer"], row["sIP"]) == (d.STUFFER, d.EXCH01.computer, d.EXCH01.server.ip)
        assert row["set_csMethod"] == ["OPTIONS"] and row["set_sPort"] == [443]
        assert row["set_csUserAgent"] == [iis_text(d.STUFFER_AGENT)]
        assert (row["set_scStatusFull"], row["set_scWin32Status_Hex"]) == (["401.1"], ["52e"])
        assert row["set_scWin32Status_Friendly"] == ["Logon failure: Unknown user name or bad password."]
        users = {r.user for r in d.stuffer_requests(d.staff()) if r.at.replace(second=0).isoformat()
                 == row["TimeGenerated"][:-1]}
        assert sorted(row["set_csUserName"]) == sorted(users)


def test_alert_linked_requests_tie_defenders_alert_to_the_shell_requests_on_exch02(rows):
    [row] = rows("alert-linked-requests")
    times = [at for at, _, _ in d.SHELL2_REQUESTS]
    assert (row["AttackerIP"], row["HostName"], row["SiteName"], row["ShellLocation"]) == \
        (d.ATTACKER, d.EXCH02.server.computer_name, d.EXCH02.server.site, d.SHELL2_STEM)
    assert row["RequestCount"] == len(d.SHELL2_REQUESTS)
    assert (row["StartTime"], row["EndTime"]) == (iso(min(times)), iso(max(times)))
    assert row["RequestUserAgents"] == [iis_text(d.SHELL2_AGENT)] and row["ReqestMethods"] == ["GET"]
    assert sorted(row["RequestQueryStrings"]) == sorted({q for _, q, _ in d.SHELL2_REQUESTS})
    assert (row["IPCustomEntity"], row["HostCustomEntity"]) == (d.ATTACKER, "EXCH02")


def test_alert_linked_requests_see_the_alert_only_within_the_hour_before_now(demo, demo_root):
    assert d.DEMO_NOW - timedelta(hours=1) < d.SHELL2_ALERT_TIME < d.DEMO_NOW
    later = d.SHELL2_ALERT_TIME + timedelta(hours=1, seconds=1)
    run = hunt_jsonl(demo.dest, demo_root / "case", ["alert-linked-requests"], "--now", iso(later))
    assert run["alert-linked-requests"] == []


def test_without_now_the_demo_gives_every_pack_rule_the_same_findings(demo, demo_root, pack_run):
    # The console and `exhunt hunt` without --now anchor at the case's latest TimeGenerated.
    anchored = hunt_jsonl(demo.dest, demo_root / "case", list(pack_run))
    assert {slug: sorted(f["finding"] for f in found) for slug, found in anchored.items()} == \
        {slug: sorted(f["finding"] for f in found) for slug, found in pack_run.items()}


def test_webshell_commands_are_the_get_commands_its_keywords_know(rows):
    got = rows("webshell-commands")
    commands = Counter(q for _, q, keyword in d.SHELL2_REQUESTS if keyword)
    assert {r["csUriQuery"]: r["ConnectionCount"] for r in got} == dict(commands)
    for row in got:
        times = [at for at, q, _ in d.SHELL2_REQUESTS if q == row["csUriQuery"]]
        # The query names max() StartTime and min() EndTime.
        assert (row["StartTime"], row["EndTime"]) == (iso(max(times)), iso(min(times)))
        assert (row["Computer"], row["cIP"], row["csMethod"], row["scStatus"]) == \
            (d.EXCH02.computer, d.ATTACKER, "GET", "200")


def test_iis_brute_force_is_the_ews_spray_followed_by_its_successes(rows):
    [row] = rows("iis-brute-force")
    assert (row["Computer"], row["sIP"], row["cIP"], row["csMethod"]) == \
        (d.EXCH04.computer, d.EXCH04.server.ip, d.SPRAY, "POST")
    assert row["ConnectionCount"] == d.SPRAY_FAILURES
    assert row["csUserNameCount"] == d.SPRAY_ACCOUNTS
    assert (row["csUserAgentPerIPCount"], row["sPortCount"]) == (len(d.SPRAY_AGENTS), 1)
    assert (row["FailStartTime"], row["FailEndTime"]) == (
        iso(d.SPRAY_START), iso(d.SPRAY_START + timedelta(seconds=d.SPRAY_EVERY_S * (d.SPRAY_FAILURES - 1))))
    assert sorted(row["set_LogonSuccessTime"]) == [iso(t) for t in sorted(d.SPRAY_SUCCESSES)]
    assert (row["scStatusFull"], row["scStatusFull_Friendly"], row["scWin32Status_Hex"]) == \
        ("401.1", "Logon failed.", "52e")
    # set_* are tostring()'d by the final summarize: text holding the set.
    assert all(iis_text(UA[agent]) in row["set_csUserAgent"] for agent in d.SPRAY_AGENTS)


def test_proxyshell_is_each_autodiscover_ssrf_request_on_exch03(rows):
    got = rows("proxyshell")
    assert sorted((r["TimeGenerated"], r["csUriQuery"]) for r in got) == \
        sorted((iso(at), query) for at, _, query in d.PROXYSHELL_QUERIES)
    assert {(r["cIP"], r["Computer"], r["csUriStem"]) for r in got} == \
        {(d.PROXYSHELL, d.EXCH03.computer, "/autodiscover/autodiscover.json")}


def test_proxytoken_is_the_canary_carrying_post_with_a_security_token_cookie(rows):
    [row] = rows("proxytoken")
    assert (row["TimeGenerated"], row["Computer"], row["cIP"], row["csMethod"]) == \
        (iso(d.PROXYTOKEN_TIMES[1]), d.EXCH02.computer, d.PROXYSHELL, "POST")
    assert (row["csUriStem"], row["csUriQuery"], row["csCookie"]) == \
        (d.PROXYTOKEN_STEM, f"msExchEcpCanary={d.PROXYTOKEN_CANARY}", d.PROXYTOKEN_COOKIE)


def test_pentest_user_agents_is_the_framework_agent_scanning_exch04(rows):
    [row] = rows("pentest-user-agents")
    n = len(d.PENTEST_PROBES)
    # The IIS leg turns the logged '+' back into spaces before matching.
    assert (row["Type"], row["UserAgent"], row["SourceIP"], row["count_"]) == \
        ("W3CIISLog", d.PENTEST_AGENT, d.PENTEST, n)
    assert (row["min_TimeGenerated"], row["max_TimeGenerated"]) == (
        iso(d.PENTEST_START), iso(d.PENTEST_START + timedelta(seconds=d.PENTEST_EVERY_S * (n - 1))))


def test_rare_user_agents_return_one_request_per_rarest_length(rows, raw_rows):
    agents = [r.fields["cs(User-Agent)"] for r in raw_rows
              if public_ipv4(r.fields["c-ip"]) and r.fields["cs(User-Agent)"]
              and r.fields["cs(User-Agent)"].lower() not in ("-", "msrpc")]
    per_size = Counter(len(a.encode("utf-8")) for a in agents)
    counts = sorted(per_size.values())
    # `top 20 by count asc`: only determined when the 20th and 21st counts differ.
    assert len(counts) <= 20 or counts[19] < counts[20]
    rarest = {size for size, n in per_size.items() if len(counts) <= 20 or n <= counts[19]}
    got = rows("rare-user-agents")
    assert sorted(r["csUserAgent_size"] for r in got) == sorted(rarest)
    for row in got:
        assert len(row["csUserAgent"].encode("utf-8")) == row["csUserAgent_size"]
        assert row["csUserAgent_count"] == per_size[row["csUserAgent_size"]]
    # The rarest lengths are the planted one-offs and actors.
    by_size = {r["csUserAgent_size"]: r for r in got}
    pentest = by_size[len(iis_text(d.PENTEST_AGENT))]
    assert (pentest["csUserAgent"], pentest["cIP"]) == (iis_text(d.PENTEST_AGENT), d.PENTEST)
    font = by_size[len(iis_text(UA["firefox_esr"]))]
    assert (font["csUserAgent_count"], font["csUriStem"]) == (1, d.FONT_STEM)
    go = by_size[len(d.RECON_AGENTS[2])]
    assert (go["csUserAgent"], go["cIP"]) == (d.RECON_AGENTS[2], d.RECON)
