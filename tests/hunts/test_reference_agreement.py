"""Both hunts' DuckDB SQL agrees row for row with the independent Python reference
(tests/hunts/reference.py) on random tables drawn from small alphabets of tricky values."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hunts import reference
from tests.hunts.conftest import add_alerts, add_requests, clear, new_db, rows

CON = new_db()  # one connection for every example; each example empties the tables

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_BASE = datetime(2021, 3, 2, 8, 0, 0)
times = st.one_of(
    st.none(),
    st.sampled_from([_BASE, _BASE + timedelta(microseconds=1234567),
                     _BASE + timedelta(minutes=5), _BASE - timedelta(days=400)]),
)
tenants = st.sampled_from(["", "t1", "T1"])
computers = st.sampled_from([
    "EXCH01.contoso.com", "EXCH01.contoso.com", "exch01", "istanbul.contoso.com", "exch01.CONTOSO.com", "EXCH01", "exch01", "", "-",
    "İSTANBUL.contoso.com", "istanbul.contoso.com", "ÄRGER.contoso.com", "ärger.contoso.com",
    "web01.contoso.com", "exch02.fabrikam.com",
])
stem_heads = st.sampled_from([
    "/owa/auth/", "/owa/auth/", "/OWA/", "/owa/", "/ecp/healthcheck.htm", "/owa/auth/", "/OWA/Auth/", "/owa/", "/owa", "/ecp/healthcheck.htm",
    "/ecp/HealthCheck.htm.bak", "/ecp/healthcheck.html", "/ews/exchange.asmx",
    "/ews/exchange.asmxfoo", "/ews/exchange.asmx/", "/x/OWA/", "/fooowa/x/", "/owa/auth",
    "/Owa/İ/", "/owä/", "", "/ecp/healthcheck.htm_1/", "/owa/auth/1.2/",
])
stem_tails = st.sampled_from([
    "export.png", "export.png", "logon.aspx", "export.png", "x.ASPX", "a.ashx", "b.Asp", "favicon", "", "data.zip",
    "ä.Png", "-", "x.asp.txt", "pic.jpg", "İ.bin", "file.aspx2",
])
_built_stems = st.builds(lambda h, t: h + t, stem_heads, stem_tails)
stems = st.one_of(
    _built_stems, _built_stems, _built_stems,
    st.text(alphabet="/.oOwWaA-İä_1", max_size=12),
)
queries = st.sampled_from(["", "", "", "", "-", "a=1", " "])
client_ips = st.sampled_from([
    "8.8.8.8", "8.8.8.8", "8.8.8.8", "8.8.4.4", "8.8.4.4", "203.0.113.7", "8.8.4.4", "203.0.113.7", "10.0.0.1", "172.16.5.4", "172.32.0.1",
    "192.168.1.1", "127.0.0.1", "127.0.0.2", "169.254.1.1", "100.64.0.1", "::1",
    "2a01:111::1", "2001:db8::1", "fe80::1", "FE80::2", "::ffff:1.2.3.4", "", "-",
    "1.2.3.4:443", "8.8.8.8/24", "256.1.1.1", "::", "1.2.3",
])
requests = st.fixed_dictionaries({
    "TenantId": tenants, "TimeGenerated": times, "Computer": computers,
    "csUriStem": stems, "csUriQuery": queries, "cIP": client_ips,
})

_ABSENT = object()
host_names = st.sampled_from([
    "exch01", "exch01", "EXCH01", "İSTANBUL", "istanbul", "ÄRGER", "exch01", "EXCH01", "EXCH01.contoso.com", "İSTANBUL", "ärger", "", None, _ABSENT, 5,
    True, {"a": "b"}, "web01",
])
dns_domains = st.sampled_from([
    "contoso.com", "contoso.com", "contoso.com", "CONTOSO.COM", "", "contoso.com", "CONTOSO.COM", "", None, _ABSENT, 7, [], {}, 118.0, 2.5, "fabrikam.com",
])
types = st.sampled_from(["host", "host", "host", "host", "host", "host", "Host", "HOST", "account", 5, None, _ABSENT])


def _entity(t, h, d):
    return {k: v for k, v in (("Type", t), ("HostName", h), ("DnsDomain", d))
            if v is not _ABSENT}


def _entity_for(computer, upper):
    """A host entity naming one of the IIS computers (so that the join has work to do)."""
    host, _, domain = computer.partition(".")
    entity = {"Type": "host", "HostName": host.upper() if upper else host}
    if domain:
        entity["DnsDomain"] = domain
    return entity


host_entities = st.builds(_entity, types, host_names, dns_domains)
matching_entities = st.builds(_entity_for, computers, st.booleans())
items = st.one_of(
    host_entities, host_entities, matching_entities, matching_entities,
    st.sampled_from([{"$ref": "3"}, {"$id": "4", "Type": "host", "HostName": "exch01"},
                     5, "host", None, [{"Type": "host", "HostName": "exch01"}]]),
)


def _long_array(prefix_len: int, tail: list) -> list:
    return [{"Type": "account", "Name": f"u{i}"} for i in range(prefix_len)] + tail


_short_arrays = st.lists(items, max_size=5)
entity_values = st.one_of(
    _short_arrays, _short_arrays, _short_arrays, _short_arrays,
    st.builds(_long_array, st.integers(124, 129),
              st.lists(st.one_of(host_entities, matching_entities), min_size=1, max_size=4)),
    st.builds(_entity, types, host_names, dns_domains),  # a bag instead of an array
)


def _dump(value, indent, ascii_only):
    return json.dumps(value, indent=indent, ensure_ascii=ascii_only)


_dumped = st.builds(_dump, entity_values, st.sampled_from([None, 1]), st.booleans())
entities_json = st.one_of(
    _dumped, _dumped, _dumped, _dumped,
    st.sampled_from([
        "", "[{", "not json", "{'Type':'host','HostName':'exch01'}", "5", '"host"', "null",
        "true", '[{"Type":"host","HostName":"exch01"},]', '[{"Type":"host","HostName":"NaN"}]',
        '[{"Type":"host","HostName":"exch01","X":NaN}]', '[{"Type":"host","HostName":",]"}]',
        ' [{"Type": "host", "HostName": "EXCH01", "DnsDomain": "contoso.com"}] ',
    ]),
)
alerts = st.fixed_dictionaries({
    "TimeGenerated": times, "AlertName": st.sampled_from(["X", "y", "", "Ä"]),
    "SystemAlertId": st.sampled_from(["a1", "a2", "A1", ""]), "Entities": entities_json,
})


@st.composite
def with_repeats(draw, rows, changes):
    """A list of rows plus some copies of them with a few fields redrawn: repeated
    requests for one file, repeated updates of one alert."""
    base = draw(st.lists(rows, max_size=10))
    if not base:
        return base
    copies = draw(st.lists(st.tuples(st.sampled_from(base), st.fixed_dictionaries(
        {}, optional=changes)), max_size=4))
    return base + [{**row, **changed} for row, changed in copies]


request_tables = with_repeats(requests, {"TimeGenerated": times, "cIP": client_ips})
alert_tables = with_repeats(alerts, {"TimeGenerated": times, "AlertName": st.just("Y")})


def _load(w3c, sec):
    clear(CON)
    add_requests(CON, *w3c)
    add_alerts(CON, *sec)


@SETTINGS
@given(w3c=request_tables, sec=alert_tables)
def test_hunt_a_matches_reference(w3c, sec):
    _load(w3c, sec)
    assert rows(CON, "exchange-alerts") == reference.hunt_a(w3c, sec)


@SETTINGS
@given(w3c=request_tables)
def test_hunt_b_matches_reference(w3c):
    _load(w3c, [])
    assert rows(CON, "owa-export") == reference.hunt_b(w3c)


@SETTINGS
@given(w3c=request_tables,
       excluded=st.lists(client_ips, max_size=3),
       extensions=st.lists(st.sampled_from(["aspx", "PNG", "zip", "", "2/favicon"]), max_size=3),
       max_access=st.integers(0, 4), distinct_ips=st.integers(0, 3))
def test_hunt_b_matches_reference_with_any_parameters(w3c, excluded, extensions, max_access,
                                                      distinct_ips):
    _load(w3c, [])
    got = rows(CON, "owa-export", excluded_ips=excluded, scripting_extensions=extensions,
               max_access=max_access, distinct_ips=distinct_ips)
    assert got == reference.hunt_b(w3c, excluded, extensions, max_access, distinct_ips)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w3c=request_tables, sec=alert_tables,
       paths=st.lists(st.sampled_from(["/owa/auth/", "/OWA", "healthcheck", "asmx", "/ecp/",
                                       "exchange.asmx", "İ"]), max_size=3))
def test_hunt_a_matches_reference_with_any_paths(w3c, sec, paths):
    _load(w3c, sec)
    assert rows(CON, "exchange-alerts", exchange_paths=paths) == \
        reference.hunt_a(w3c, sec, paths)
