"""Running hunt rules over a case's tables: findings with stable ids, plus coverage notes.

``run_rule`` executes the rule's SQL (or its KQL, compiled at run time) on a connection
whose ``W3CIISLog``/``SecurityAlert`` relations follow engine/tables.py, binds the rule's
parameters as ``$name`` values, and turns every output row into a Finding whose id comes
from the rule id and the row's key columns only.

The JSON macros below complete engine/kql_functions.py for KQL's ``dynamic`` values as the
hunts use them (``parse_json`` validity, ``tostring``/``isnotempty`` of a property, ``==``
on a property). They are installed next to the shared macros.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import duckdb

from engine import coverage, kql_functions
from engine.findings import Finding, HuntRun, finding_id
from engine.presentation import Presentation, default_presentation
from engine.rules import Rule, RuleError, nameable_checks, resolve_parameters, sql_placeholders

# KQL's JSON accepts only json.org JSON. DuckDB's json_valid also accepts trailing commas
# and NaN/Infinity; both can only appear outside string literals, so when the fast test
# sees a candidate, every string literal is replaced by a number and the text is looked at
# again (removing them outright would turn ["a", "b"] into the trailing comma [, ]).
_LENIENT = r"'(,[ \t\n\r]*[\]}])|[Nn][Aa][Nn]|[Ii][Nn][Ff]'"
_STRING_LITERAL = r"""'"(?:[^"\\]|\\.)*"'"""

HUNT_MACROS: dict[str, tuple[str, str]] = {
    # parse_json(s) gives a JSON value (not the string itself) exactly when this is true.
    # "" is not JSON (parse_json gives null); invalid text stays a string.
    "kql_json_is_valid": (
        "s",
        f"CASE WHEN NOT coalesce(json_valid(s), false) THEN false "
        f"WHEN NOT regexp_matches(s, {_LENIENT}) THEN true "
        f"ELSE NOT regexp_matches(regexp_replace(s, {_STRING_LITERAL}, '0', 'g'), {_LENIENT}) "
        f"END",
    ),
    # `x.Key == "text"` on a dynamic x: true only for a JSON string equal to the text
    # (case-sensitive); a missing key is null and null == "text" is false.
    "kql_json_string_equals": (
        "j, path, value",
        "coalesce(json_type(j, path) = 'VARCHAR' AND json_extract_string(j, path) = value, "
        "false)",
    ),
    # isnotempty(x.Key): a missing key or JSON null is empty, so is the string "";
    # [] and {} are not empty (KQL's isempty() documentation), nor is a number.
    "kql_json_isnotempty": (
        "j, path",
        "coalesce(json_type(j, path) <> 'NULL', false) AND NOT coalesce("
        "json_type(j, path) = 'VARCHAR' AND json_extract_string(j, path) = '', false)",
    ),
    # tostring(x.Key): a string's text without quotes; null or missing -> ""; true/false;
    # an integral real as an integer (KQL prints 118.0 as 118); arrays and bags as compact
    # JSON text.
    "kql_json_tostring": (
        "j, path",
        "CASE json_type(j, path) "
        "WHEN 'VARCHAR' THEN json_extract_string(j, path) "
        "WHEN 'NULL' THEN '' "
        "WHEN 'DOUBLE' THEN CASE "
        "  WHEN isfinite(TRY_CAST(json_extract_string(j, path) AS DOUBLE)) "
        "   AND TRY_CAST(json_extract_string(j, path) AS DOUBLE) "
        "       = trunc(TRY_CAST(json_extract_string(j, path) AS DOUBLE)) "
        "   AND abs(TRY_CAST(json_extract_string(j, path) AS DOUBLE)) < 1e15 "
        "  THEN CAST(CAST(TRY_CAST(json_extract_string(j, path) AS DOUBLE) AS BIGINT) AS VARCHAR) "
        "  ELSE CAST(TRY_CAST(json_extract_string(j, path) AS DOUBLE) AS VARCHAR) END "
        "ELSE coalesce(CAST(json_extract(j, path) AS VARCHAR), '') END",
    ),
}


def install(con: duckdb.DuckDBPyConnection) -> None:
    """The shared KQL macros plus the hunts' JSON macros, on this connection."""
    kql_functions.install(con)
    kql_functions.install_macros(con, HUNT_MACROS)


def ensure_installed(con: duckdb.DuckDBPyConnection) -> None:
    """install() unless every macro is already there (re-creating them costs more than a
    small hunt)."""
    wanted = [*kql_functions.MACROS, *HUNT_MACROS]
    present = con.execute(
        "SELECT count(DISTINCT function_name) FROM duckdb_functions() "
        "WHERE function_name IN (SELECT unnest(?::VARCHAR[]))", [wanted]).fetchone()[0]
    if present != len(wanted):
        install(con)


