"""Every KQL helper's Spark twin (engine/spark.py SPARK_MACROS) gives the value its DuckDB
macro (engine/kql_functions.py) gives, on inputs chosen at the edges: NULLs, non-ASCII
letters, regex metacharacters, trailing newlines, IPv4 look-alikes."""
from __future__ import annotations

import duckdb
import pytest

pytest.importorskip("sqlglot", reason="sqlglot not installed (pip install 'exhunt[spark]')")

from engine import kql_functions  # noqa: E402
from engine.spark import NO_TWIN, SPARK_MACROS, translate_duckdb_sql  # noqa: E402

pytestmark = pytest.mark.slow

STRINGS = [None, "", "-", "a", "A", "/OWA/Auth/logon.aspx", "/owa/auth",
           "/ecp/HealthCheck.htm.bak", "/ecp/healthcheck.html", "/ews/exchange.asmxfoo",
           "Ä", "İ", "x\n", "exch\n", "a\\Eb", "a.b.c", "/owa/", "/owa/1.2/favicon", ".",
           "10.1.2.3", "172.16.0.1/12", "172.32.0.1", "192.168.1.1/33", "256.1.1.1",
           "1.2.3.4:443", "1.2.3.4\n", "::1", "fe80::1", "\uff10.1.2.3", "1.2.3.4/",
           "01.002.3.4", "\u039f\u0394\u039f\u03a3 \u03a3", "foo exch bar", "fooexch", "a_exch_b", "(?x)", "$1", "\\Q"]
SECOND = [None, "", "exch", "/owa/", "OWA", ".", "/", "a\\E", "(?x)", "1.2", "x\n", "ä"]
LISTS = [[], ["/owa/auth/", "/ecp/healthcheck.htm", "/ews/exchange.asmx"], ["exch", None],
         [None], ["aspx", "ashx", "asp"], ["", "zz"], None, ["a", "A"]]


def _twins() -> dict[str, str]:
    """Every DuckDB helper that has a Spark twin, as a call on the test table's columns
    (a: text, b: text, l: list of text), chosen by the macro's parameter names. The JSON
    helpers take JSON text in DuckDB and a VARIANT in Spark: they are compared in
    test_json_helpers_match_duckdb."""
    from engine import hunts

    calls = {}
    for name, (params, _body) in {**kql_functions.MACROS, **hunts.HUNT_MACROS}.items():
        if name in NO_TWIN or name.startswith("kql_json_"):
            continue
        args = [p.strip() for p in params.split(",")]
        names = iter(["a", "b"])
        calls[name] = f"{name}({', '.join('l' if p in ('terms', 'items') else next(names) for p in args)})"
    return calls


TWINS = _twins()


def test_every_duckdb_helper_has_a_spark_twin_or_a_reason():
    from engine import hunts

    for name in {**kql_functions.MACROS, **hunts.HUNT_MACROS}:
        assert name in SPARK_MACROS or name in NO_TWIN, name


def _cases():
    rows = []
    for s in STRINGS:
        for t in SECOND:
            for i in range(len(LISTS)):
                rows.append((s, t, i))
    return rows


def _compare(spark, calls: list[str]):
    rows = _cases()
    select = ", ".join(f"{call} AS c{i}" for i, call in enumerate(calls))
    sql = f"SELECT n, {select} FROM cases JOIN lists USING (li) ORDER BY n"
    from engine import hunts

    con = duckdb.connect()
    hunts.install(con)  # the shared macros and the hunts' faster spellings
    con.execute("CREATE TABLE cases (n INTEGER, a VARCHAR, b VARCHAR, li INTEGER)")
    con.executemany("INSERT INTO cases VALUES (?, ?, ?, ?)",
                    [(n, *r) for n, r in enumerate(rows)])
    con.execute("CREATE TABLE lists (li INTEGER, l VARCHAR[])")
    con.executemany("INSERT INTO lists VALUES (?, ?)", list(enumerate(LISTS)))
    expected = con.execute(sql).fetchall()
    spark.createDataFrame([(n, *r) for n, r in enumerate(rows)],
                          "n int, a string, b string, li int").createOrReplaceTempView("cases")
    spark.createDataFrame(list(enumerate(LISTS)),
                          "li int, l array<string>").createOrReplaceTempView("lists")
    got = spark.sql(translate_duckdb_sql(sql)).collect()
    assert len(got) == len(expected)
    mismatches = []
    for want, have in zip(expected, got):
        have = tuple(list(v) if isinstance(v, list) else v for v in have)
        for i, call in enumerate(calls):
            if want[i + 1] != have[i + 1]:
                a, b, li = rows[want[0]]
                mismatches.append(f"{call} a={a!r} b={b!r} l={LISTS[li]!r}: "
                                  f"duckdb {want[i + 1]!r}, spark {have[i + 1]!r}")
    assert mismatches == []


