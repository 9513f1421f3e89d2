"""One registry of KQL macros (engine/kql_functions.py), installed once per connection, used
by the hand-written hunts and the KQL compiler alike; and the cheap spellings of its
predicates agree with the plain-Python reference of tests/hunts/reference.py."""
from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import hunts, kql_functions, tables
from engine.kql import compile_kql
from tests.hunts import reference


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    tables.create_tables(c)
    kql_functions.install(c)
    return c


def value(con, sql: str, *params):
    return con.execute(sql, list(params)).fetchone()[0]


def test_every_macro_has_one_definition_in_one_registry():
    groups = [kql_functions.SHARED_MACROS, kql_functions.JSON_MACROS,
              kql_functions.COMPILER_MACROS]
    assert sum(len(g) for g in groups) == len(kql_functions.MACROS)
    assert hunts.HUNT_MACROS is kql_functions.JSON_MACROS


def test_the_hunts_and_the_compiler_install_the_same_set():
    assert hunts.install is kql_functions.install
    assert hunts.ensure_installed is kql_functions.ensure_installed
    from engine import kql
    assert kql.install is kql_functions.install


def test_ensure_installed_leaves_a_complete_set_alone():
    c = duckdb.connect()
    assert not kql_functions.installed(c)
    kql_functions.ensure_installed(c)
    assert kql_functions.installed(c)
    c.execute("CREATE OR REPLACE TEMP MACRO kql_fold(s) AS 'sentinel'")
    kql_functions.ensure_installed(c)  # everything is there: nothing is re-created
    assert value(c, "SELECT kql_fold('A')") == "sentinel"


def test_a_json_array_of_strings_that_spell_inf_is_valid_json(con):
    # The compiler's old copy removed string literals before looking for NaN/Infinity and
    # trailing commas, turning ["a", "inf"] into [, ] and calling it invalid.
    assert value(con, "SELECT kql_json_is_valid(?)", '["a", "inf"]') is True


def test_compiled_parse_json_reads_an_array_of_strings_that_spell_inf(con):
    con.execute("DELETE FROM SecurityAlert")
    con.execute("INSERT INTO SecurityAlert (Entities) VALUES (?)", ['["a", "inf"]'])
    compiled = compile_kql("SecurityAlert | mv-expand e = parse_json(Entities) "
                           "| project s = tostring(e)")
    rows = con.execute(compiled.sql, compiled.params).fetchall()
    assert sorted(r[0] for r in rows) == ["a", "inf"]


@pytest.mark.parametrize("ip, expected", [
    ("1.2.3.4/", None), ("1.2.3.4/33", None), ("1.2.3.4/032", None), ("1.2.3.4\n", None),
    ("\uff10.1.2.3", None), ("1.2.3", None), ("1.2.3.4.5", None), (" 1.2.3.4", None),
    ("10.1.2.300", None), ("1000.1.2.3", None),
    ("010.1.2.3", True), ("172.016.0.1", True), ("10.0.0.1/0", True),
    ("192.168.1.1/32", True), ("172.15.0.1", False), ("01.002.3.4", False),
    ("255.255.255.255/32", False), ("11.0.0.1", False), ("192.169.0.1", False),
])
def test_ipv4_is_private_edge_cases(con, ip, expected):
    assert value(con, "SELECT kql_ipv4_is_private(?)", ip) is expected
    assert value(con, "SELECT kql_ipv4_valid(?)", ip) is (expected is not None)


def test_ipv4_predicates_of_null(con):
    assert value(con, "SELECT kql_ipv4_is_private(NULL)") is None
    assert value(con, "SELECT kql_ipv4_valid(NULL)") is False


_octets = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["010", "016", "031", "00",
                                                                   "0172", "168", "192", ""]))
_addresses = st.one_of(
    st.builds(lambda a, b, c, d, p: f"{a}.{b}.{c}.{d}{p}", _octets, _octets, _octets, _octets,
              st.sampled_from(["", "", "/8", "/32", "/33", "/09", "/", "/100", ":443"])),
    st.text(alphabet="0123456789./:af\n", max_size=18))


@settings(max_examples=600, deadline=None)
@given(st.lists(_addresses, min_size=1, max_size=30))
def test_ipv4_is_private_agrees_with_the_reference(con, ips):
    got = con.execute("SELECT list(kql_ipv4_is_private(s) ORDER BY n) "
                      "FROM (SELECT unnest(?::VARCHAR[]) AS s, unnest(range(?)) AS n)",
                      [ips, len(ips)]).fetchone()[0]
    assert got == [reference.ipv4_is_private(ip) for ip in ips]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="/.ab", max_size=10), st.sampled_from([".", "/", "..", "b", "/."]))
def test_split_last_agrees_with_the_reference(con, s, delimiter):
    assert value(con, "SELECT kql_split_last(?, ?)", s, delimiter) == reference.split_last(
        s, delimiter)


def test_split_last_without_a_delimiter_keeps_the_string(con):
    assert value(con, "SELECT kql_split_last(?, NULL)", "a.b") == "a.b"
    assert value(con, "SELECT kql_split_last(NULL, ?)", ".") == ""


_texts = st.text(alphabet="fFeE80:.1ä\u0130İ-", max_size=8)


@settings(max_examples=400, deadline=None)
@given(_texts, _texts)
def test_startswith_and_endswith_agree_with_the_reference(con, hay, affix):
    assert value(con, "SELECT kql_startswith(?, ?)", hay, affix) is reference.startswith(
        hay, affix)
    assert value(con, "SELECT kql_endswith(?, ?)", hay, affix) is reference.ascii_fold(
        hay).endswith(reference.ascii_fold(affix))


def test_startswith_of_null_is_null(con):
    assert value(con, "SELECT kql_startswith(NULL, 'fe80')") is None
    assert value(con, "SELECT kql_startswith(?, NULL)", "fe80::1") is None
