"""Run exhunt's rules on Apache Spark over a case's Parquet tables (the optional extra
``exhunt[spark]``), with rows and finding ids identical to the DuckDB engine's.

A case keeps W3CIISLog and SecurityAlert as plain Parquet with the Sentinel schema
(engine/case.py), so any engine can read it; this module proves the path to a cluster.

Where each rule's Spark SQL comes from, first that applies:

1. ``sql_spark`` in the rule file: per-engine Spark SQL, for queries whose DuckDB SQL has no
   exact translation (hunt A: DuckDB's JSON functions; its Spark twin uses Spark 4's VARIANT).
2. The rule's DuckDB ``sql`` (or its KQL compiled to DuckDB SQL) translated by sqlglot
   (duckdb -> spark). Only constructs on a list verified to keep their meaning are accepted
   (``_EXACT``); anything else raises SparkTranslationError naming the construct rather than
   risking a different answer. Two rewrites fix what sqlglot gets wrong for us: ``list(x
   ORDER BY ..) [FILTER ..]`` (sqlglot drops the ORDER BY; Spark's collect_list also drops
   NULLs and gives [] where DuckDB gives NULL) and ``lower()`` (Java lower-cases U+0130 and
   a final sigma differently from DuckDB).

The KQL helpers of engine/kql_functions.py (its SHARED_MACROS and JSON_MACROS) have Spark
twins in ``SPARK_MACROS``, expanded into the query text the way DuckDB expands its macros. Not registered Spark SQL functions (``CREATE TEMPORARY FUNCTION``): Spark refuses
those inside lambdas, which has_any needs, and plain expressions also run over Spark Connect.
Because everything is SQL expressions, executors need no Python at all: only the driver
runs exhunt. tests/scale compares every twin with its DuckDB macro on edge inputs and both
hunts' rows on a case.

pyspark is imported lazily: nothing else in exhunt needs it or Java. sqlglot is imported
here only, so it is part of the same extra.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import sqlglot
from sqlglot import exp

from engine.findings import CoverageNote, Finding, HuntRun, finding_id
from engine.hunts import (HuntEngineError, derive_key_columns, findings_from_rows,
                          split_overrides, stable_order)
from engine.kql_functions import COMPILER_MACROS, IPV4_PATTERN, IPV4_PRIVATE_PATTERN
from engine.rules import Rule, RuleError, nameable_checks, resolve_parameters, sql_placeholders
from engine.tables import TABLES

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"

# One character that is an ASCII letter or digit, as a whole string. ``\z`` (absolute end)
# rather than ``$``: Java's ``$`` also matches before a final line terminator, RE2's
# (DuckDB's) does not. Bodies below are Spark SQL text, so backslashes are doubled once
# for the SQL string literal.
_ALNUM_CHAR = r"'^[A-Za-z0-9]\\z'"


def _quote_regex(expr: str) -> str:
    """Spark SQL for a regex matching ``expr`` literally, as Java's Pattern.quote does
    (DuckDB's ``regexp_escape`` plays this role in the macros)."""
    return rf"concat('\\Q', replace({expr}, '\\E', '\\E\\\\E\\Q'), '\\E')"


def _has_expr(hay: str, term: str, *, fold: bool) -> str:
    """The body of ``kql_has``/``kql_has_cs`` for the given argument expressions. Spark SQL
    functions may not appear inside lambdas, so has_any/has_all inline this text."""
    letters = "a-z0-9" if fold else "A-Za-z0-9"
    f = (lambda e: f"kql_fold({e})") if fold else (lambda e: e)
    first = f"left({term}, 1) rlike {_ALNUM_CHAR}"
    last = f"right({term}, 1) rlike {_ALNUM_CHAR}"
    pattern = (f"concat(CASE WHEN {first} THEN '(?:^|[^{letters}])' ELSE '' END, "
               f"{_quote_regex(f(term))}, "
               rf"CASE WHEN {last} THEN '(?:\\z|[^{letters}])' ELSE '' END)")
    return (f"CASE WHEN {first} OR {last} THEN {f(hay)} rlike {pattern} "
            f"ELSE contains({f(hay)}, {f(term)}) END")


def _bool_any(terms: str, predicate: str) -> str:
    """DuckDB's ``list_bool_or(list_transform(terms, lambda __t: predicate))``: bool_or
    skips NULLs, so any true wins, else any false gives false, else (all NULL) NULL."""
    return (f"CASE WHEN exists({terms}, __t -> ({predicate}) <=> true) THEN true "
            f"WHEN exists({terms}, __t -> ({predicate}) <=> false) THEN false ELSE NULL END")


def _bool_all(terms: str, predicate: str) -> str:
    """DuckDB's ``list_bool_and(...)``: NULLs skipped, any false wins."""
    return (f"CASE WHEN exists({terms}, __t -> ({predicate}) <=> false) THEN false "
            f"WHEN exists({terms}, __t -> ({predicate}) <=> true) THEN true ELSE NULL END")




def _whole_match(pattern: str) -> str:
    """A Spark SQL literal for DuckDB's regexp_full_match(s, pattern) as ``s rlike ...``:
    anchored (rlike finds), ``\\z`` for the end (Java's ``$`` also matches before a final
    newline), backslashes doubled for the SQL string literal. Only for the fixed patterns
    of engine/kql_functions.py, whose classes (``\\d``) mean the same in RE2 and Java."""
    return "'^(?:" + pattern.replace("\\", "\\\\") + ")\\\\z'"


_IPV4 = _whole_match(IPV4_PATTERN)
_IPV4_PRIVATE = _whole_match(IPV4_PRIVATE_PATTERN)

# name -> (parameters, Spark SQL body): the Spark twin of each DuckDB macro in
# engine.kql_functions.MACROS, expanded into the query text the way DuckDB expands its
# macros (see expand_macros). Why expansion and not Spark's CREATE TEMPORARY FUNCTION:
# Spark refuses SQL functions inside lambdas (has_any's list walk needs one), and plain
# expressions also run on Spark 3.x and over Spark Connect. Lambda variables start with
# ``__`` so they cannot capture a column of the caller's query.
SPARK_MACROS: dict[str, tuple[tuple[str, ...], str]] = {
    "kql_fold": (("s",), f"translate(s, '{_UPPER}', '{_LOWER}')"),
    "kql_isempty": (("s",), "(s IS NULL OR CAST(s AS STRING) = '')"),
    "kql_isnotempty": (("s",), "NOT (s IS NULL OR CAST(s AS STRING) = '')"),
    "kql_contains": (("hay", "needle"), "contains(kql_fold(hay), kql_fold(needle))"),
    "kql_contains_cs": (("hay", "needle"), "contains(hay, needle)"),
    "kql_startswith": (("hay", "prefix"), "startswith(kql_fold(hay), kql_fold(prefix))"),
    "kql_endswith": (("hay", "suffix"), "endswith(kql_fold(hay), kql_fold(suffix))"),
    "kql_has": (("hay", "term"), _has_expr("hay", "term", fold=True)),
    "kql_has_cs": (("hay", "term"), _has_expr("hay", "term", fold=False)),
    "kql_has_any": (("hay", "terms"),
                    "CASE WHEN size(terms) = 0 THEN false ELSE "
                    f"{_bool_any('terms', _has_expr('hay', '__t', fold=True))} END"),
    "kql_has_all": (("hay", "terms"),
                    "CASE WHEN size(terms) = 0 THEN true ELSE "
                    f"{_bool_all('terms', _has_expr('hay', '__t', fold=True))} END"),
    # DuckDB's list_contains skips NULL elements (Spark's array_contains would say NULL
    # when the list holds one and nothing matched) and is NULL for a NULL list or a NULL
    # value, except that a NULL value in an empty list is false (DuckDB 2.0.1).
    "kql_in_ci": (("value", "items"),
                  "CASE WHEN value IS NULL OR items IS NULL THEN NULL "
                  "WHEN size(items) = 0 THEN false ELSE "
                  f"exists(items, __x -> translate(__x, '{_UPPER}', '{_LOWER}') "
                  "<=> kql_fold(value)) END"),
    # DuckDB's string_split with an empty delimiter splits into characters; with a NULL
    # one it does not split.
    "kql_split_last": (("s", "d"),
                       "coalesce(CASE WHEN d IS NULL THEN coalesce(s, '') "
                       "WHEN d = '' THEN right(coalesce(s, ''), 1) "
                       "ELSE split_part(coalesce(s, ''), d, -1) END, '')"),
    "kql_ipv4_octets": (
        ("s",),
        r"CASE WHEN s rlike '^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})(/\\d{1,2})?\\z' "
        r"THEN transform(split(split_part(s, '/', 1), '\\.'), __o -> CAST(__o AS INT)) "
        "ELSE NULL END",
    ),
    "kql_ipv4_valid": (("s",), f"coalesce(s rlike {_IPV4}, false)"),
    "kql_ipv4_is_private": (
        ("s",), f"CASE WHEN s rlike {_IPV4} THEN s rlike {_IPV4_PRIVATE} ELSE NULL END"),
}


class SparkTranslationError(HuntEngineError):
    """A rule's SQL cannot be run on Spark with DuckDB's exact meaning; the message says
    which construct and what to do (write per-engine SQL for the rule)."""


@lru_cache(maxsize=None)
def _macro_tree(name: str) -> exp.Expression:
    return sqlglot.parse_one(SPARK_MACROS[name][1], read="spark")


def expand_macros(tree: exp.Expression) -> exp.Expression:
    """Replace every call of a KQL helper (``kql_has_any(csUriStem, ?)`` ...) by its Spark
    body with the call's arguments substituted, innermost first, as DuckDB expands macros."""

    def expand(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Anonymous):
            return node
        name = str(node.this).lower()
        if name not in SPARK_MACROS:
            if name.startswith("kql_"):
                raise SparkTranslationError(
                    f"{name}() has no Spark equivalent in engine/spark.py SPARK_MACROS")
            return node
        params = SPARK_MACROS[name][0]
        if len(node.expressions) != len(params):
            raise SparkTranslationError(
                f"{name}() takes {len(params)} arguments, got {len(node.expressions)}")
        args = dict(zip(params, node.expressions))

        def substitute(inner: exp.Expression) -> exp.Expression:
            if isinstance(inner, exp.Column) and not inner.table and inner.name in args:
                return exp.Paren(this=args[inner.name].copy())
            return inner

        body = _macro_tree(name).copy().transform(substitute)
        return expand_macros(body)

    return tree.transform(expand)


def _number_placeholders(sql: str, dialect: str) -> str:
    """Positional parameters -> named ``p1``, ``p2`` ...: ``?`` in textual order (the order
    DuckDB binds them) and DuckDB's numbered ``$3`` as ``p3``. They are found among the SQL's
    tokens, so a ``?`` inside a string literal is left alone. Named, a macro argument copied
    into its body several times still refers to one bound value."""
    from sqlglot.tokens import TokenType

    mark = "$" if dialect == "duckdb" else ":"
    tokens = sqlglot.tokenize(sql, read=dialect)
    pieces, last, n = [], 0, 0
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            n += 1
            pieces += [sql[last:token.start], f"{mark}p{n}"]
            last = token.end + 1
        elif (token.token_type == TokenType.PARAMETER and i + 1 < len(tokens)
              and tokens[i + 1].token_type == TokenType.NUMBER
              and tokens[i + 1].start == token.end + 1):
            pieces += [sql[last:token.start], f"{mark}p{tokens[i + 1].text}"]
            last = tokens[i + 1].end + 1
    return "".join(pieces) + sql[last:]


def _placeholder_names(spark_sql: str) -> list[str]:
    """The ``:name`` parameters of Spark SQL text, first use first."""
    tree = sqlglot.parse_one(spark_sql, read="spark")
    return list(dict.fromkeys(str(p.this) for p in tree.find_all(exp.Placeholder) if p.this))


# DuckDB helpers that return regular-expression text (RE2 syntax) have no twin: Java's
# syntax differs, and the has/has_any twins build their own patterns. The KQL compiler's
# kqlx_* macros have none either: compiled KQL is not translated to Spark (_check_exact
# refuses any function outside kql_*), so nothing on Spark could call them.
NO_TWIN = ("kql_has_pattern", "kql_has_any_pattern", *COMPILER_MACROS)


# --- JSON helpers for per-engine Spark SQL ------------------------------------------------
# Twins of engine.kql_functions.JSON_MACROS over Spark's VARIANT (Spark 4): ``kql_json_parse(s)``
# gives the parsed value (NULL where KQL's parse_json would keep the string or give null),
# the others take a VARIANT and a JSON path literal such as '$.Type'. The DuckDB macros take
# JSON text, so SQL using these is per-engine SQL (a rule's ``sql_spark``), never translated.
_VTYPE = "schema_of_variant(variant_get(j, path))"
SPARK_MACROS.update({
    "kql_json_parse": (("s",), "try_parse_json(s)"),
    "kql_json_is_valid": (("s",), "(try_parse_json(s) IS NOT NULL)"),
    "kql_json_string_equals": (
        ("j", "path", "value"),
        f"coalesce({_VTYPE} = 'STRING' AND variant_get(j, path, 'string') = value, false)"),
    "kql_json_isnotempty": (
        ("j", "path"),
        f"coalesce({_VTYPE} <> 'VOID', false) AND NOT coalesce("
        f"{_VTYPE} = 'STRING' AND variant_get(j, path, 'string') = '', false)"),
    # KQL prints an integral real without its fraction (118.0 -> 118); Spark keeps a JSON
    # number with a fraction as DECIMAL or DOUBLE.
    "kql_json_tostring": (
        ("j", "path"),
        f"CASE WHEN variant_get(j, path) IS NULL OR {_VTYPE} = 'VOID' THEN '' "
        f"WHEN {_VTYPE} = 'STRING' THEN variant_get(j, path, 'string') "
        f"WHEN {_VTYPE} LIKE 'DECIMAL%' OR {_VTYPE} IN ('DOUBLE', 'FLOAT') THEN CASE "
        # round(), not floor(): Spark's floor of a double is a BIGINT and overflows (ANSI).
        "  WHEN abs(variant_get(j, path, 'double')) < 1e15 "
        "   AND variant_get(j, path, 'double') = round(variant_get(j, path, 'double'), 0) "
        "  THEN CAST(CAST(variant_get(j, path, 'double') AS BIGINT) AS STRING) "
        "  ELSE CAST(variant_get(j, path, 'double') AS STRING) END "
        f"WHEN {_VTYPE} IN ('BOOLEAN', 'BIGINT', 'INT', 'SMALLINT', 'TINYINT') "
        "THEN variant_get(j, path, 'string') "
        "ELSE to_json(variant_get(j, path)) END"),
})


# --- translation ----------------------------------------------------------------------------

# sqlglot expression types whose Spark rendering keeps DuckDB's meaning for the values exhunt
# stores (strings never NULL, UTC timestamps, integers). Anything else in a rule's DuckDB SQL
# stops the translation with a SparkTranslationError instead of risking a different answer:
# e.g. sqlglot renders DuckDB's 1-based ``list[-1]`` and JSON functions in ways that do not
# mean the same on Spark, and drops ``ORDER BY`` inside ``list()`` (rewritten below).
_EXACT = frozenset({
    "Select", "With", "CTE", "From", "Join", "Where", "Group", "Having", "Order", "Ordered",
    "Limit", "Distinct", "Star", "Table", "TableAlias", "Identifier", "Column", "Alias",
    "Literal", "Boolean", "Null", "Paren", "And", "Or", "Not", "EQ", "NEQ", "GT", "GTE",
    "LT", "LTE", "Is", "In", "Between", "Case", "If", "Coalesce", "Count", "Min", "Max",
    "Placeholder", "Cast", "DataType", "ArrayAgg", "Filter", "Union", "DPipe", "Lower",
    "Array", "Subquery", "Anonymous", "Var", "Tuple", "Contains", "StartsWith",
    "NullSafeEQ",  # IS NOT DISTINCT FROM: the same words and meaning in Spark SQL
})
_EXACT_CASTS = ("ARRAY<VARCHAR>", "ARRAY<TEXT>", "INT", "INTEGER", "BIGINT", "BOOLEAN")


def _check_exact(tree: exp.Expression, where: str) -> None:
    for node in tree.walk():
        kind = type(node).__name__
        if kind not in _EXACT:
            raise SparkTranslationError(
                f"{where}: `{node.sql('duckdb')[:60]}` ({kind}) is not among the DuckDB "
                "constructs engine/spark.py translates exactly; give the rule per-engine "
                "Spark SQL under `sql_spark`")
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if not name.startswith("kql_") or name.startswith("kql_json_"):
                # The JSON helpers' Spark twins take a VARIANT, the DuckDB ones JSON text.
                raise SparkTranslationError(
                    f"{where}: function {node.this}() has no verified Spark translation; "
                    "give the rule per-engine Spark SQL under `sql_spark`")
        if isinstance(node, exp.Cast):
            target = node.to.sql("duckdb").upper()
            target = f"ARRAY<{target[:-2]}>" if target.endswith("[]") else target
            if target not in _EXACT_CASTS:
                raise SparkTranslationError(
                    f"{where}: CAST to {target} may format or parse values differently on "
                    "Spark; give the rule per-engine Spark SQL under `sql_spark`")


def _lower_like_duckdb(tree: exp.Expression) -> exp.Expression:
    """DuckDB's lower() uses simple case mapping; Java's (Spark's) maps U+0130 to two
    characters and a word-final capital sigma to the final form. Mapping those two first
    gives DuckDB's answer."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Lower) and not node.meta.get("exhunt"):
            inner = exp.func("translate", node.this, exp.Literal.string("\u0130\u03a3"),
                             exp.Literal.string("i\u03c3"))
            out = exp.Lower(this=inner)
            out.meta["exhunt"] = True
            return out
        return node

    return tree.transform(rewrite)


def _sort_key_fields(order: exp.Order, where: str) -> list[exp.Expression]:
    fields: list[exp.Expression] = []
    for i, ordered in enumerate(order.expressions):
        if ordered.args.get("desc"):
            raise SparkTranslationError(f"{where}: list(... ORDER BY ... DESC) is not "
                                        "translated; sort ascending or give `sql_spark`")
        key = ordered.this
        # DuckDB sorts NULLs last unless told otherwise: a leading "is null" flag does it.
        flag = exp.Is(this=key.copy(), expression=exp.Null())
        if ordered.args.get("nulls_first"):
            flag = exp.Not(this=flag)
        fields += [exp.Literal.string(f"n{i}"), flag, exp.Literal.string(f"k{i}"), key.copy()]
    return fields


def _ordered_list(agg: exp.ArrayAgg, condition: exp.Expression | None,
                  where: str) -> exp.Expression:
    """DuckDB ``list(x [ORDER BY k...]) [FILTER (WHERE c)]`` as Spark SQL with the same
    value: NULL elements kept (collect_list drops them, so each is wrapped in a struct),
    sorted by the keys with DuckDB's NULLS LAST, and NULL (not []) when no row is
    aggregated. ``list(DISTINCT x ORDER BY x)`` likewise, with collect_set."""
    inner = agg.this
    order = inner if isinstance(inner, exp.Order) else None
    value = order.this if order is not None else inner
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        if len(value.expressions) != 1:
            raise SparkTranslationError(f"{where}: list(DISTINCT a, b) is not translated")
        value = value.expressions[0]
        keys = [o.this for o in order.expressions] if order is not None else []
        if any(k != value for k in keys):
            raise SparkTranslationError(f"{where}: list(DISTINCT x ORDER BY y) is not "
                                        "translated; give `sql_spark`")
    fields = _sort_key_fields(order, where) if order is not None else []
    struct = exp.func("named_struct", *fields, exp.Literal.string("v"), value.copy())
    collect = exp.func("collect_set" if distinct else "collect_list", struct)
    counted = exp.Count(this=exp.Star())
    if condition is not None:
        collect = exp.Filter(this=collect, expression=exp.Where(this=condition.copy()))
        counted = exp.Filter(this=counted, expression=exp.Where(this=condition.copy()))
    if order is not None:
        collect = exp.func("array_sort", collect)
    lam = exp.Lambda(this=exp.Dot(this=exp.column("__s"), expression=exp.to_identifier("v")),
                     expressions=[exp.to_identifier("__s")])
    values = exp.func("transform", collect, lam)
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=counted, expression=exp.Literal.number(0)),
                                true=exp.Null())], default=values)


def _rewrite_lists(tree: exp.Expression, where: str) -> exp.Expression:
    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
            return _ordered_list(node.this, node.expression.this, where)
        if isinstance(node, exp.ArrayAgg) and not isinstance(node.parent, exp.Filter):
            return _ordered_list(node, None, where)
        return node

    return tree.transform(rewrite)


def translate_duckdb_sql(sql: str, where: str = "rule") -> str:
    """A rule's DuckDB SQL as Spark SQL with the same meaning, or SparkTranslationError.
    ``$name`` placeholders become ``:name``; ``?`` become ``:p1``, ``:p2`` ..."""
    try:
        tree = sqlglot.parse_one(_number_placeholders(sql, "duckdb"), read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise SparkTranslationError(f"{where}: sqlglot cannot parse the SQL: {exc}") from None
    _check_exact(tree, where)
    tree = _rewrite_lists(tree, where)
    tree = _lower_like_duckdb(tree)
    tree = expand_macros(tree)
    return tree.sql("spark")


def prepare_spark_sql(sql: str, where: str = "rule") -> str:
    """Per-engine Spark SQL (a rule's ``sql_spark``): placeholders named and KQL helpers
    expanded; nothing else is changed."""
    try:
        tree = sqlglot.parse_one(_number_placeholders(sql, "spark"), read="spark")
    except sqlglot.errors.SqlglotError as exc:
        raise SparkTranslationError(f"{where}: key 'sql_spark': cannot parse: {exc}") from None
    return expand_macros(tree).sql("spark")


# --- running ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SparkQuery:
    sql: str  # Spark SQL with :name placeholders
    args: dict[str, Any]  # placeholder name -> bound value
    origin: str  # "sql_spark" (per-engine SQL in the rule) or "translated" (from `sql`)


def spark_query(rule: Rule, params: Mapping[str, Any], now: datetime | None = None
                ) -> SparkQuery:
    """The Spark SQL for a rule: its per-engine ``sql_spark`` when it has one, else its
    DuckDB ``sql`` (or compiled KQL) translated with sqlglot; SparkTranslationError when
    neither can be had exactly."""
    where = f"{rule.source_path}: rule {rule.slug}"
    per_engine = rule.extra.get("sql_spark")
    if per_engine is not None:
        if not isinstance(per_engine, str) or not per_engine.strip():
            raise SparkTranslationError(f"{where}: key 'sql_spark' must be non-empty text")
        sql, origin, values = prepare_spark_sql(per_engine, where), "sql_spark", params
    elif rule.sql is not None:
        sql, origin, values = translate_duckdb_sql(rule.sql, where), "translated", params
    else:
        from engine.kql import compile_kql  # only KQL-only rules need the compiler
        from engine.kql.pervalue import never

        # Per row, as written: the per-distinct-value form is DuckDB's (measured there only).
        compiled = compile_kql(rule.query, now=now, per_value=never)
        sql, origin = translate_duckdb_sql(compiled.sql, where), "translated"
        values = {f"p{i}": v for i, v in enumerate(compiled.params, start=1)}
    args = {}
    for name in _placeholder_names(sql):
        if name not in values:
            raise SparkTranslationError(f"{where}: the Spark SQL uses :{name}, which is not a "
                                        "parameter of the rule")
        args[name] = values[name]
    return SparkQuery(sql, args, origin)


def spark_session(master: str | None = None):
    """The active Spark session (inside spark-submit or a notebook), else a new one.

    ``master`` (or ``EXHUNT_SPARK_MASTER``) picks the cluster (``spark://host:7077``,
    ``yarn``, ``k8s://...``); without either, ``local[*]`` on this machine. Everything else
    (object-store credentials, executor sizes) comes from Spark's own configuration
    (``SPARK_CONF_DIR``/spark-defaults.conf, ``PYSPARK_SUBMIT_ARGS``), as for any Spark job.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable("the Spark engine needs pyspark: pip install 'exhunt[spark]' "
                               "(and Java 17 or later)") from exc
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        _configure(active)
        return active
    master = master or os.environ.get("EXHUNT_SPARK_MASTER") or "local[*]"
    builder = SparkSession.builder.appName("exhunt").master(master)
    for key, value in _SESSION_CONF.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing or too old, cluster unreachable ...
        raise SparkUnavailable(f"cannot start Spark ({master}): "
                               f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    _configure(session)
    return session


class SparkUnavailable(HuntEngineError):
    """pyspark or Java is missing, or the Spark master cannot be reached."""


# Why each setting: the tables hold naive UTC wall-clock times (TIMESTAMP_NTZ in Spark), and
# parameters such as --now arrive as naive UTC datetimes, which Spark reads in the session
# zone; the console progress bar would garble stdout/stderr of a headless command.
_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}


def _configure(session) -> None:
    for key, value in _SESSION_CONF.items():
        try:
            session.conf.set(key, value)
        except Exception:  # static settings of an already running session: keep theirs
            pass


_SPARK_TYPES = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ", "INTEGER": "INT",
                "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN"}


def _glob_escape(path: str) -> str:
    """Spark reads every path as a Hadoop glob: keep folder names with glob characters
    literal."""
    return re.sub(r"([\\{}\[\]*?])", r"\\\1", path)


def case_table_locations(case_path: Path | str, spark=None) -> dict[str, list[str]]:
    """The Parquet files (or globs) of each table of a case, as its manifest names them.

    A local case folder gives the exact files engine.case reads. A URI (``s3a://bucket/
    cases/x``, ``abfss://...``, ``hdfs://...``: a copy of the case folder) is read through
    ``spark`` itself, so no object-store client is needed here: the manifest names each
    evidence file's data folder, and the layout below it is engine/case.py's."""
    text = str(case_path)
    if "://" in text:
        if spark is None:
            raise ValueError(f"{text}: reading a case by URI needs a Spark session")
        return _remote_locations(spark, text)
    from engine.case import Case  # the case module owns the layout

    case = Case(Path(text))
    if not (case.path / "manifest.json").is_file():
        raise FileNotFoundError(f"{case.path}: not an exhunt case (no manifest.json)")
    return {name: [_glob_escape(str(f)) for f in case.data_files(name)] for name in TABLES}


def _remote_locations(spark, uri: str) -> dict[str, list[str]]:
    root = uri.rstrip("/")
    lines = spark.read.text(f"{root}/manifest.json", wholetext=True).collect()
    manifest = json.loads(lines[0][0]) if lines else {}
    out: dict[str, list[str]] = {name: [] for name in TABLES}
    for entry in manifest.get("files", {}).values():
        data, table = entry.get("data"), entry.get("table")
        # A file that gave no rows has no Parquet file, and Spark fails on a glob that
        # matches nothing.
        if not data or table not in out or not entry.get("rows"):
            continue
        folder = f"{root}/{_glob_escape(data)}/{table}"
        out[table].append(f"{folder}/kind=rows/host=*/day=*/*.parquet"
                          if table == "W3CIISLog" else f"{folder}/*.parquet")
    return out


def register_tables(spark, locations: Mapping[str, Sequence[str]]) -> None:
    """Temporary views ``W3CIISLog`` and ``SecurityAlert`` over Parquet files (paths or
    globs, local or any URI Spark reads), with exactly engine/tables.py's KQL columns and
    types. The files carry every column (the case's host=/day= folders only sort them), so
    partition discovery is switched off; a column missing from the files reads as KQL's
    empty value ('' for strings), and a table without files is empty."""
    for table in TABLES.values():
        paths = list(locations.get(table.name) or [])
        present: set[str] = set()
        df = None
        if paths:
            # One schema for all files, as engine/case.py's DuckDB view assumes too.
            df = spark.read.option("recursiveFileLookup", "true").parquet(*paths)
            present = set(df.columns)
        selects = []
        for col in table.kql_columns:
            spark_type = _SPARK_TYPES[col.sql_type]
            if col.name in present:
                value = f"CAST(`{col.name}` AS {spark_type})"
                if col.is_string:  # KQL strings are never null
                    value = f"coalesce({value}, '')"
            else:
                value = "''" if col.is_string else f"CAST(NULL AS {spark_type})"
            selects.append(f"{value} AS `{col.name}`")
        if df is None:
            view = spark.sql(f"SELECT {', '.join(selects)} WHERE false")
        else:
            view = df.selectExpr(*selects)
        view.createOrReplaceTempView(table.name)


def _coverage_notes(case_path: Path | str, rule: Rule, params: Mapping[str, Any]
                    ) -> list[CoverageNote]:
    if not rule.coverage:
        return []
    if "://" in str(case_path):
        return [CoverageNote("coverage-not-computed", 0,
                             "coverage checks run with DuckDB on a local case folder; "
                             "this run read a remote copy, so they were not computed")]
    from engine import coverage
    from engine.case import Case

    con = Case(Path(case_path)).connect()
    try:
        return coverage.run_checks(con, rule.coverage, dict(params), nameable_checks(rule.checks))
    finally:
        con.close()


def run_rules_spark(case_path: Path | str, rules: Sequence[Rule],
                    overrides: Mapping[str, Any] | None = None, *, spark=None,
                    now: datetime | None = None) -> list[HuntRun]:
    """Run ``rules`` on Spark over the case's Parquet tables: the same HuntRun (columns,
    findings with the same stable ids, coverage notes) ``engine.hunts.run_rules`` gives.

    ``case_path`` is the case folder, or a URI of a copy of it in object storage. Coverage
    notes are computed by DuckDB over the same files when the case is a local folder (they
    are cheap scans); for a remote copy a note says they were not computed.
    """
    spark = spark or spark_session()
    register_tables(spark, case_table_locations(case_path, spark))
    per_rule = split_overrides(rules, overrides or {})
    runs = []
    for rule in rules:
        run = run_rule_on_views(spark, rule, per_rule[rule.id], now=now)
        run.notes = _coverage_notes(case_path, rule, run.parameters)
        runs.append(run)
    return runs


def run_rule_on_views(spark, rule: Rule, overrides: Mapping[str, Any] | None = None, *,
                      now: datetime | None = None) -> HuntRun:
    """One rule over the session's ``W3CIISLog``/``SecurityAlert`` views (see
    register_tables): its findings, without coverage notes."""
    params = resolve_parameters(rule, overrides)
    started = time.perf_counter()
    query = spark_query(rule, params, now)
    try:
        df = spark.sql(query.sql, args=query.args)
        columns = list(df.columns)
        rows = df.collect()
    except Exception as exc:  # AnalysisException, Py4JJavaError ...: keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise RuleError(f"{rule.source_path}: rule {rule.slug}: the Spark query "
                        f"({query.origin}) failed: {first}") from exc
    values = [[_python_value(v) for v in row] for row in rows]
    key_columns = rule.key_columns or derive_key_columns(
        columns, list_columns={c for i, c in enumerate(columns)
                               if any(isinstance(r[i], (list, dict)) for r in values)})
    findings = stable_order(rule, findings_from_rows(rule, columns, values, key_columns))
    return HuntRun(rule_id=rule.id, rule_slug=rule.slug, rule_name=rule.name,
                   columns=columns, findings=findings, parameters=params,
                   elapsed_s=time.perf_counter() - started)


def _python_value(value: Any) -> Any:
    """A collected Spark value as DuckDB's Python client gives it (lists, not Rows)."""
    if isinstance(value, (list, tuple)):
        return [_python_value(v) for v in value]
    return value


# --- command line (for spark-submit on a cluster) ------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``spark-submit engine/spark.py CASE [--rule R]... [--set N=V]...`` (or ``python -m
    engine.spark``): run the hunts on the Spark cluster spark-submit points at, over a case
    folder or a copy of it in object storage, printing one JSON line per finding as
    ``exhunt hunt --format jsonl`` does. Coverage notes go to stderr."""
    import argparse
    import sys

    from engine.jsonvalues import to_json_value
    from engine.rules import find_rule, load_rules, parse_assignments

    parser = argparse.ArgumentParser(prog="engine.spark", description=main.__doc__)
    parser.add_argument("case", help="case folder, or its copy's URI (s3a://, abfss://, hdfs://)")
    parser.add_argument("--rule", action="append", default=[], metavar="ID|SLUG")
    parser.add_argument("--set", action="append", default=[], dest="assignments",
                        metavar="NAME=VALUE")
    parser.add_argument("--rules", action="append", default=[], type=Path, metavar="DIR")
    parser.add_argument("--master", default=None,
                        help="Spark master (default: spark-submit's, else local[*])")
    args = parser.parse_args(argv)
    try:
        rules = load_rules(args.rules)
        if args.rule:
            rules = list({r.id: r for r in (find_rule(rules, x) for x in args.rule)}.values())
        runs = run_rules_spark(args.case, rules, parse_assignments(args.assignments),
                               spark=spark_session(args.master))
    except (RuleError, SparkTranslationError, SparkUnavailable, FileNotFoundError) as exc:
        print(f"engine.spark: {exc}", file=sys.stderr)
        return 2
    for run in runs:
        for f in run.findings:
            print(json.dumps({"rule": run.rule_id, "finding": f.finding_id,
                              "row": to_json_value(f.row)}, ensure_ascii=False))
        for note in run.notes:
            if note.count:
                print(f"note [{run.rule_slug}] {note.code}: {note.message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
