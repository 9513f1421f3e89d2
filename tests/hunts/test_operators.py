"""SPEC.md's operator table, one test per row, each observed through the hunts' output
(and, for the hunts' own JSON macros, directly)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hunts.conftest import T0, add_alerts, add_requests, new_db, rows


def servers(con, **overrides):
    return [r["ExchangeServer"] for r in rows(con, "exchange-alerts", **overrides)]


def exports(con, **overrides):
    return rows(con, "owa-export", **overrides)


@pytest.mark.parametrize("stem, expected", [
    ("/OWA/Auth/logon.aspx", True), ("/owa/auth", False), ("/ecp/healthcheck.htm", True),
    ("/ecp/HealthCheck.htm.bak", True), ("/ecp/healthcheck.html", False),
    ("/ews/exchange.asmx/wssecurity", True), ("/ews/exchange.asmxfoo", False),
    ("/ecp/healthcheck.htm_x", True),  # `_` separates terms
    ("/ecp/healthcheck.htmä", True),  # non-ASCII letters are not term characters
])
def test_has_any_matches_a_term_with_boundaries_at_alphanumeric_edges(db, stem, expected):
    add_requests(db, {"csUriStem": stem, "Computer": "x"})
    assert servers(db) == (["x"] if expected else [])


def test_has_any_of_no_terms_matches_nothing(db):
    add_requests(db, {"csUriStem": "/owa/auth/"})
    assert servers(db, exchange_paths=[]) == []


_TERM_CHARS = "aA1/._-äİ"


@settings(max_examples=300, deadline=None)
@given(hay=st.text(alphabet=_TERM_CHARS, max_size=10),
       terms=st.lists(st.text(alphabet=_TERM_CHARS, min_size=1, max_size=4), max_size=3))
def test_single_regex_has_any_agrees_with_has_of_each_term(hay, terms):
    con = _MACRO_DB
    once = con.execute("SELECT kql_has_any(?, ?::VARCHAR[])", [hay, terms]).fetchone()[0]
    per_term = [con.execute("SELECT kql_has(?, ?)", [hay, t]).fetchone()[0] for t in terms]
    assert once == any(per_term)


_MACRO_DB = new_db()


@pytest.mark.parametrize("stem, kept", [("/x/OWA/y.png", True), ("/owa", False),
                                        ("/fooowa/x", False), ("/OWA/İ.png", True)])
def test_contains_is_ascii_case_insensitive_substring(db, stem, kept):
    add_requests(db, {"csUriStem": stem})
    assert len(exports(db)) == (1 if kept else 0)


@pytest.mark.parametrize("ip", ["FE80::1", "fe80::1", "::ffff:8.8.8.8", "127.0.0.5"])
def test_not_startswith_is_ascii_case_insensitive(db, ip):
    add_requests(db, {"csUriStem": "/owa/x.png", "cIP": ip})
    assert exports(db) == []


@pytest.mark.parametrize("ext, excluded", [("ASPX", True), ("aspx2", False), ("Ashx", True)])
def test_not_in_ci_compares_whole_values_case_insensitively(db, ext, excluded):
    add_requests(db, {"csUriStem": f"/owa/x.{ext}"})
    assert len(exports(db)) == (0 if excluded else 1)


@pytest.mark.parametrize("query, empty", [("", True), ("-", False), (" ", False)])
def test_isempty_is_only_empty_string_or_null(db, query, empty):
    add_requests(db, {"csUriStem": "/owa/x.png", "csUriQuery": query})
    assert len(exports(db)) == (1 if empty else 0)


@pytest.mark.parametrize("stem, file_name", [
    ("/owa/1.2/favicon", "favicon"),  # ext "2/favicon": not a scripting extension
    ("/owa/v1.aspx/x", "x"),  # ext "aspx/x"
])
def test_split_last_takes_the_last_piece_of_the_whole_stem(db, stem, file_name):
    add_requests(db, {"csUriStem": stem})
    assert [r["file_name"] for r in exports(db)] == [file_name]


def test_split_last_of_trailing_slash_is_empty_so_row_is_dropped(db):
    add_requests(db, {"csUriStem": "/owa/"})
    assert exports(db) == []


@pytest.mark.parametrize("text, valid", [
    ('[{"a":1}]', True), (' [1] ', True), ("", False), ("[1,]", False), ('{"a":1,}', False),
    ("NaN", False), ("[Infinity]", False), ('["NaN", ",]"]', True), ("{'a':1}", False),
    ("[1", False), ('"text"', True), ("5", True), ("null", True)])
def test_parse_json_accepts_json_org_json_only(text, valid):
    assert _MACRO_DB.execute("SELECT kql_json_is_valid(?)", [text]).fetchone()[0] is valid


def test_parse_json_of_invalid_text_is_a_string_without_properties(db):
    add_requests(db, {"Computer": "x"})
    add_alerts(db, {"Entities": 'Type: host, HostName: x'})
    assert rows(db, "exchange-alerts")[0]["Alerts"] is None


def test_mvexpand_takes_the_first_128_elements_only(db):
    add_requests(db, {"Computer": "h128"}, {"Computer": "h129"})
    hosts = [{"Type": "host", "HostName": f"h{i}"} for i in range(1, 130)]
    add_alerts(db, {"Entities": json.dumps(hosts)})
    got = {r["ExchangeServer"]: r["Alerts"] for r in rows(db, "exchange-alerts")}
    assert got == {"h128": 1, "h129": None}


def test_mvexpand_of_empty_array_gives_no_row(db):
    add_requests(db, {"Computer": ""})
    add_alerts(db, {"Entities": "[]"}, {"Entities": "{}"})
    assert rows(db, "exchange-alerts")[0]["Alerts"] is None


def test_type_equals_host_is_exact_and_case_sensitive(db):
    add_requests(db, {"Computer": "x"})
    add_alerts(db, {"Entities": json.dumps([{"Type": t, "HostName": "x"}
                                            for t in ("Host", "HOST", " host", 5, None)])})
    assert rows(db, "exchange-alerts")[0]["Alerts"] is None


def test_iff_uses_dns_domain_only_when_not_empty(db):
    add_requests(db, {"Computer": "a.d"}, {"Computer": "b"})
    add_alerts(db, {"Entities": json.dumps([{"Type": "host", "HostName": "a", "DnsDomain": "d"},
                                            {"Type": "host", "HostName": "b", "DnsDomain": None}])})
    assert [r["Alerts"] for r in rows(db, "exchange-alerts")] == [1, 1]


@pytest.mark.parametrize("value, text", [
    ('"x"', "x"), ("null", ""), ("true", "true"), ("5", "5"), ("118.0", "118"),
    ("2.5", "2.5"), ('{"a": "b"}', '{"a":"b"}'), ("[1, 2]", "[1,2]"), ('"\\u00c4"', "Ä")])
def test_tostring_of_a_json_property(value, text):
    got = _MACRO_DB.execute("SELECT kql_json_tostring(?, '$.v')",
                            ['{"v": ' + value + "}"]).fetchone()[0]
    assert got == text


def test_tostring_of_a_missing_property_is_empty():
    assert _MACRO_DB.execute("SELECT kql_json_tostring('{}', '$.v')").fetchone()[0] == ""


def test_strcat_of_missing_hostname_gives_dot_domain(db):
    add_requests(db, {"Computer": ".CONTOSO.com"})
    add_alerts(db, {"Entities": json.dumps([{"Type": "host", "DnsDomain": "contoso.com"}])})
    assert rows(db, "exchange-alerts") == [{"ExchangeServer": ".contoso.com", "Alerts": 1,
                                            "AlertTimes": [T0],
                                            "AlertNames": ["Suspicious web shell"]}]


def test_summarize_without_aggregates_gives_distinct_keys(db):
    add_requests(db, {"Computer": "X"}, {"Computer": "x"}, {"Computer": "x"})
    assert servers(db) == ["x"]


def test_leftouter_join_keeps_unmatched_left_rows_with_nulls(db):
    add_requests(db, {"Computer": "lonely"})
    assert rows(db, "exchange-alerts") == [{"ExchangeServer": "lonely", "Alerts": None,
                                            "AlertTimes": None, "AlertNames": None}]


def test_leftouter_join_drops_unmatched_right_rows(db):
    add_requests(db, {"Computer": "x"})
    add_alerts(db, {"Entities": json.dumps([{"Type": "host", "HostName": "other"}])})
    assert servers(db) == ["x"]


def test_dcount_counts_distinct_values_including_empty(db):
    add_requests(db, {"Computer": "x"})
    host = json.dumps([{"Type": "host", "HostName": "x"}])
    add_alerts(db, *[{"Entities": host, "SystemAlertId": i} for i in ("", "a", "a", "A")])
    assert rows(db, "exchange-alerts")[0]["Alerts"] == 3


def test_make_list_keeps_duplicates(db):
    add_requests(db, {"Computer": "x"})
    host = json.dumps([{"Type": "host", "HostName": "x"}, {"Type": "host", "HostName": "X"}])
    add_alerts(db, {"Entities": host})  # one alert, two entities of the same host
    row = rows(db, "exchange-alerts")[0]
    assert row["Alerts"] == 1 and row["AlertTimes"] == [T0, T0]


def test_make_set_keeps_distinct_values(db):
    add_requests(db, {"csUriStem": "/owa/x.png"}, {"csUriStem": "/owa/x.png"})
    row, = exports(db)
    assert row["AccessingIPs"] == ["203.0.113.7"] and row["AccessTimes"] == [T0]


def test_count_counts_rows_of_the_group(db):
    add_requests(db, {"csUriStem": "/owa/x.png"},
                 {"csUriStem": "/owa/x.png", "TimeGenerated": T0 + timedelta(seconds=1)})
    assert exports(db)[0]["Access"] == 2


@pytest.mark.parametrize("ip, kept", [
    ("10.1.2.3", False), ("172.16.0.1", False), ("172.31.255.255", False),
    ("172.32.0.1", True), ("192.168.1.1", False), ("192.168.1.1/24", False),
    ("169.254.1.1", True), ("100.64.0.1", True), ("192.0.2.1", True), ("8.8.8.8", True),
    ("2001:db8::1", False), ("", False), ("-", False), ("1.2.3.4:443", False)])
def test_ipv4_is_private_equals_false_keeps_only_non_private_ipv4(db, ip, kept):
    add_requests(db, {"csUriStem": "/owa/x.png", "cIP": ip})
    assert len(exports(db)) == (1 if kept else 0)


def test_auto_names_and_column_order(db):
    add_requests(db, {"csUriStem": "/owa/x.png"})
    assert list(exports(db)[0]) == [
        "TenantId", "file_name", "Computer", "csUriStem", "StartTime", "EndTime",
        "dcount_cIP", "AccessingIPs", "AccessTimes", "Access", "timestamp",
        "HostCustomEntity"]
    add_requests(db, {"Computer": "x"})
    assert list(rows(db, "exchange-alerts")[0]) == ["ExchangeServer", "Alerts", "AlertTimes",
                                                    "AlertNames"]