def run_rule(con: duckdb.DuckDBPyConnection, rule: Rule,
             overrides: Mapping[str, Any] | None = None, *,
             now: datetime | None = None) -> HuntRun:
    """Run one rule: every output row becomes a Finding; the rule's coverage checks add
    notes. Raises RuleError for bad overrides, a KQL rule that does not compile, or SQL
    whose output lacks the rule's columns."""
    params = resolve_parameters(rule, overrides)
    started = time.perf_counter()
    ensure_installed(con)
    sql, bound, compiled = _executable(rule, params, now)
    if compiled is not None:
        _ensure_compiler_macros(con)
    try:
        cursor = con.execute(sql, bound)
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise RuleError(f"{rule.source_path}: rule {rule.slug}: the query failed: "
                        f"{str(exc).splitlines()[0]}") from exc
    list_columns = {c for c, t in zip(columns, types) if _is_list_type(t)}
    group_by: Sequence[str] = ()
    if compiled is not None:
        # The compiler hands dynamic values over as JSON text; findings hold them as the
        # hand-written SQL's do (lists, not text), so both kinds of rule look alike.
        dynamic = [i for i, t in enumerate(compiled.types) if t == "dynamic"]
        list_columns |= {columns[i] for i in dynamic}
        if dynamic:
            rows = [_decode_json(row, dynamic) for row in rows]
        group_by = compiled.group_by
    key_columns = rule.key_columns or derive_key_columns(columns, group_by, list_columns)
    findings = findings_from_rows(rule, columns, rows, key_columns)
    notes = coverage.run_checks(con, rule.coverage, params, nameable_checks(rule.checks))
    return HuntRun(rule_id=rule.id, rule_slug=rule.slug, rule_name=rule.name,
                   columns=columns, findings=findings, notes=notes, parameters=params,
                   elapsed_s=time.perf_counter() - started)


def findings_from_rows(rule: Rule, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                       key_columns: Sequence[str] | None = None) -> list[Finding]:
    """Each output row as a Finding whose id comes from the rule id and its key columns
    (``key_columns``, default the rule's own). Raises RuleError when the output does not
    have the columns the rule says, or lacks a key column."""
    columns = list(columns)
    if rule.columns and tuple(columns) != rule.columns:
        raise RuleError(f"{rule.source_path}: key 'columns': the query returns "
                        f"{columns}, the rule says {list(rule.columns)}")
    keys = list(rule.key_columns if key_columns is None else key_columns)
    missing = [k for k in keys if k not in columns]
    if missing:
        raise RuleError(f"{rule.source_path}: key 'key_columns': {missing} not among the "
                        f"query's output columns {columns}")
    key_index = [columns.index(k) for k in keys]
    findings = []
    for values in rows:
        key = tuple(values[i] for i in key_index)
        findings.append(Finding(rule.id, finding_id(rule.id, key),
                                dict(zip(columns, values)), key))
    return findings


def derive_key_columns(columns: Sequence[str], group_by: Sequence[str] = (),
                       list_columns: Collection[str] = ()) -> tuple[str, ...]:
    """The key of a rule that names none: the ``by`` columns of its last summarize when
    they all reach the output (a finding keeps its id when more evidence grows its
    counts), else every output column that does not hold a list (lists grow with
    evidence and are no identity)."""
    if group_by and all(c in columns for c in group_by):
        return tuple(group_by)
    return tuple(c for c in columns if c not in list_columns)


def rule_key_columns(rule: Rule, types: Mapping[str, str]) -> tuple[str, ...]:
    """The rule's key columns, or the derived ones (derive_key_columns) for a rule that
    names none, given its output column -> DuckDB type (import_results.output_types)."""
    if rule.key_columns:
        return rule.key_columns
    lists = {c for c, t in types.items() if _is_list_type(t)}
    group_by: Sequence[str] = ()
    if rule.sql is None:
        compiled = _executable(rule, {}, None)[2]
        group_by = compiled.group_by
        lists |= {c for c, t in zip(compiled.columns, compiled.types) if t == "dynamic"}
    return derive_key_columns(list(types), group_by, lists)


def _is_list_type(duckdb_type: str) -> bool:
    return duckdb_type.endswith("]") or duckdb_type.startswith(("STRUCT", "MAP", "JSON"))


