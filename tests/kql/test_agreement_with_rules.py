"""Compiled KQL and the rules' hand-written SQL (engine/hunts.run_rule) return the same rows
on the same tables: fixed edge-case tables and hypothesis-generated random ones."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.jsonvalues import to_json_value
from engine.kql import compile_kql
from tests.kql.conftest import add, new_db

hunts = pytest.importorskip("engine.hunts")
rules_module = pytest.importorskip("engine.rules")

RULES = [r for r in rules_module.load_rules() if r.sql and r.query]
RULE_IDS = [r.slug for r in RULES]


def normalise(value: Any) -> Any:
    value = to_json_value(value)
    if isinstance(value, list):
        return sorted((normalise(v) for v in value), key=json.dumps)
    return value


def rows_of_rule(con, rule) -> list:
    run = hunts.run_rule(con, rule)
    return sorted((tuple(normalise(f.row[c]) for c in run.columns) for f in run.findings), key=repr)


def rows_of_kql(con, rule) -> list:
    compiled = compile_kql(rule.query)
    out = []
    for row in compiled.execute(con).fetchall():
        out.append(tuple(normalise(json.loads(v) if t == "dynamic" and v is not None else v)
                         for t, v in zip(compiled.types, row)))
    return sorted(out, key=repr)


def assert_agree(con) -> None:
    for rule in RULES:
        assert rows_of_kql(con, rule) == rows_of_rule(con, rule), rule.slug


T0 = datetime(2021, 3, 2, 8, 1, 0)
COMPUTERS = ["EXCH01", "exch01.contoso.com", "EXCH02.Contoso.com", "web", "", "ÉXCH"]
STEMS = ["/owa/auth/logon.aspx", "/OWA/Auth/x.png", "/owa/", "/owa/1.2/favicon", "/owa/a.ASPX",
         "/ecp/healthcheck.htm", "/ecp/HealthCheck.htm.bak", "/ecp/healthcheck.html",
         "/ews/exchange.asmx/wssecurity", "/ews/exchange.asmxfoo", "/x/owa/y.zip", "/owa/auth",
         "/owa/export.pst", "/owa/ｏwa/"]
QUERIES_ = ["", "-", "a=1"]
IPS = ["203.0.113.7", "198.51.100.9", "10.0.0.1", "172.31.1.1", "172.32.1.1", "192.168.1.1",
       "127.0.0.1", "127.0.0.2", "::1", "2001:db8::1", "FE80::1", "", "-", "1.2.3.4:443",
       "999.1.1.1", "169.254.1.1"]
HOSTS = ["EXCH01", "exch01", "EXCH02", "web", "", None]
DOMAINS = ["contoso.com", "CONTOSO.COM", "", None]


def entity(host: str | None, domain: str | None, type_: str) -> dict:
    e: dict[str, Any] = {"Type": type_}
    if host is not None:
        e["HostName"] = host
    if domain is not None:
        e["DnsDomain"] = domain
    return e


entities_strategy = st.one_of(
    st.lists(st.builds(entity, st.sampled_from(HOSTS), st.sampled_from(DOMAINS),
                       st.sampled_from(["host", "Host", "file", "ip"])), max_size=4).map(json.dumps),
    st.sampled_from(["", "not json", "[1,]", "null", "{}", "[]", '{"Type": "host"}',
                     '[{"$ref": "1"}]', '{"Type": "host", "HostName": "exch01"}',
                     json.dumps([{"Type": "file"}] * 128 + [entity("EXCH01", "contoso.com", "host")])]),
)

request_strategy = st.fixed_dictionaries({
    "TenantId": st.sampled_from(["", "t1"]),
    "TimeGenerated": st.sampled_from([T0, T0 + timedelta(seconds=1), T0 + timedelta(hours=3)]),
    "Computer": st.sampled_from(COMPUTERS),
    "csUriStem": st.sampled_from(STEMS),
    "csUriQuery": st.sampled_from(QUERIES_),
    "cIP": st.sampled_from(IPS),
})
alert_strategy = st.fixed_dictionaries({
    "TimeGenerated": st.sampled_from([T0, T0 + timedelta(microseconds=5), None]),
    "SystemAlertId": st.sampled_from(["a1", "a2", "a3", ""]),
    "AlertName": st.sampled_from(["Web shell", "Proxy", ""]),
    "Entities": entities_strategy,
})


@pytest.mark.skipif(not RULES, reason="no rule has both query and sql")
def test_rules_with_both_query_and_sql_exist():
    assert {"exchange-alerts", "owa-export"} <= {r.slug for r in RULES} or len(RULES) >= 2


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_query_compiles(rule):
    assert compile_kql(rule.query).columns


def test_agree_on_edge_case_tables():
    con = new_db()
    for stem in STEMS:
        for ip in IPS:
            add(con, "W3CIISLog", {"TimeGenerated": T0, "Computer": "EXCH01", "csUriStem": stem,
                                   "cIP": ip})
    add(con, "W3CIISLog", {"TimeGenerated": T0, "Computer": "exch01.contoso.com",
                           "csUriStem": "/owa/auth/", "cIP": "203.0.113.7", "csUriQuery": "-"})
    for i, text in enumerate(["", "not json", "[1,]", "{}", '{"Type": "host"}',
                              json.dumps([entity("EXCH01", "contoso.com", "host")]),
                              json.dumps([entity("exch01", None, "host")]),
                              json.dumps([entity("EXCH01", "", "host"), entity("x", "y", "Host")])]):
        add(con, "SecurityAlert", {"TimeGenerated": T0 + timedelta(minutes=i), "SystemAlertId": f"a{i % 3}",
                                   "AlertName": f"n{i}", "Entities": text})
    assert_agree(con)


@pytest.fixture(scope="module")
def shared_db():
    return new_db()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(request_strategy, max_size=12), alerts=st.lists(alert_strategy, max_size=6))
def test_agree_on_random_tables(shared_db, requests, alerts):
    con = shared_db
    con.execute("DELETE FROM W3CIISLog")
    con.execute("DELETE FROM SecurityAlert")
    add(con, "W3CIISLog", *requests)
    add(con, "SecurityAlert", *alerts)
    assert_agree(con)


SEED_BY_ID = {"84026aa0-7020-45d0-9f85-d526e43de2ab": "ExchangeServersAssociatedSecurityAlerts",
              "a523786c-8382-4029-80e9-f1a7ecd067c1": "SuspectedMailBoxExportHostonOWA"}


@pytest.mark.parametrize("rule_id, name", list(SEED_BY_ID.items()), ids=list(SEED_BY_ID.values()))
def test_rule_holds_the_verbatim_seed_kql(rule_id, name):
    from tests.kql.queries import QUERIES
    rule = next((r for r in rules_module.load_rules() if r.id == rule_id), None)
    if rule is None:
        pytest.skip(f"rules/ has no rule {rule_id} yet")
    assert rule.query == QUERIES[name]
