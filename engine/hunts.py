"""Running hunt rules over a case's tables: findings with stable ids, plus coverage notes.

``run_rule`` executes the rule's SQL (or its KQL, compiled at run time) on a connection
whose ``W3CIISLog``/``SecurityAlert`` relations follow engine/tables.py, binds the rule's
parameters as ``$name`` values, and turns every output row into a Finding whose id comes
from the rule id and the row's key columns only.

Every KQL macro the SQL calls (the hunts' JSON ones too) lives in engine/kql_functions.py;
``install``/``ensure_installed`` here are the same functions, kept under these names.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import duckdb

from engine import coverage, kql_functions
from engine.findings import CoverageNote, Finding, HuntRun, finding_id
from engine.kql import QueryFailed, compile_kql, execute_within_memory
from engine.kql.pervalue import PerValuePolicy, sampled
from engine.presentation import Presentation, default_presentation
from engine.rules import Rule, RuleError, nameable_checks, resolve_parameters, sql_placeholders

# Names callers of this module use; the one macro registry is engine/kql_functions.py.
HUNT_MACROS = kql_functions.JSON_MACROS
install = kql_functions.install
ensure_installed = kql_functions.ensure_installed


def run_rule(con: duckdb.DuckDBPyConnection, rule: Rule,
             overrides: Mapping[str, Any] | None = None, *,
             now: datetime | None = None, per_value: PerValuePolicy | None = None) -> HuntRun:
    """Run one rule: every output row becomes a Finding; the rule's coverage checks add
    notes. Raises RuleError for bad overrides, a KQL rule that does not compile, or SQL
    whose output lacks the rule's columns. ``per_value``: which table columns a KQL rule's
    costly where tests are made once per distinct value of (engine.kql.pervalue; default:
    those whose first values on ``con`` repeat)."""
    params = resolve_parameters(rule, overrides)
    started = time.perf_counter()
    ensure_installed(con)  # the one registry holds the compiler's macros too
    if per_value is None and rule.sql is None:
        per_value = sampled(con)
    sql, bound, compiled = _executable(rule, params, now, per_value)
    try:
        if compiled is None:
            cursor = con.execute(sql, bound)
            described = [(d[0], str(d[1])) for d in cursor.description]
            rows = cursor.fetchall()
        else:  # per row instead where the per-value lists overflow DuckDB's memory
            compiled, described, rows = execute_within_memory(con, compiled, rule.query,
                                                              per_value)
    except (duckdb.Error, QueryFailed) as exc:
        raise RuleError(f"{rule.source_path}: rule {rule.slug}: the query failed: "
                        f"{str(exc).splitlines()[0]}") from exc
    columns = [name for name, _ in described]
    types = [ktype for _, ktype in described]
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
    findings = stable_order(rule, findings_from_rows(rule, columns, rows, key_columns))
    notes = coverage.run_checks(con, rule.coverage, params, nameable_checks(rule.checks))
    # What the compiler had to leave out (a fuzzy union leg over a table exhunt does not
    # have, a column it does not record) is a blind spot of this run like any other.
    notes += [CoverageNote(KQL_NOTE, 1, note) for note in (compiled.notes if compiled else ())]
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


def stable_order(rule: Rule, findings: list[Finding]) -> list[Finding]:
    """A KQL-only rule's findings in key order unless its KQL sorts its output: without a
    sort KQL's row order is unspecified, and a list that reshuffles on every re-run loses
    the analyst's place. Hand-written SQL orders its own rows."""
    if rule.sql is not None or kql_sorts_its_output(rule.query):
        return findings
    return sorted(findings, key=lambda f: [(v is None, str(v)) for v in f.key])


