"""Table-driven: one KQL behaviour per case, expected values worked out from the KQL
documentation (Microsoft's dataexplorer-docs) and SPEC.md."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.kql.conftest import kql

NOW = datetime(2021, 3, 2, 12, 0, 0)

# (KQL scalar expression, expected Python value)
SCALARS = [
    # has: term boundaries apply only where the term's edge is a letter or digit
    ('"/OWA/Auth/logon.aspx" has "owa"', True),
    ('"fooexch" has "exch"', False),
    ('"a_exch_b" has "EXCH"', True),
    ('"/ecp/HealthCheck.htm.bak" has "/ecp/healthcheck.htm"', True),
    ('"/ecp/healthcheck.html" has "/ecp/healthcheck.htm"', False),
    ('"foo exch" !has "exch"', False),
    ('"Exch" has_cs "exch"', False),
    # ASCII-only case folding
    ('"Ä" =~ "ä"', False),
    ('"ABC" =~ "abc"', True),
    ('"ABC" !~ "abc"', False),
    ('"Host" == "host"', False),
    ('"abc" contains_cs "B"', False),
    ('"abc" contains "B"', True),
    ('"abc" !contains "B"', False),
    ('"İ" contains "i"', False),
    ('"FE80::1" startswith "fe80"', True),
    ('"FE80::1" startswith_cs "fe80"', False),
    ('"x.PNG" endswith ".png"', True),
    ('"x.PNG" !endswith ".png"', False),
    ('"hello world" hasprefix "wor"', True),
    ('"hello world" hasprefix "orl"', False),
    ('"hello world" hassuffix "llo"', True),
    ('"/autodiscover/autodiscover.json?a" hasprefix "/autodiscover/autodiscover.json"', True),
    ('"a" in ("A", "b")', False),
    ('"a" in~ ("A", "b")', True),
    ('"a" !in~ ("A", "b")', False),
    ('"a" !in ("A", "b")', True),
    ('"ab cd" has_all ("ab", "cd")', True),
    ('"ab cd" has_all ("ab", "ce")', False),
    ('"x 200 y" has_any (dynamic([200, 302]))', True),
    ('"abc" matches regex "^a.c$"', True),
    ('"ABC" matches regex "abc"', False),
    # null comparisons (documented in "Null values")
    ("long(null) == 1", False),
    ("long(null) != 1", True),
    ("long(null) == long(null)", None),
    ("long(null) > 1", None),
    ("long(null) in (1, 2)", False),
    ("long(null) !in (1, 2)", True),
    # strings are never null
    ("tostring(long(null))", ""),
    ('strcat("a", long(null), "b")', "ab"),
    ('isempty("")', True),
    ('isempty("-")', False),
    ('isnull("")', False),
    ("isempty(long(null))", True),
    ('isnull(parse_json(""))', True),
    ('isnotempty(parse_json("[]"))', True),
    # dynamic values
    ('parse_json(\'{"Type":"host"}\').Type == "host"', True),
    ('parse_json(\'{"Type":"host"}\').Type == "Host"', False),
    ('parse_json(\'{"Type":"host"}\').Missing == "host"', False),
    ('parse_json(\'{"Type":"host"}\')["Type"] =~ "HOST"', True),
    ('tostring(parse_json("abc"))', "abc"),
    ('tostring(parse_json("[1,]"))', "[1,]"),
    ('tostring(parse_json(\'{ "a" : [1, 2] }\'))', '{"a":[1,2]}'),
    ('tostring(parse_json(\'{"a": 118.0}\').a)', "118"),
    ('tostring(dynamic({"a":{"b":[1,2,3]}}).a.b[-1])', "3"),
    ('tostring(split("a/b", "/")[-1])', "b"),
    ('tostring(split("a/b", ".")[-1])', "a/b"),
    ('tostring(split("", ".")[0])', ""),
    ('tostring(split("a.b", ".")[5])', ""),
    ('array_length(split("a.b.c", "."))', 3),
    ('array_length(parse_json("5"))', None),
    ('tostring(bag_keys(dynamic({"a":1,"b":2})))', '["a","b"]'),
    ('tostring(split("a.b.c", ".", 1))', '["b"]'),
    # conversions and functions
    ('iff(long(null) > 1, "a", "b")', "b"),
    ('iif(true, 1, 2)', 1),
    ("case(false, 1, 1 > 2, 2, 3)", 3),
    ("tohex(1326)", "52e"),
    ("tohex(-546)", "fffffffffffffdde"),
    ("tohex(tolong(''))", ""),
    ('tolong("12")', 12),
    ('tolong("abc")', None),
    ('toint(" 7 ")', 7),
    ('todouble("1.5")', 1.5),
    ('tostring(2.0)', "2"),
    ('tostring(true)', "true"),
    ('tostring(datetime(2021-03-02 08:01:00.5))', "2021-03-02T08:01:00.5Z"),
    ('tostring(1d + 2h)', "1.02:00:00"),
    ('url_decode("a%20b%2Fc")', "a b/c"),
    ('string_size("é")', 2),
    ('strlen("é")', 1),
    ('tolower("ÀB")', "àb"),
    ('toupper("ab")', "AB"),
    ('extract("x=([0-9]+)", 1, "a x=42")', "42"),
    ('extract("x=([0-9]+)", 1, "nothing")', ""),
    ('replace_string("a.b.c", ".", "/")', "a/b/c"),
    ('replace_regex("a1b22", "[0-9]+", "#")', "a#b#"),
    ("replace(@'\\+', ' ', 'a+b+c')", "a b c"),
    ('strcat_array(dynamic(["a", 1]), "-")', "a-1"),
    ('indexof("abcd", "cd")', 2),
    ('substring("abcdef", 1, 3)', "bcd"),
    ('countof("aaa", "aa")', 2),
    ('coalesce("", "x")', "x"),
    ('not(1 > 2)', True),
    # IPv4
    ('ipv4_is_private("10.1.1.1")', True),
    ('ipv4_is_private("172.31.255.255")', True),
    ('ipv4_is_private("172.32.0.1")', False),
    ('ipv4_is_private("127.0.0.1")', False),
    ('ipv4_is_private("192.168.0.1/24")', True),
    ('ipv4_is_private("::1")', None),
    ('ipv4_is_private("1.2.3.4:443")', None),
    ('ipv4_is_private("")', None),
    ('ipv4_is_in_range("10.1.2.3", "10.0.0.0/8")', True),
    ('ipv4_is_in_range("11.1.2.3", "10.0.0.0/8")', False),
    ('ipv4_compare("192.168.1.1", "192.168.1.255", 24)', 0),
    ('ipv4_compare("10.0.0.1", "10.0.0.2")', -1),
    ('ipv4_is_match("10.0.0.1", "10.0.0.7", 29)', True),
    ('parse_ipv4("127.0.0.1")', 2130706433),
    ('parse_ipv4("1.2.3")', None),
    # time, anchored to now
    ("now()", NOW),
    ("ago(1h)", NOW - timedelta(hours=1)),
    ("now(-1d)", NOW - timedelta(days=1)),
    ("bin(datetime(2021-03-02 08:01:37), 1m)", datetime(2021, 3, 2, 8, 1)),
    # 737850 days after 0001-01-01 (KQL's tick epoch); 737850 % 7 == 1
    ("bin(datetime(2021-03-02 08:01:37), 7d)", datetime(2021, 3, 1)),
    ("bin(7, 5)", 5),
    ("bin(-7, 5)", -10),
    ("5 between (1 .. 5)", True),
    ("6 !between (1 .. 5)", True),
    ("datetime(2021-03-02 10:00) between (datetime(2021-03-02 09:00) .. 1h)", True),
    ("datetime(2021-03-02) - datetime(2021-03-01) == 1d", True),
    ("datetime(2021-03-02) + 1h", datetime(2021, 3, 2, 1)),
    ("7 / 2", 3),
    ("-7 / 2", -3),
    ("7 % 3", 1),
    ("7.0 / 2", 3.5),
    ("1 / 0", None),
    ("False == false", True),
]


@pytest.mark.parametrize("expression, expected", SCALARS, ids=[s[0] for s in SCALARS])
def test_scalar_expression(db, expression, expected):
    rows = kql(db, f"print r = {expression}", now=NOW)
    assert rows == [{"r": expected}]


def rows(db, query: str, now=NOW) -> list[tuple]:
    return [tuple(r.values()) for r in kql(db, query, now)]


def columns(db, query: str) -> list[str]:
    from engine.kql import compile_kql
    return compile_kql(query, now=NOW).columns


class Unordered(list):
    """Expected rows in any order, duplicates counted."""


AB = 'datatable(a:string, b:long)["x", 1, "x", 2, "y", 3, "Z", long(null)]'

# (query, expected rows in order, or a set when KQL leaves the order open)
TABULAR = [
    (f"{AB} | where b != 2", {("x", 1), ("y", 3), ("Z", None)}),
    (f"{AB} | where b > 1", {("x", 2), ("y", 3)}),
    (f"{AB} | where not(b > 1)", [("x", 1)]),
    (f"{AB} | sort by b", [("y", 3), ("x", 2), ("x", 1), ("Z", None)]),
    (f"{AB} | order by b asc", [("Z", None), ("x", 1), ("x", 2), ("y", 3)]),
    (f"{AB} | sort by b asc nulls last", [("x", 1), ("x", 2), ("y", 3), ("Z", None)]),
    (f"{AB} | sort by a asc, b desc", [("Z", None), ("x", 2), ("x", 1), ("y", 3)]),
    (f"{AB} | top 2 by b", [("y", 3), ("x", 2)]),
    (f"{AB} | top 1 by b asc", [("Z", None)]),
    (f"{AB} | top 1 by b asc nulls last", [("x", 1)]),
    (f"{AB} | sort by b asc nulls last | take 2", [("x", 1), ("x", 2)]),
    (f"{AB} | sort by b asc nulls last | extend c = b * 2 | project c", [(2,), (4,), (6,), (None,)]),
    (f"{AB} | distinct a", {("x",), ("y",), ("Z",)}),
    (f"{AB} | count", [(4,)]),
    (f"{AB} | summarize count()", [(4,)]),
    (f"{AB} | where b > 10 | summarize count(), make_list(a), sum(b)", [(0, [], None)]),
    (f"{AB} | where b > 10 | summarize count() by a", set()),
    (f"{AB} | summarize by a", {("x",), ("y",), ("Z",)}),
    (f"{AB} | summarize n = count(), s = sum(b), m = max(b), d = dcount(b) by a",
     {("x", 2, 3, 2, 2), ("y", 1, 3, 3, 1), ("Z", 1, None, None, 0)}),
    (f"{AB} | summarize countif(b > 1), dcountif(a, b > 0)", [(2, 2)]),
    (f"{AB} | summarize avg(b)", [(2.0,)]),
    (f"{AB} | summarize arg_max(b, a)", [(3, "y")]),
    (f"{AB} | summarize arg_min(b, *) by a | where a == 'x'", [("x", 1)]),
    (f"{AB} | project-away b", Unordered([("x",), ("x",), ("y",), ("Z",)])),
    (f"{AB} | where a == 'y' | project-reorder b", [(3, "y")]),
    (f"{AB} | where a == 'y' | project-rename c = a", [("y", 3)]),
    (f"{AB} | where a == 'y' | project-keep b", [(3,)]),
    (f"{AB} | where a == 'y' | extend a = 'new'", [("new", 3)]),
    (f"{AB} | where a == 'y' | serialize | extend c = 1", [("y", 3, 1)]),
    ('print x = dynamic([1, 2]) | mv-expand x | extend y = tolong(x) | project y', [(1,), (2,)]),
    ('print x = dynamic([]) | mv-expand x', []),
    ('print x = dynamic(null) | mv-expand x', [(None,)]),
    ('print x = dynamic({"a": 1, "b": [2]}) | mv-expand x', [({"a": 1},), ({"b": [2]},)]),
    ('print x = parse_json("not json") | mv-expand x', [("not json",)]),
    ('print x = dynamic(["a", 1]) | mv-expand x to typeof(string)', [("a",), ("",)]),
    ('print x = dynamic([1, 2, 3]) | mv-expand x limit 2 | count', [(2,)]),
    ('print s = "GET /x 200" | parse s with method " " path " " status:long | project method, path, status',
     [("GET", "/x", 200)]),
    ('print s = "nothing" | parse s with "x=" v:long | project v', [(None,)]),
    ('let f = (s:string) { tolower(s) }; print r = f("AB")', [("ab",)]),
    (f'let f = (s:string) {{ strcat(s, "!") }}; {AB} | where b == 3 | project r = f(a)', [("y!",)]),
    (f'let T = {AB} | where b == 3; T | project a', [("y",)]),
    (f'let limit_ = 2; {AB} | where b >= limit_ | project b', {(2,), (3,)}),
    (f'{AB} | where b == 1 | union ({AB} | where b == 3 | extend c = "new")',
     {("x", 1, ""), ("y", 3, "new")}),
    (f"union isfuzzy=true ({AB} | where b == 1), (NoSuchTable | where x == 1)", [("x", 1)]),
    (f"{AB} | where b == 1 | extend strlen(a)", [("x", 1, 1)]),
]


@pytest.mark.parametrize("query, expected", TABULAR, ids=[t[0][-60:] for t in TABULAR])
def test_tabular_query(db, query, expected):
    got = rows(db, query)
    if isinstance(expected, set):
        assert len(got) == len(expected) and set(got) == expected
    elif isinstance(expected, Unordered):
        assert sorted(got, key=repr) == sorted(expected, key=repr)
    else:
        assert got == expected


NAMING = [
    (f"{AB} | summarize count(), dcount(b), sum(b), make_set(a), make_list(a), makeset(b) by a",
     ["a", "count_", "dcount_b", "sum_b", "set_a", "list_a", "set_b"]),
    (f"{AB} | summarize min(b), max(b), avg(b), countif(b > 1), dcountif(a, true)",
     ["min_b", "max_b", "avg_b", "countif_", "dcountif_a"]),
    (f"{AB} | summarize count() by bin(b, 2), tostring(a)", ["b", "a", "count_"]),
    (f"{AB} | summarize count() by tolower(a)", ["Column1", "count_"]),
    (f"{AB} | extend strlen(a), b * 2", ["a", "b", "Column1", "Column2"]),
    (f"{AB} | extend a = 1", ["a", "b"]),
    (f"{AB} | summarize arg_max(b, *) by a", ["a", "b"]),
    (f"{AB} | join kind=inner ({AB}) on a", ["a", "b", "a1", "b1"]),
    (f"{AB} | join kind=leftsemi ({AB}) on a", ["a", "b"]),
    (f"{AB} | count", ["Count"]),
    ('print d = dynamic({"k": 1}) | project d.k', ["d_k"]),
    ("print 1, x = 2", ["print_0", "x"]),
]


@pytest.mark.parametrize("query, expected", NAMING, ids=[n[0][-50:] for n in NAMING])
def test_generated_column_names(db, query, expected):
    assert columns(db, query) == expected


LEFT = 'datatable(k:string, v:long)["a", 1, "a", 2, "b", 3]'
RIGHT = 'datatable(k:string, w:long)["a", 10, "c", 30]'
JOINS = [
    ("inner", {("a", 1, "a", 10), ("a", 2, "a", 10)}),
    ("leftouter", {("a", 1, "a", 10), ("a", 2, "a", 10), ("b", 3, "", None)}),
    ("rightouter", {("a", 1, "a", 10), ("a", 2, "a", 10), ("", None, "c", 30)}),
    ("fullouter", {("a", 1, "a", 10), ("a", 2, "a", 10), ("b", 3, "", None), ("", None, "c", 30)}),
    ("leftsemi", {("a", 1), ("a", 2)}),
    ("leftanti", {("b", 3)}),
    ("rightsemi", {("a", 10)}),
    ("rightanti", {("c", 30)}),
]


@pytest.mark.parametrize("kind, expected", JOINS, ids=[j[0] for j in JOINS])
def test_join_kind(db, kind, expected):
    got = rows(db, f"{LEFT} | join kind={kind} ({RIGHT}) on k")
    assert len(got) == len(expected) and set(got) == expected


def test_join_default_is_innerunique_deduplicating_the_left_side(db):
    got = rows(db, f"{LEFT} | join ({RIGHT}) on k")
    assert len(got) == 1 and got[0][0] == "a" and got[0][1] in (1, 2) and got[0][2:] == ("a", 10)


def test_join_on_left_right_columns(db):
    got = rows(db, f"{LEFT} | join kind=inner ({RIGHT} | project k2 = k, w) on $left.k == $right.k2")
    assert set(got) == {("a", 1, "a", 10), ("a", 2, "a", 10)}


def test_legacy_mvexpand_stops_at_128_values(db):
    array = "[" + ",".join(str(i) for i in range(130)) + "]"
    assert rows(db, f"print x = parse_json('{array}') | mvexpand x | count") == [(128,)]
    assert rows(db, f"print x = parse_json('{array}') | mv-expand x | count") == [(130,)]


def test_legacy_makeset_keeps_128_values(db):
    db.execute("INSERT INTO W3CIISLog (cIP) SELECT 'ip' || i FROM range(200) r(i)")
    got = kql(db, "W3CIISLog | summarize makeset(cIP), make_set(cIP), makelist(cIP)")
    assert [len(got[0][c]) for c in ("set_cIP", "set_cIP1", "list_cIP")] == [128, 200, 128]


def test_timespan_column_comes_back_as_interval(db):
    assert rows(db, "print d = 1h + 30s") == [(timedelta(hours=1, seconds=30),)]


def test_now_defaults_to_the_latest_time_generated_in_either_table(db):
    from tests.kql.conftest import T0, alerts, iis
    iis(db, {"TimeGenerated": T0})
    alerts(db, {"TimeGenerated": T0 + timedelta(hours=1)})
    assert kql(db, "print r = now(), s = ago(1d)") == [
        {"r": T0 + timedelta(hours=1), "s": T0 + timedelta(hours=1) - timedelta(days=1)}]


def test_values_are_bound_parameters_never_sql_text():
    from engine.kql import compile_kql
    compiled = compile_kql("W3CIISLog | where csUriStem has \"'; DROP TABLE x; --\" | project cIP")
    assert "DROP TABLE" not in compiled.sql
    assert "'; DROP TABLE x; --" in compiled.params
