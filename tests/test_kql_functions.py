"""The shared KQL-semantics macros, one SPEC operator-table example per test."""
from __future__ import annotations

import duckdb
import pytest

from engine import kql_functions


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    kql_functions.install(c)
    return c


def value(con, sql: str, *params):
    return con.execute(sql, list(params)).fetchone()[0]


EXCHANGE_PATHS = ["/owa/auth/", "/ecp/healthcheck.htm", "/ews/exchange.asmx"]


@pytest.mark.parametrize(
    "stem, expected",
    [
        ("/OWA/Auth/logon.aspx", True),
        ("/owa/auth", False),
        ("/ecp/healthcheck.htm", True),
        ("/ecp/HealthCheck.htm.bak", True),
        ("/ecp/healthcheck.html", False),
        ("/ews/exchange.asmx/wssecurity", True),
        ("/ews/exchange.asmxfoo", False),
    ],
)
def test_has_any_matches_spec_examples(con, stem, expected):
    assert value(con, "SELECT kql_has_any(?, ?)", stem, EXCHANGE_PATHS) is expected


def test_has_requires_term_boundary_for_alphanumeric_edges(con):
    assert value(con, "SELECT kql_has(?, 'exch')", "foo exch bar") is True
    assert value(con, "SELECT kql_has(?, 'exch')", "fooexch") is False


def test_has_treats_underscore_as_separator(con):
    assert value(con, "SELECT kql_has(?, 'exch')", "a_exch_b") is True


def test_has_folds_ascii_only(con):
    assert value(con, "SELECT kql_has(?, 'ä')", "Ä") is False
    assert value(con, "SELECT kql_has(?, 'OWA')", "/owa/") is True


def test_has_any_of_empty_list_is_false(con):
    assert value(con, "SELECT kql_has_any(?, []::VARCHAR[])", "/owa/auth/") is False


@pytest.mark.parametrize(
    "stem, expected",
    [("/x/OWA/y.png", True), ("/owa", False), ("/fooowa/x", False)],
)
def test_contains_is_ascii_case_insensitive_substring(con, stem, expected):
    assert value(con, "SELECT kql_contains(?, '/owa/')", stem) is expected


def test_contains_does_not_fold_non_ascii(con):
    assert value(con, "SELECT kql_contains(?, 'i')", "İ") is False


def test_startswith_is_ascii_case_insensitive(con):
    assert value(con, "SELECT kql_startswith(?, 'fe80')", "FE80::1") is True


def test_in_ci_compares_whole_values(con):
    assert value(con, "SELECT kql_in_ci(?, ['aspx', 'ashx', 'asp'])", "ASPX") is True
    assert value(con, "SELECT kql_in_ci(?, ['aspx', 'ashx', 'asp'])", "aspx2") is False


def test_isempty_is_true_for_empty_and_null_only(con):
    assert value(con, "SELECT kql_isempty(?)", "") is True
    assert value(con, "SELECT kql_isempty(NULL)") is True
    assert value(con, "SELECT kql_isempty(?)", "-") is False


@pytest.mark.parametrize(
    "s, delimiter, expected",
    [
        ("/owa/1.2/favicon", ".", "2/favicon"),
        ("/owa/1.2/favicon", "/", "favicon"),
        ("/owa/", ".", "/owa/"),
        ("/owa/", "/", ""),
        ("", ".", ""),
    ],
)
def test_split_last_takes_last_piece_of_whole_string(con, s, delimiter, expected):
    assert value(con, "SELECT kql_split_last(?, ?)", s, delimiter) == expected


@pytest.mark.parametrize(
    "ip, expected",
    [
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.1.1", True),
        ("192.168.1.1/24", True),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("100.64.0.1", False),
        ("192.0.2.1", False),
        ("8.8.8.8", False),
        ("::1", None),
        ("2001:db8::1", None),
        ("", None),
        ("-", None),
        ("1.2.3.4:443", None),
        ("256.1.1.1", None),
    ],
)
def test_ipv4_is_private_matches_kql(con, ip, expected):
    assert value(con, "SELECT kql_ipv4_is_private(?)", ip) is expected
