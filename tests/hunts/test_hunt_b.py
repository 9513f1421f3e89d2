"""Hunt B (Suspect Mailbox Export on IIS/OWA): one KQL behaviour per test."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.hunts.conftest import T0, add_requests, rows

SLUG = "owa-export"
EXPORT = "/owa/auth/Current/themes/resources/export.png"


def request(**fields):
    return {"csUriStem": EXPORT, "cIP": "203.0.113.7", **fields}


def stems(con, **overrides):
    return [r["csUriStem"] for r in rows(con, SLUG, **overrides)]


def test_single_fetch_of_a_static_file_is_a_finding_with_every_column(db):
    add_requests(db, request(TenantId="t", Computer="EXCH01.contoso.com"))
    assert rows(db, SLUG) == [{
        "TenantId": "t", "file_name": "export.png", "Computer": "EXCH01.contoso.com",
        "csUriStem": EXPORT, "StartTime": T0, "EndTime": T0, "dcount_cIP": 1,
        "AccessingIPs": ["203.0.113.7"], "AccessTimes": [T0], "Access": 1, "timestamp": T0,
        "HostCustomEntity": "EXCH01.contoso.com"}]


@pytest.mark.parametrize("stem, kept", [
    ("/x/OWA/y.png", True), ("/owa", False), ("/fooowa/x", False), ("/owä/x.png", False)])
def test_stem_must_contain_owa_ascii_case_insensitively(db, stem, kept):
    add_requests(db, request(csUriStem=stem))
    assert stems(db) == ([stem] if kept else [])


@pytest.mark.parametrize("query, kept", [("", True), ("-", False), ("a=1", False)])
def test_query_must_be_empty_and_dash_is_not_empty(db, query, kept):
    add_requests(db, request(csUriQuery=query))
    assert len(rows(db, SLUG)) == (1 if kept else 0)


@pytest.mark.parametrize("stem", ["/owa/logon.aspx", "/owa/x.ASPX", "/owa/a.ashx",
                                  "/owa/b.Asp"])
def test_scripting_extensions_are_excluded_case_insensitively(db, stem):
    add_requests(db, request(csUriStem=stem))
    assert rows(db, SLUG) == []


def test_extension_is_the_last_dot_piece_of_the_whole_stem(db):
    add_requests(db, request(csUriStem="/owa/1.aspx/favicon"))  # ext "aspx/favicon"
    assert [(r["file_name"], r["csUriStem"]) for r in rows(db, SLUG)] == \
        [("favicon", "/owa/1.aspx/favicon")]


def test_stem_without_a_dot_is_its_own_extension(db):
    add_requests(db, request(csUriStem="/owa/aspx"))  # ext is "/owa/aspx", not "aspx"
    assert stems(db) == ["/owa/aspx"]


def test_stem_ending_in_slash_has_empty_file_name_and_is_dropped(db):
    add_requests(db, request(csUriStem="/owa/"))
    assert rows(db, SLUG) == []


@pytest.mark.parametrize("ip", [
    "127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.2", "fe80::1",
    "FE80::2", "::ffff:8.8.8.8", "::", "2a01:111::1", "2001:db8::1", "", "-",
    "1.2.3.4:443", "256.1.1.1"])
def test_clients_that_are_dropped(db, ip):
    add_requests(db, request(cIP=ip))
    assert rows(db, SLUG) == []


@pytest.mark.parametrize("ip", ["8.8.8.8", "169.254.1.1", "100.64.0.1", "172.32.0.1",
                                "192.0.2.1", "8.8.8.8/24"])
def test_clients_that_are_kept_because_ipv4_is_private_says_false(db, ip):
    add_requests(db, request(cIP=ip))
    assert [r["AccessingIPs"] for r in rows(db, SLUG)] == [[ip]]


def test_three_fetches_are_too_many(db):
    add_requests(db, *[request(TimeGenerated=T0 + timedelta(minutes=i)) for i in range(3)])
    assert rows(db, SLUG) == []


def test_two_fetches_from_one_client_are_kept(db):
    later = T0 + timedelta(seconds=30, microseconds=5)
    add_requests(db, request(TimeGenerated=later), request(TimeGenerated=T0))
    row, = rows(db, SLUG)
    assert (row["StartTime"], row["EndTime"], row["Access"], row["AccessTimes"]) == \
        (T0, later, 2, [T0, later])


def test_two_clients_are_too_many(db):
    add_requests(db, request(cIP="8.8.8.8"), request(cIP="8.8.4.4"))
    assert rows(db, SLUG) == []


def test_make_set_of_equal_timestamps_keeps_one(db):
    add_requests(db, request(), request())
    row, = rows(db, SLUG)
    assert row["Access"] == 2 and row["AccessTimes"] == [T0]


def test_grouping_is_case_sensitive(db):
    add_requests(db, request(csUriStem="/owa/Export.png"), request(csUriStem="/owa/export.png"),
                 request(csUriStem="/owa/export.png", Computer="exch01.contoso.com"))
    assert len(rows(db, SLUG)) == 3


def test_grouping_is_per_tenant(db):
    add_requests(db, request(TenantId="a"), request(TenantId="b"), request(TenantId="b"))
    assert [(r["TenantId"], r["Access"]) for r in rows(db, SLUG)] == [("a", 1), ("b", 2)]


def test_null_time_counts_as_access_but_not_in_times(db):
    add_requests(db, request(TimeGenerated=None), request())
    row, = rows(db, SLUG)
    assert row["Access"] == 2 and row["AccessTimes"] == [T0] and row["StartTime"] == T0


def test_rows_are_ordered_by_tenant_computer_stem(db):
    add_requests(db, request(Computer="b", csUriStem="/owa/2.png"),
                 request(Computer="a", csUriStem="/owa/3.png"),
                 request(Computer="b", csUriStem="/owa/1.png"))
    assert [(r["Computer"], r["csUriStem"]) for r in rows(db, SLUG)] == \
        [("a", "/owa/3.png"), ("b", "/owa/1.png"), ("b", "/owa/2.png")]


def test_max_access_parameter(db):
    add_requests(db, *[request(TimeGenerated=T0 + timedelta(minutes=i)) for i in range(3)])
    assert len(rows(db, SLUG, max_access=3)) == 1


def test_distinct_ips_parameter(db):
    add_requests(db, request(cIP="8.8.8.8"), request(cIP="8.8.4.4"))
    row, = rows(db, SLUG, distinct_ips=2)
    assert row["AccessingIPs"] == ["8.8.4.4", "8.8.8.8"] and row["dcount_cIP"] == 2


def test_excluded_ips_parameter_is_case_insensitive(db):
    add_requests(db, request(cIP="8.8.8.8"))
    assert rows(db, SLUG, excluded_ips=["8.8.8.8"]) == []


def test_scripting_extensions_parameter(db):
    add_requests(db, request())
    assert rows(db, SLUG, scripting_extensions=["PNG"]) == []


def test_parameters_given_as_text_are_parsed_by_type(db):
    add_requests(db, *[request(TimeGenerated=T0 + timedelta(minutes=i)) for i in range(3)])
    assert len(rows(db, SLUG, max_access="3", excluded_ips="127.0.0.1,::1")) == 1


def test_time_with_seven_digit_source_keeps_microseconds(db):
    fine = datetime(2021, 3, 2, 8, 1, 0, 999999)
    add_requests(db, request(TimeGenerated=fine))
    assert rows(db, SLUG)[0]["StartTime"] == fine
