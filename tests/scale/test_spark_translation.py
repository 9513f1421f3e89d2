"""Rule SQL to Spark SQL: what is translated, and what is refused rather than risked.
These need sqlglot only (no Spark, no Java)."""
from __future__ import annotations

import dataclasses

import pytest

sqlglot = pytest.importorskip(
    "sqlglot", reason="sqlglot not installed (pip install 'exhunt[spark]')")

from engine.spark import (SparkTranslationError, expand_macros, prepare_spark_sql,
                          spark_query, translate_duckdb_sql)
from engine.rules import resolve_parameters


def test_hunt_b_sql_translates_without_per_engine_sql(builtin_rules):
    rule = builtin_rules["owa-export"]
    query = spark_query(dataclasses.replace(rule, extra={}), resolve_parameters(rule, None))
    assert query.origin == "translated"
    assert set(query.args) == {"scripting_extensions", "excluded_ips", "max_access",
                               "distinct_ips"}
    assert "kql_" not in query.sql.lower()


def test_duckdb_json_functions_are_refused_not_guessed(builtin_rules):
    with pytest.raises(SparkTranslationError, match="sql_spark"):
        translate_duckdb_sql(builtin_rules["exchange-alerts"].sql)


def test_per_engine_sql_wins_over_translation(builtin_rules):
    rule = builtin_rules["owa-export"]
    rule = dataclasses.replace(rule, extra={"sql_spark": "SELECT :max_access AS Access"})
    query = spark_query(rule, resolve_parameters(rule, None))
    assert query.origin == "sql_spark"
    assert query.args == {"max_access": 2}


def test_positional_placeholders_become_named_in_order():
    sql = translate_duckdb_sql("SELECT ? AS a, ? AS b")
    assert ":p1" in sql and ":p2" in sql and sql.index(":p1") < sql.index(":p2")


def test_a_placeholder_used_twice_by_a_macro_body_stays_one_parameter():
    sql = translate_duckdb_sql("SELECT kql_has_any(x, ?) AS a FROM t")
    names = {p.name for p in sqlglot.parse_one(sql, read="spark").find_all(
        sqlglot.exp.Placeholder)}
    assert names == {"p1"}


def test_list_order_by_is_kept_not_dropped():
    sql = translate_duckdb_sql("SELECT list(x ORDER BY y) AS l FROM t GROUP BY z")
    assert "ARRAY_SORT" in sql.upper()


def test_descending_list_order_is_refused():
    with pytest.raises(SparkTranslationError, match="DESC"):
        translate_duckdb_sql("SELECT list(x ORDER BY y DESC) AS l FROM t")


def test_unknown_kql_helper_is_refused_by_name():
    with pytest.raises(SparkTranslationError, match="kql_nope"):
        expand_macros(sqlglot.parse_one("SELECT kql_nope(x) FROM t", read="duckdb"))


def test_macro_with_wrong_argument_count_is_refused():
    with pytest.raises(SparkTranslationError, match="takes 2 arguments"):
        translate_duckdb_sql("SELECT kql_has(x) FROM t")


def test_cast_to_text_is_refused_because_spark_formats_values_differently():
    with pytest.raises(SparkTranslationError, match="CAST to"):
        translate_duckdb_sql("SELECT CAST(t AS VARCHAR) FROM x")


def test_per_engine_sql_that_does_not_parse_names_the_key():
    with pytest.raises(SparkTranslationError, match="sql_spark"):
        prepare_spark_sql("SELECT FROM WHERE (")


def test_positional_placeholders_are_numbered_in_text_order_across_ctes():
    sql = translate_duckdb_sql("WITH a AS (SELECT ? AS x) SELECT x, ? AS y FROM a WHERE x = ?")
    assert sql.index(":p1") < sql.index(":p2") < sql.index(":p3")
    assert sql.index(":p1") < sql.upper().index("SELECT X")


def test_question_mark_inside_a_string_literal_is_not_a_placeholder():
    sql = translate_duckdb_sql("SELECT '?' AS q, ? AS p")
    assert "'?'" in sql and ":p1" in sql and ":p2" not in sql


def test_per_engine_sql_naming_an_unknown_parameter_is_refused(builtin_rules):
    rule = builtin_rules["owa-export"]
    rule = dataclasses.replace(rule, extra={"sql_spark": "SELECT :nope AS Access"})
    with pytest.raises(SparkTranslationError, match=":nope"):
        spark_query(rule, resolve_parameters(rule, None))


def test_numbered_duckdb_parameters_keep_their_numbers():
    sql = translate_duckdb_sql("SELECT $2 AS b, $1 AS a")
    assert sql.index(":p2") < sql.index(":p1")


def test_json_helpers_are_left_to_per_engine_sql():
    with pytest.raises(SparkTranslationError, match="kql_json_tostring"):
        translate_duckdb_sql("SELECT kql_json_tostring(e, '$.HostName') FROM t")


def test_macro_arguments_named_like_its_parameters_are_substituted_once():
    sql = translate_duckdb_sql("SELECT kql_contains_cs(needle, hay) AS c FROM t")
    assert sql.startswith("SELECT CONTAINS((needle), (hay))")
