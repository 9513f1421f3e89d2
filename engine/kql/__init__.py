"""KQL to DuckDB: run Sentinel hunting queries verbatim on exhunt's tables.

Stages, as in sqlglot: :mod:`tokenizer` -> :mod:`parser` (syntax tree in :mod:`ast`) ->
:mod:`semantic` (tables, column types, KQL's naming rules) -> :mod:`generator` (one DuckDB
SELECT, values bound as parameters). Run the SQL on a connection where :func:`install` ran
(engine.kql_functions' one macro registry, the compiler's kqlx_* macros included).

A costly ``where`` test of one column (``ipv4_is_private(cIP) == false``, ``matches regex``,
``has``...) is evaluated once per distinct value of the table column rather than per row,
when the ``per_value`` policy says it pays (:mod:`pervalue`; :func:`pervalue.sampled` looks
at the data, which the runners pass; without one, always).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from engine.kql_functions import install, installed
from engine.tables import TABLES

from .errors import KqlError, QueryFailed
from .generator import Generator
from .parser import parse
from .pervalue import PerValuePolicy, never

__all__ = ["CompiledQuery", "KqlError", "QueryFailed", "compile_kql", "install", "installed",
           "default_now", "run", "execute_within_memory"]


@dataclass
class CompiledQuery:
    sql: str
    params: list[Any]
    columns: list[str]
    now: _dt.datetime | None
    # Things the analyst should know about this run (e.g. a fuzzy union leg skipped).
    notes: list[str] = field(default_factory=list)
    # KQL type of each output column (string, long, datetime, dynamic...); dynamic
    # columns arrive from DuckDB as JSON text.
    types: list[str] = field(default_factory=list)
    # `by` columns of the last summarize (empty when there is none): what identifies a row.
    group_by: list[str] = field(default_factory=list)
    # "Table.column" of each where test evaluated once per distinct value (pervalue.py).
    per_value: list[str] = field(default_factory=list)

    def execute(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Install the macros (once per connection) and run the query; fetch from the
        returned cursor."""
        if not installed(con):
            install(con)
        return con.execute(self.sql, self.params)


def compile_kql(text: str, *, now: _dt.datetime | None = None,
                per_value: PerValuePolicy | None = None) -> CompiledQuery:
    """Compile one KQL query. ``now`` anchors now()/ago(); without it the SQL uses the
    latest TimeGenerated in the tables it runs on. ``per_value`` says for which table
    columns a costly where test is evaluated once per distinct value (default: all; the
    rows are the same either way, only the time differs)."""
    query = parse(text, frozenset(TABLES))
    gen = Generator(now, per_value)
    sql, columns = gen.compile(query)
    return CompiledQuery(sql, gen.params, columns, now, gen.notes, gen.types, gen.group_by,
                         gen.per_value_columns)


def execute_within_memory(con: duckdb.DuckDBPyConnection, compiled: CompiledQuery, text: str,
                          per_value: PerValuePolicy | None = None,
                          ) -> tuple[CompiledQuery, list[tuple[str, str]], list[tuple]]:
    """Run ``compiled`` (``text`` compiled with ``per_value``): (the query that ran,
    (name, DuckDB type) of each output column, its rows). When the values passing a
    per-value test do not fit DuckDB's memory limit (a policy misled by a column's first
    values, pervalue.SampledPolicy), the policy gives those columns up and ``text`` runs
    again compiled per row: the same rows, in bounded memory, at the cost of the failed
    attempt. Any other failure raises QueryFailed (DuckDB's first line)."""
    try:
        return compiled, *_fetch(con, compiled)
    except QueryFailed as exc:
        if not (isinstance(exc.__cause__, duckdb.OutOfMemoryException) and compiled.per_value):
            raise
        give_up = getattr(per_value, "give_up", None)
        if give_up is not None:
            give_up(compiled.per_value)
    compiled = compile_kql(text, now=compiled.now, per_value=never)
    return compiled, *_fetch(con, compiled)


def _fetch(con: duckdb.DuckDBPyConnection, compiled: CompiledQuery,
           ) -> tuple[list[tuple[str, str]], list[tuple]]:
    try:
        cursor = compiled.execute(con)
        described = [(d[0], str(d[1])) for d in cursor.description]
        return described, cursor.fetchall()
    except duckdb.Error as exc:
        raise QueryFailed(str(exc).splitlines()[0]) from exc


def default_now(con: duckdb.DuckDBPyConnection) -> _dt.datetime | None:
    """The latest TimeGenerated across both tables (the default anchor for now()/ago())."""
    row = con.execute(
        'SELECT max(m) FROM (SELECT max("TimeGenerated") AS m FROM "W3CIISLog" '
        'UNION ALL SELECT max("TimeGenerated") FROM "SecurityAlert")').fetchone()
    return row[0] if row else None


def run(con: duckdb.DuckDBPyConnection, text: str, *, now: _dt.datetime | None = None
        ) -> tuple[CompiledQuery, list[tuple]]:
    """Compile and run; returns the compiled query and its rows."""
    compiled = compile_kql(text, now=now)
    return compiled, compiled.execute(con).fetchall()
