"""Each planted item is in the raw files, checked by a plain reading independent of the engine."""
from __future__ import annotations

from tests.demo.reference import exchange_servers, hunt_b, ipv4_is_private


def test_reference_hunt_b_finds_exactly_the_planted_findings(demo, demo_rows):
    expected = [{"TenantId": e.tenant_id, "file_name": e.file_name, "Computer": e.computer,
                 "csUriStem": e.cs_uri_stem, "Access": e.access, "AccessingIPs": [e.client_ip],
                 "AccessTimes": list(e.access_times)} for e in demo.hunt_b]
    key = lambda d: (d["Computer"], d["csUriStem"])  # noqa: E731
    assert sorted(hunt_b(demo_rows), key=key) == sorted(expected, key=key)


def test_the_mailbox_export_is_an_archive_under_owa_auth_fetched_twice_from_one_public_ip(demo, demo_rows):
    export = demo.hunt_b[0]
    assert export.cs_uri_stem.startswith("/owa/auth/") and export.file_name.endswith(".zip")
    fetches = [r for r in demo_rows if r.fields["cs-uri-stem"] == export.cs_uri_stem and r.computer == export.computer]
    assert [r.time for r in fetches] == list(export.access_times)
    assert {r.fields["c-ip"] for r in fetches} == {export.client_ip}
    assert all(r.fields["cs-uri-query"] == "" for r in fetches)
    assert ipv4_is_private(export.client_ip) is False


def test_ordinary_owa_static_resources_are_fetched_by_many_clients(demo_rows):
    favicon = [r for r in demo_rows if r.fields["cs-uri-stem"].endswith("/themes/resources/favicon.ico")
               and ipv4_is_private(r.fields["c-ip"]) is False]
    assert len({r.fields["c-ip"] for r in favicon}) > 20


def test_hunt_a_sees_every_exchange_server_and_not_the_intranet_server(demo, demo_rows):
    assert exchange_servers(demo_rows) == {s.lower() for s in demo.exchange_servers}
    assert [e.exchange_server for e in demo.hunt_a] == [s.lower() for s in demo.exchange_servers]


def test_proxylogon_probing_is_in_the_logs(demo_rows):
    by_stem = {}
    for r in demo_rows:
        by_stem.setdefault(r.fields["cs-uri-stem"], []).append(r)
    assert any(r.fields["cs-method"] == "POST" for r in by_stem["/ecp/y.js"])
    assert any("X-BEResource=" in r.fields.get("cs(Cookie)", "") for r in by_stem["/ecp/y.js"])
    assert any("schema=OABVirtualDirectory" in r.fields["cs-uri-query"]
               for r in by_stem["/ecp/DDI/DDIService.svc/SetObject"])
    assert len({r.fields["c-ip"] for r in by_stem["/owa/auth/x.js"]}) == 3
    assert len(by_stem["/owa/auth/RedirSuiteServerProxy.aspx"]) >= 5
    anonymous_autodiscover = [r for r in by_stem["/autodiscover/autodiscover.xml"]
                              if r.fields["cs-method"] == "POST" and ipv4_is_private(r.fields["c-ip"]) is False]
    assert anonymous_autodiscover


def test_public_ipv6_clients_reach_owa(demo, demo_rows):
    v6 = {r.fields["c-ip"] for r in demo_rows if ":" in r.fields["c-ip"] and r.fields["c-ip"] != "::1"}
    assert v6 == set(demo.ipv6_clients)
    candidates = [r for r in demo_rows if r.fields["c-ip"] in v6 and "/owa/" in r.fields["cs-uri-stem"].lower()
                  and r.fields["cs-uri-query"] == "" and not r.fields["cs-uri-stem"].lower().endswith((".aspx", ".ashx", ".asp"))
                  and not r.fields["cs-uri-stem"].endswith("/")]
    assert len(candidates) == demo.ipv6_candidate_rows


def test_a_request_to_owa_without_query_string_is_logged_with_a_dash(demo_dir):
    text = (demo_dir / "EXCH01.contoso.com/C/inetpub/logs/LogFiles/W3SVC1/u_ex210301.log").read_text()
    assert " GET /owa/ - 443 " in text


def test_loopback_health_probes_use_both_127_0_0_1_and_ipv6_loopback(demo_rows):
    ips = {r.fields["c-ip"] for r in demo_rows if r.fields["cs(User-Agent)"] == "AMProbe/Local/ClientAccess"}
    assert ips == {"127.0.0.1", "::1"}