def kql_sorts_its_output(query: str) -> bool:
    """True when the query's last sort/top is followed only by operators that keep row
    order (where, extend, project..., take)."""
    from engine.kql import ast as A
    from engine.kql.parser import parse
    from engine.tables import TABLES
    try:
        operators = parse(query, frozenset(TABLES)).body.operators
    except Exception:  # the compiler reports a bad query; here it just is not sorted
        return False
    keeps_order = (A.Where, A.Extend, A.Project, A.ProjectAway, A.ProjectKeep,
                   A.ProjectReorder, A.ProjectRename, A.Take, A.Serialize)
    for op in reversed(operators):
        if isinstance(op, (A.Sort, A.Top)):
            return True
        if not isinstance(op, keeps_order):
            return False
    return False


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


KQL_NOTE = "kql-compiler-note"  # code of the notes the KQL compiler leaves on a run
FAILED_NOTE = "hunt-failed"  # code of the note a run that could not run carries


class HuntEngineError(Exception):
    """The chosen engine cannot run the hunts (not installed, or a rule it cannot run with
    DuckDB's exact meaning); the message says what to do."""


# Called before each rule runs with (rules done, rules in all, the rule about to run).
RuleProgress = Callable[[int, int, Rule], None]
# Called with each hunt's run as soon as it is complete (its rule and presentation attached).
HuntFinished = Callable[[HuntRun], None]


def run_hunts(con: duckdb.DuckDBPyConnection | None, case_path: Path | str,
              rules: Sequence[Rule], overrides: Mapping[str, Any] | None = None, *,
              now: datetime | None = None, engine: str = "duckdb",
              on_rule: RuleProgress | None = None,
              on_run: HuntFinished | None = None,
              keep_going: bool = False) -> list[HuntRun]:
    """Every hunt of a case, as the console, ``exhunt hunt``, ``mark`` and ``export`` see
    them: ``rules`` run on the case (DuckDB over ``con``, or Spark over the case's Parquet),
    combined with the results imported from Log Analytics for those rules, each run carrying
    its rule and its console presentation, in the order of ``rules``.

    ``on_rule`` hears of each rule as it starts (DuckDB only); ``on_run`` gets each run as
    soon as it is complete, so a console can show the first hunts while the others run
    (on Spark, where the rules run as one job, all at the end).

    A rule whose query fails raises RuleError, unless ``keep_going``: then its run has no
    findings, ``failed`` set and a ``hunt-failed`` note, and the other rules still run (one
    dropped-in rule with a bad regular expression must not hide every other hunt). DuckDB
    only; callers that must not miss findings (mark, export) leave it off."""
    # Imported here: engine.import_results builds on this module's findings_from_rows.
    from engine.import_results import combine_runs, imported_runs

    def complete(local: list[HuntRun], of_rules: Sequence[Rule]) -> list[HuntRun]:
        runs = combine_runs(local, imported_runs(Path(case_path), of_rules))
        for run in runs:
            run.rule = by_id.get(run.rule_id)
            run.presentation = presentation_of(run)
            if on_run is not None:
                on_run(run)
        return runs

    by_id = {rule.id: rule for rule in rules}
    if engine == "spark":
        return complete(_run_on_spark(con, case_path, rules, overrides, now), rules)
    if con is None:
        raise ValueError("run_hunts needs a DuckDB connection unless engine='spark'")
    if on_rule is None and on_run is None and not keep_going:
        # Called in its original shape when nobody listens, so stand-ins of run_rules
        # with that shape (tests/dispositions) still fit.
        return complete(run_rules(con, rules, overrides, now=now), rules)
    # One rule at a time, each completed (imports merged) before the next starts. Imports
    # are per rule, so this gives the same runs as completing them all at the end.
    per_rule = split_overrides(rules, overrides or {})
    per_value = sampled(con)  # one look at each column for all the rules, as run_rules
    runs: list[HuntRun] = []
    for done, rule in enumerate(rules):
        if on_rule is not None:
            on_rule(done, len(rules), rule)
        try:
            run = run_rule(con, rule, per_rule[rule.id], now=now, per_value=per_value)
        except RuleError as exc:
            if not keep_going:
                raise
            # A bad --set value is the caller's mistake, not the rule's: it raises here.
            run = failed_run(rule, resolve_parameters(rule, per_rule[rule.id]), str(exc))
        runs += complete([run], [rule])
    return runs


