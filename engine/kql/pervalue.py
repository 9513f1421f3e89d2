"""Evaluating a costly predicate once per distinct value instead of once per row.

Sentinel hunts filter requests with predicates over one column at a time:
``ipv4_is_private(cIP) == false``, ``csUriStem matches regex ...``, ``csUriQuery has
"whoami"``. Evaluated per row, each costs a regular expression per request (3 s of
``ipv4_is_private`` over 46 M requests); the same test over the few hundred distinct clients
costs nothing. The generator (``Generator.op_wheres``, consecutive ``where`` operators
being one filter) therefore replaces such a predicate ``P(col)`` by a membership test::

    EXISTS (SELECT 1 FROM (<the values of col for which P is true>) d
            WHERE d.v IS NOT DISTINCT FROM t.col)

where the values come from the distinct values of the *table* column the row's value was
read from (its :class:`Lineage`), over the table's rows that pass the filter's cheap tests,
with ``P`` evaluated once per value. This is exact:

- ``P`` depends on that one column and on nothing row-dependent (:func:`per_value_safe`),
  so a row passes iff ``P`` is true for its value, and its value is among the table's;
- the membership is true or false where ``P`` may also be null; the generator only
  replaces ``P`` where it is reached from the ``where`` predicate through ``and``/``or``
  alone, where null and false both drop the row (Kleene logic: a null operand that leaves
  the result true leaves it true whatever its value);
- ``IS NOT DISTINCT FROM`` matches a null value to a null value: a table column holding
  nulls keeps exactly the rows the per-row predicate keeps (``P(null)`` is evaluated once,
  like any other value);
- a row that the filter keeps passes its cheap tests, so its value is among the values
  tested; values the rows at hand do not have are tested too, which costs a little and
  changes nothing; duplicates, row order and ``now()``/``ago()`` (a bound value, or one
  subquery over the tables) are untouched.

The set of passing values is collected into one list and unnested: DuckDB then knows it is
small (its estimate for a grouped subquery is the table's row count), builds the join's hash
table on it rather than on the requests, and pushes it down into the Parquet scan.

When it pays is decided per table column by a :data:`PerValuePolicy`: :func:`sampled` looks
at the column's first rows and says yes when few of them are distinct. With one client per
request (bench/ ``--clients distinct``) the per-row test is cheaper than grouping 46 M
distinct values, and a list of them would not fit DuckDB's memory limit. Cheap predicates
(``==``, ``in``, ``isempty``, a ``startswith`` whose prefix has no letter) stay per row
whatever the policy says (:func:`costly`): DuckDB runs them in its scan already.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Iterable

import duckdb

from . import ast as A

# (table, column) -> evaluate predicates over this table column once per distinct value?
PerValuePolicy = Callable[[str, str], bool]


def always(table: str, column: str) -> bool:
    """Every costly single-column predicate is evaluated per distinct value (the compiler's
    default: exact on any data, and what the tests exercise)."""
    return True


def never(table: str, column: str) -> bool:
    """No rewrite: the SQL evaluates every predicate per row (the Spark translation)."""
    return False


SAMPLE_ROWS = 65_536
# Grouping a column costs about as much as a cheap regular expression per row; with more
# than one distinct value per ten rows the grouping no longer pays for itself.
MAX_DISTINCT_RATIO = 0.1


class SampledPolicy:
    """A policy that reads the first ``sample_rows`` values of a table column (about 20 ms
    on a 10 GB case) and rewrites when at most ``max_ratio`` of them are distinct. Decisions
    are kept for the policy's life (one run of the rules). An empty table gets no rewrite.

    The first values can mislead: logs whose first hour is a few internal clients and whose
    rest is an internet-wide scan. The passing values are then one list too big for DuckDB's
    memory limit (20 M distinct clients after 65,536 that repeat: out of memory at 768 MB,
    where the per-row test takes 2.8 s and 97 MiB). :func:`execute_within_memory` then
    gives those columns up (:meth:`give_up`) and runs the query per row."""

    def __init__(self, con: duckdb.DuckDBPyConnection, sample_rows: int = SAMPLE_ROWS,
                 max_ratio: float = MAX_DISTINCT_RATIO) -> None:
        self._con = con
        self._sample_rows = sample_rows
        self._max_ratio = max_ratio
        self._decided: dict[tuple[str, str], bool] = {}

    def __call__(self, table: str, column: str) -> bool:
        key = (table, column)
        if key not in self._decided:
            # A cursor of its own: the caller's connection may hold an unfinished result,
            # which DuckDB 2 lets no other work on that connection interrupt.
            cursor = self._con.cursor()
            try:
                values = (cursor.table(table).select(duckdb.ColumnExpression(column))
                          .limit(self._sample_rows).fetchall())
            except duckdb.Error:  # no such table: the query itself will say so
                values = []
            finally:
                cursor.close()
            self._decided[key] = bool(values) and len(set(values)) <= self._max_ratio * len(values)
        return self._decided[key]

    def give_up(self, columns: Iterable[str]) -> None:
        """No more rewrites over these ``"Table.column"`` names in this run."""
        for name in columns:
            table, _, column = name.partition(".")
            self._decided[(table, column)] = False


def sampled(con: duckdb.DuckDBPyConnection, sample_rows: int = SAMPLE_ROWS,
            max_ratio: float = MAX_DISTINCT_RATIO) -> SampledPolicy:
    """The policy the runners use: see :class:`SampledPolicy`."""
    return SampledPolicy(con, sample_rows, max_ratio)


@dataclass(frozen=True)
class Lineage:
    """Where every value of a column comes from: table ``table``'s column ``column`` (whose
    SQL name in the query is ``root``), then each of ``steps`` (SQL name, expression over
    the previous names as ``t."..."``) in order, each a function of the one before."""
    table: str
    column: str
    root: str
    steps: tuple[tuple[str, str], ...] = ()

    def derive(self, sql_name: str, expr: str) -> "Lineage":
        return dataclasses.replace(self, steps=self.steps + ((sql_name, expr),))

    def values_sql(self, rows: str, filters: list[str]) -> str:
        """A relation ``t`` holding, once each, every value of the table column (as
        ``root``) and of every step, over the rows of ``rows`` (a subquery reading the
        table with the query's column names) that pass ``filters`` (SQL over those
        columns as ``t."..."``).
        ``min()`` rather than the grouping key itself: DuckDB would push a filter on the
        key below the grouping, back onto every row."""
        root = _q(self.root)
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        sql = f"(SELECT min(t.{root}) AS {root} FROM {rows} t{where} GROUP BY t.{root})"
        for name, expr in self.steps:
            sql = f"(SELECT t.*, {expr} AS {_q(name)} FROM {sql} t)"
        return sql


def membership(column_sql: str, sql_type: str, lineage: Lineage, predicate_sql: str,
               rows: str, filters: list[str], in_or: bool = False) -> str:
    """``predicate_sql`` (over ``t.column_sql``) as a test of the row's value against the
    values for which it is true, computed once each (see the module docstring). The values
    are those of the rows of ``rows`` passing ``filters``: deterministic tests the row
    itself must pass, so that its value is among them whenever it can be kept.

    Among the operands of an ``and``: a semi join (``EXISTS``), null matching null. Among
    those of an ``or`` DuckDB would flatten that ``EXISTS`` by materializing every row, so
    there: ``IN`` over the non-null values, and for a null value the predicate itself,
    evaluated once on a null."""
    col = _q(column_sql)
    passing = (f"(SELECT unnest(l) AS v FROM (SELECT list(t.{col}) AS l "
               f"FROM {lineage.values_sql(rows, filters)} t WHERE {predicate_sql}))")
    if not in_or:
        return f"EXISTS (SELECT 1 FROM {passing} d WHERE d.v IS NOT DISTINCT FROM t.{col})"
    on_null = (f"coalesce((SELECT {predicate_sql} FROM (SELECT CAST(NULL AS {sql_type}) "
               f"AS {col}) t), FALSE)")
    return (f"(t.{col} IN (SELECT d.v FROM {passing} d WHERE d.v IS NOT NULL) "
            f"OR (t.{col} IS NULL AND {on_null}))")


# ------------------------------------------------------------------ which predicates
# KQL functions whose value depends on more than their arguments. None is supported today;
# one that is added must be named here, or a predicate calling it would be evaluated once
# for all rows sharing a value.
ROW_DEPENDENT = frozenset({
    "rand", "new_guid", "row_number", "row_cumsum", "row_rank_dense", "row_rank_min",
    "row_window_session", "prev", "next",
})

# Operators and functions DuckDB evaluates about as fast as it reads a column: grouping the
# column first would cost more than it saves.
_CHEAP_BINARY = frozenset({"==", "!=", "<", "<=", ">", ">=", "=~", "!~", "and", "or",
                           "+", "-", "*", "/", "%", "startswith_cs", "!startswith_cs",
                           "endswith_cs", "!endswith_cs"})
# Case-insensitive prefix/suffix tests: a plain starts_with when the constant has no letter.
_AFFIX = frozenset({"startswith", "!startswith", "endswith", "!endswith"})
_CHEAP_LIST = frozenset({"in", "!in", "in~", "!in~"})
_CHEAP_CALLS = frozenset({"isempty", "isnotempty", "notempty", "isnull", "isnotnull",
                          "notnull", "not", "strlen", "string_size", "tostring"})


def costly(e: A.Expr) -> bool:
    """Whether evaluating ``e`` per row costs more than grouping its column (a regular
    expression, case folding of a long value, a macro call...)."""
    if isinstance(e, (A.Literal, A.DynamicLiteral, A.Name)):
        return False
    if isinstance(e, A.Binary):
        if e.op in _CHEAP_BINARY:
            return costly(e.left) or costly(e.right)
        if e.op in _AFFIX and isinstance(e.right, A.Literal) and isinstance(e.right.value, str) \
                and not any(c.isascii() and c.isalpha() for c in e.right.value):
            return costly(e.left)
        return True
    if isinstance(e, A.InList):
        return e.op not in _CHEAP_LIST or costly(e.left) or any(costly(i) for i in e.items)
    if isinstance(e, A.Between):
        return costly(e.left) or costly(e.low) or costly(e.high)
    if isinstance(e, A.Unary):
        return costly(e.operand)
    if isinstance(e, A.Call):
        return e.name not in _CHEAP_CALLS or any(costly(a) for a in e.args)
    return True


def per_value_safe(e: A.Expr, lookup: Callable[[str], object | None], depth: int = 0) -> bool:
    """No call in ``e`` (nor in the bodies of the query's own functions it calls) is
    row-dependent (:data:`ROW_DEPENDENT`). ``lookup`` resolves a name to its let binding."""
    if depth > 32:
        return False
    for node in _walk(e):
        if isinstance(node, A.Call):
            if node.name in ROW_DEPENDENT:
                return False
            binding = lookup(node.name)
            body = getattr(getattr(binding, "value", None), "body", None)
            if getattr(binding, "kind", None) == "function" and isinstance(body, A.Expr):
                inner_env = binding.env  # type: ignore[attr-defined]
                if not per_value_safe(body, inner_env.lookup, depth + 1):
                    return False
    return True


def _walk(node: object):
    yield node
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, A.Node):
                    yield from _walk(item)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