def _decode_json(row: Sequence[Any], indexes: Sequence[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in indexes:
        if isinstance(values[i], str):
            values[i] = json.loads(values[i])
    return tuple(values)


def _ensure_compiler_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The KQL compiler's own macros (kqlx_*), once per connection: compiled SQL calls
    them and the shared set does not hold them."""
    from engine.kql import install as install_compiler_macros, installed
    if not installed(con):
        install_compiler_macros(con)


class HuntEngineError(Exception):
    """The chosen engine cannot run the hunts (not installed, or a rule it cannot run with
    DuckDB's exact meaning); the message says what to do."""


def run_hunts(con: duckdb.DuckDBPyConnection | None, case_path: Path | str,
              rules: Sequence[Rule], overrides: Mapping[str, Any] | None = None, *,
              now: datetime | None = None, engine: str = "duckdb") -> list[HuntRun]:
    """Every hunt of a case, as the console, ``exhunt hunt``, ``mark`` and ``export`` see
    them: ``rules`` run on the case (DuckDB over ``con``, or Spark over the case's Parquet),
    combined with the results imported from Log Analytics for those rules, each run carrying
    its rule and its console presentation."""
    # Imported here: engine.import_results builds on this module's findings_from_rows.
    from engine.import_results import combine_runs, imported_runs
    if engine == "spark":
        try:
            from engine.spark import run_rules_spark
        except ImportError as exc:  # sqlglot and pyspark are the optional `spark` extra
            raise HuntEngineError(f"the Spark engine needs the spark extra: pip install "
                                  f"'exhunt[spark]' ({exc})") from exc
        local = run_rules_spark(case_path, rules, overrides, now=now)
    elif con is None:
        raise ValueError("run_hunts needs a DuckDB connection unless engine='spark'")
    else:
        local = run_rules(con, rules, overrides, now=now)
    runs = combine_runs(local, imported_runs(Path(case_path), rules))
    by_id = {rule.id: rule for rule in rules}
    for run in runs:
        run.rule = by_id.get(run.rule_id)
        run.presentation = presentation_of(run)
    return runs


def presentation_of(run: HuntRun) -> Presentation:
    """How the console shows ``run``: what its rule declares, else derived from its output
    columns and Sentinel entity mappings."""
    rule = run.rule
    if rule is not None and rule.console is not None:
        return rule.console
    return default_presentation(run.rule_name, run.columns, [f.row for f in run.findings],
                                rule.entity_mappings if rule is not None else ())


def run_rules(con: duckdb.DuckDBPyConnection, rules: Sequence[Rule],
              overrides: Mapping[str, Any] | None = None, *,
              now: datetime | None = None) -> list[HuntRun]:
    """Run several rules. An override ``name`` applies to every rule declaring that
    parameter; ``slug.name`` to one rule. An override no selected rule takes is an error
    (a typo must not silently run the defaults)."""
    per_rule = split_overrides(rules, overrides or {})
    return [run_rule(con, rule, per_rule[rule.id], now=now) for rule in rules]


def split_overrides(rules: Sequence[Rule], overrides: Mapping[str, Any]
                    ) -> dict[str, dict[str, Any]]:
    per_rule: dict[str, dict[str, Any]] = {r.id: {} for r in rules}
    for name, value in overrides.items():
        used = False
        slug, dot, pname = name.rpartition(".")
        for rule in rules:
            names = {p.name for p in rule.parameters}
            if dot and slug in (rule.slug, rule.id.lower()) and pname in names:
                per_rule[rule.id][pname] = value
                used = True
            elif not dot and name in names:
                per_rule[rule.id][name] = value
                used = True
        if not used:
            known = sorted({f"{r.slug}.{p.name}" for r in rules for p in r.parameters})
            raise RuleError(f"--set {name}: no selected rule has this parameter; "
                            f"parameters: {', '.join(known) or 'none'}")
    return per_rule


def _executable(rule: Rule, params: Mapping[str, Any], now: datetime | None
                ) -> tuple[str, Any, Any]:
    """The SQL to run, its bound values, and the CompiledQuery when it came from the KQL
    (None for hand-written SQL)."""
    if rule.sql is not None:
        return rule.sql, {name: params[name] for name in sql_placeholders(rule.sql)}, None
    try:
        from engine.kql import compile_kql  # written in parallel; imported only when needed
    except ImportError as exc:
        raise RuleError(f"{rule.source_path}: rule {rule.slug} has no `sql` and the KQL "
                        f"compiler is not available: {exc}") from exc
    try:
        compiled = compile_kql(rule.query, now=now)
    except Exception as exc:  # KqlError and anything the compiler did not foresee
        raise RuleError(f"{rule.source_path}: key 'query': cannot compile the KQL: "
                        f"{exc}") from exc
    return compiled.sql, list(compiled.params), compiled