def failed_run(rule: Rule, params: Mapping[str, Any], why: str) -> HuntRun:
    """The run of a rule that could not run: no findings, and a note saying why."""
    return HuntRun(rule_id=rule.id, rule_slug=rule.slug, rule_name=rule.name,
                   columns=list(rule.columns or ()), parameters=dict(params),
                   notes=[CoverageNote(FAILED_NOTE, 1, f"this hunt did not run: {why}")],
                   failed=why)


def _run_on_spark(con: duckdb.DuckDBPyConnection | None, case_path: Path | str,
                  rules: Sequence[Rule], overrides: Mapping[str, Any] | None,
                  now: datetime | None) -> list[HuntRun]:
    """``rules`` on Spark; those with no exact Spark translation (KQL-only rules calling
    compiler functions sqlglot cannot carry over exactly) run on DuckDB over the same case
    instead, with a note saying so, so that asking for Spark never loses a hunt."""
    try:
        from engine.spark import SparkTranslationError, run_rules_spark, spark_query
    except ImportError as exc:  # sqlglot and pyspark are the optional `spark` extra
        raise HuntEngineError(f"the Spark engine needs the spark extra: pip install "
                              f"'exhunt[spark]' ({exc})") from exc
    per_rule = split_overrides(rules, overrides or {})
    on_duckdb: dict[str, str] = {}
    if con is not None:
        for rule in rules:
            try:
                spark_query(rule, resolve_parameters(rule, per_rule[rule.id]), now)
            except SparkTranslationError as exc:
                on_duckdb[rule.id] = str(exc)
    on_spark = [r for r in rules if r.id not in on_duckdb]
    runs = {run.rule_id: run for run in run_rules_spark(
        case_path, on_spark,
        {f"{r.slug}.{k}": v for r in on_spark for k, v in per_rule[r.id].items()}, now=now)}
    for rule in rules:
        if rule.id in on_duckdb:
            run = run_rule(con, rule, per_rule[rule.id], now=now)
            run.notes.append(CoverageNote(
                "ran-on-duckdb", 1, f"ran on DuckDB, not Spark (no exact Spark translation): "
                                    f"{on_duckdb[rule.id]}"))
            runs[rule.id] = run
    return [runs[rule.id] for rule in rules]


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
              now: datetime | None = None,
              on_rule: RuleProgress | None = None) -> list[HuntRun]:
    """Run several rules. An override ``name`` applies to every rule declaring that
    parameter; ``slug.name`` to one rule. An override no selected rule takes is an error
    (a typo must not silently run the defaults). ``on_rule`` hears of each rule as it
    starts (a 10 GB case takes minutes for twelve hunts: the console says which runs)."""
    per_rule = split_overrides(rules, overrides or {})
    per_value = sampled(con)  # one look at each column for all the rules
    runs = []
    for done, rule in enumerate(rules):
        if on_rule is not None:
            on_rule(done, len(rules), rule)
        runs.append(run_rule(con, rule, per_rule[rule.id], now=now, per_value=per_value))
    return runs


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


def _executable(rule: Rule, params: Mapping[str, Any], now: datetime | None,
                per_value: PerValuePolicy | None = None) -> tuple[str, Any, Any]:
    """The SQL to run, its bound values, and the CompiledQuery when it came from the KQL
    (None for hand-written SQL), the KQL's costly where tests evaluated once per distinct
    value as ``per_value`` says (engine.kql.pervalue; default: for every column)."""
    if rule.sql is not None:
        return rule.sql, {name: params[name] for name in sql_placeholders(rule.sql)}, None
    try:
        compiled = compile_kql(rule.query, now=now, per_value=per_value)
    except Exception as exc:  # KqlError and anything the compiler did not foresee
        raise RuleError(f"{rule.source_path}: key 'query': cannot compile the KQL: "
                        f"{exc}") from exc
    return compiled.sql, list(compiled.params), compiled