def test_every_spark_twin_matches_its_duckdb_macro(spark):
    _compare(spark, [TWINS[name] for name in sorted(TWINS)])


def test_lower_matches_duckdb_on_special_letters(spark):
    _compare(spark, ["lower(a)", "lower(b)"])


JSON_TEXTS = ["", "[{", "not json", "{'Type':'host'}", "5", '"host"', "null", "true",
              '[{"Type":"host"},]', '{"a":NaN}', '[1, 2]', ' {"Type": "host"} ', "[]", "{}",
              '{"Type":"host","HostName":",]"}', '{"a":Infinity}', '{"a":1e999}']
ELEMENTS = ['{"Type":"host","HostName":"exch01","DnsDomain":"contoso.com"}',
            '{"Type":"Host","HostName":"EXCH01"}', '{"Type":5}', '{"Type":null}', "{}",
            '{"HostName":5}', '{"HostName":118.0}', '{"HostName":2.5}', '{"HostName":true}',
            '{"HostName":null}', '{"HostName":{"a":"b"}}', '{"HostName":[1,"x"]}',
            '{"HostName":""}', '{"HostName":"\u0130X"}', '{"HostName":-7}',
            '{"HostName":"a\\"b"}', '{"DnsDomain":[]}', '{"DnsDomain":{}}',
            '{"DnsDomain":0}', '{"DnsDomain":""}', '"host"', "5", "null", '[{"Type":"host"}]']


def test_json_helpers_match_duckdb(spark):
    """DuckDB's JSON helpers take JSON text; their twins take Spark's parsed VARIANT."""
    from engine import hunts

    con = duckdb.connect()
    hunts.install(con)
    checks = []
    for text in JSON_TEXTS + ELEMENTS:
        want = con.execute("SELECT kql_json_is_valid(?)", [text]).fetchone()[0]
        got = spark.sql(translate_spark("SELECT kql_json_is_valid(:t)"), args={"t": text}).collect()[0][0]
        checks.append((f"kql_json_is_valid({text!r})", want, got))
    for text in ELEMENTS:
        for path in ("$.Type", "$.HostName", "$.DnsDomain"):
            want = con.execute(
                "SELECT kql_json_tostring(j, $p), kql_json_isnotempty(j, $p), "
                "kql_json_string_equals(j, $p, 'host') FROM (SELECT CAST($t AS JSON) AS j)",
                {"t": text, "p": path}).fetchone()
            got = spark.sql(translate_spark(
                "SELECT kql_json_tostring(j, :p), kql_json_isnotempty(j, :p), "
                "kql_json_string_equals(j, :p, 'host') FROM (SELECT kql_json_parse(:t) AS j)"),
                args={"t": text, "p": path}).collect()[0]
            checks.append((f"{text} {path}", tuple(want), tuple(got)))
    assert [c for c in checks if c[1] != c[2]] == []


def translate_spark(sql: str) -> str:
    from engine.spark import prepare_spark_sql

    return prepare_spark_sql(sql)


def test_json_tostring_of_a_huge_number_does_not_fail_the_query(spark):
    """Spark's floor() of 1e20 overflows BIGINT under ANSI mode; the twin must not use it.
    The text differs from DuckDB's '1e+20' (a documented difference: Java formats doubles)."""
    row = spark.sql(translate_spark(
        "SELECT kql_json_tostring(kql_json_parse(:t), '$.HostName')"),
        args={"t": '{"HostName": 1e20}'}).collect()[0]
    assert row[0] == "1.0E20"
