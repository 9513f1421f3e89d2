"""Turns the syntax tree into one DuckDB SELECT: a chain of CTEs, one per tabular operator.

Each step's columns get SQL names of their own (``"c3_computer"``) so that KQL's
case-sensitive column names never collide in DuckDB, which folds identifier case. Values
from the query text are bound parameters (``$1``...), never formatted into the SQL.
Row order is KQL's only after ``sort``/``top``/``serialize``: those steps add a hidden
``__ord`` column that later row-preserving steps carry and the final SELECT orders by.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import ast as A
from . import pervalue as PV
from . import semantic as S
from .errors import KqlError, UnknownTable
from .functions import (AGGREGATES, KNOWN_UNSUPPORTED_AGGREGATES, SCALAR, Sql,
                        coerce_for_compare, const_list, kql_text, regex_escape, to_dynamic,
                        to_string)

ORD = "__ord"
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass
class Rel:
    """A pipeline step: the CTE that holds it, its columns, whether it carries __ord."""
    cte: str
    schema: S.Schema
    ordered: bool = False
    # The table whose rows these are, one each (a subset, in any order, maybe with columns
    # computed from them), as a subquery with the table step's column names: where a
    # costly test of one column is worth making once per distinct value of that column
    # (pervalue.py). None after anything that groups, joins, unions or keeps only a few
    # rows.
    rows_of: str | None = None
    # After a summarize or distinct and only row-wise steps since: the grouping's CTE and,
    # for each column that is still one of its keys, the key's expression over the
    # grouping's input rows. An inner join can then drop the input rows of the groups the
    # other side has no key for, before grouping them (see restrict_grouping).
    grouped: "Grouped | None" = None


@dataclass
class Grouped:
    cte: int  # index in Generator.ctes
    head: str  # "SELECT ..." of that CTE, up to FROM
    source: str  # the CTE it reads, as t
    tail: str  # " GROUP BY ..." or ""
    keys: dict[str, str]  # column SQL name -> key expression over t


@dataclass
class Binding:
    kind: str  # scalar | tabular | function
    value: Any
    env: "Env"
    in_row: bool = False  # a function argument: evaluated against the caller's row


@dataclass
class Env:
    names: dict[str, Binding] = field(default_factory=dict)
    parent: "Env | None" = None

    def lookup(self, name: str) -> Binding | None:
        env: Env | None = self
        while env is not None:
            if name in env.names:
                return env.names[name]
            env = env.parent
        return None

    def child(self) -> "Env":
        return Env({}, self)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Generator:
    def __init__(self, now: _dt.datetime | None,
                 per_value: PV.PerValuePolicy | None = None) -> None:
        self.now = now
        self.per_value = per_value or PV.always
        # SQL column name -> where its values come from (a table column, maybe through
        # extend/project expressions of it alone): what a per-value predicate groups.
        self.lineage: dict[str, PV.Lineage] = {}
        # SQL names of the columns table() gave a table's columns (any type).
        self.table_columns: set[str] = set()
        # "Table.column" of every predicate evaluated per distinct value, in order.
        self.per_value_columns: list[str] = []
        # Column references seen while compiling one expression (see tracked()).
        self._refs: set[str] | None = None
        self._refs_schema: S.Schema | None = None
        self.params: list[Any] = []
        self.ctes: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self._col_counter = 0
        self.types: list[str] = []
        # The `by` column names of the summarize compiled last: a finding's identity when
        # the rule does not name its key columns (counts grow, the group stays).
        self.group_by: list[str] = []

    # ------------------------------------------------------------ plumbing
    def param(self, value: Any, sqltype: str) -> str:
        self.params.append(value)
        return f"CAST(${len(self.params)} AS {sqltype})"

    def cte(self, sql: str) -> str:
        name = f"q{len(self.ctes) + 1}"
        self.ctes.append((name, sql))
        return name

    def sqlname(self, kql_name: str) -> str:
        self._col_counter += 1
        return f"c{self._col_counter}_{kql_name}"

    def now_sql(self) -> str:
        if self.now is not None:
            now = self.now
            if now.tzinfo is not None:
                now = now.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return self.param(now, "TIMESTAMP")
        # No anchor given: the latest TimeGenerated in the case, computed by DuckDB.
        return ('(SELECT max(m) FROM (SELECT max("TimeGenerated") AS m FROM "W3CIISLog" '
                'UNION ALL SELECT max("TimeGenerated") FROM "SecurityAlert"))')

    # ------------------------------------------------------------ query
    def compile(self, query: A.Query) -> tuple[str, list[str]]:
        env = Env()
        for let in query.lets:
            self.bind_let(let, env)
        rel = self.tabular(query.body, env)
        cols = []
        for c in rel.schema.columns:
            ref = f"t.{q(c.sql)}"
            if c.type == "timespan":
                ref = f"to_microseconds({ref})"
            cols.append(f"{ref} AS {q(c.name)}")
        order = f" ORDER BY t.{ORD}" if rel.ordered else ""
        body = f"SELECT {', '.join(cols) or '1 AS _empty'} FROM {rel.cte} t{order}"
        with_clause = ",\n".join(f"{name} AS ({sql})" for name, sql in self.ctes)
        self.types = [c.type for c in rel.schema.columns]
        return self.renumber(f"WITH {with_clause}\n{body}"), rel.schema.names

    def renumber(self, sql: str) -> str:
        """Keep only the parameters the final SQL uses (sub-expressions compiled and then
        replaced, e.g. list items folded into one list, leave unused ones behind)."""
        used: dict[int, int] = {}
        params: list[Any] = []

        def sub(m: re.Match) -> str:
            old = int(m.group(1))
            if old not in used:
                params.append(self.params[old - 1])
                used[old] = len(params)
            return f"CAST(${used[old]} AS"

        sql = re.sub(r"CAST\(\$(\d+) AS", sub, sql)
        self.params = params
        return sql

    def bind_let(self, let: A.Let, env: Env) -> None:
        if isinstance(let.value, A.FunctionDef):
            env.names[let.name] = Binding("function", let.value, env)
        elif isinstance(let.value, A.Tabular):
            env.names[let.name] = Binding("tabular", let.value, env)
        else:
            env.names[let.name] = Binding("scalar", let.value, env)

    # ------------------------------------------------------------ tabular
    def tabular(self, tab: A.Tabular, env: Env) -> Rel:
        rel = self.source(tab.source, env)
        ops = tab.operators
        i = 0
        while i < len(ops):
            if isinstance(ops[i], A.Where):
                # Consecutive filters are one filter (their conjunction): the costly tests
                # of one are then made only on the rows the cheap tests of all leave.
                j = i + 1
                while j < len(ops) and isinstance(ops[j], A.Where):
                    j += 1
                rel = self.op_wheres(ops[i:j], rel, env)
                i = j
                continue
            method = getattr(self, "op_" + type(ops[i]).__name__.lower())
            rel = method(ops[i], rel, env)
            i += 1
        return rel

    def source(self, src: A.Source, env: Env) -> Rel:
        if isinstance(src, A.TableRef):
            b = env.lookup(src.name)
            if b is not None and b.kind == "tabular":
                return self.tabular(b.value, b.env)
            if b is not None and b.kind == "function":
                return self.call_tabular_function(src.name, b, [], src, env)
            return self.table(src)
        if isinstance(src, A.SubQuery):
            return self.tabular(src.query, env)
        if isinstance(src, A.UnionSource):
            return self.union(src.union, None, env)
        if isinstance(src, A.CallSource):
            if src.name in ("materialize", "view") and len(src.args) == 1 and \
                    isinstance(src.args[0], A.Tabular):
                return self.tabular(src.args[0], env)
            if src.name in ("materialize",) and len(src.args) == 1 and isinstance(src.args[0], A.Name):
                return self.source(A.TableRef(src.line, src.column, src.args[0].name), env)
            b = env.lookup(src.name)
            if b is not None and b.kind == "function":
                return self.call_tabular_function(src.name, b, src.args, src, env)
            raise KqlError(f"the tabular function {src.name}() is not supported", src.line, src.column)
        if isinstance(src, A.PrintSource):
            return self.print_source(src, env)
        if isinstance(src, A.DataTable):
            return self.datatable(src, env)
        raise KqlError(f"unsupported source {type(src).__name__}", src.line, src.column)

    def call_tabular_function(self, name: str, b: Binding, args: list[Any], node: A.Node,
                              env: Env) -> Rel:
        fdef: A.FunctionDef = b.value
        if not isinstance(fdef.body, A.Tabular):
            raise KqlError(f"{name}() is a scalar function used as a table", node.line, node.column)
        fenv = self.function_env(name, fdef, args, b.env, env, node)
        return self.tabular(fdef.body, fenv)

    def function_env(self, name: str, fdef: A.FunctionDef, args: list[Any], def_env: Env,
                     call_env: Env, node: A.Node) -> Env:
        if len(args) > len(fdef.params):
            raise KqlError(f"{name}() takes {len(fdef.params)} arguments", node.line, node.column)
        fenv = def_env.child()
        for i, p in enumerate(fdef.params):
            if i < len(args):
                arg = args[i]
                if p.type == "table":
                    if isinstance(arg, A.Name):
                        arg = A.Tabular(arg.line, arg.column, A.TableRef(arg.line, arg.column, arg.name), [])
                    fenv.names[p.name] = Binding("tabular", arg, call_env)
                else:
                    fenv.names[p.name] = Binding("scalar", arg, call_env)
            elif p.default is not None:
                fenv.names[p.name] = Binding("scalar", p.default, def_env)
            else:
                raise KqlError(f"{name}() is missing argument {p.name!r}", node.line, node.column)
        for let in fdef.lets:
            self.bind_let(let, fenv)
        return fenv

    def table(self, ref: A.TableRef) -> Rel:
        table = S.table(ref.name, ref)
        cols, selects = [], []
        for c in table.kql_columns:
            sql = self.sqlname(c.name)
            cols.append(S.Col(c.name, c.kql_type, sql, nullable=not c.is_string))
            selects.append(f"{q(c.name)} AS {q(sql)}")
            self.table_columns.add(sql)
            if c.is_string:
                self.lineage[sql] = PV.Lineage(table.name, c.name, sql)
        sql = f"SELECT {', '.join(selects)} FROM {q(table.name)}"
        # rows_of repeats the CTE's text: a CTE read more than once is materialized, every
        # column of every row, where a subquery reads only the columns it needs.
        return Rel(self.cte(sql), S.Schema(cols), rows_of=f"({sql})")

    def print_source(self, src: A.PrintSource, env: Env) -> Rel:
        empty = Rel(self.cte("SELECT 1 AS _one"), S.Schema([]))
        cols, selects, taken = [], [], set()
        for i, item in enumerate(src.items):
            v = self.expr(item.expr, empty.schema, env)
            # print names unnamed columns print_0, print_1... (by position)
            name = item.name or S.expression_name(item.expr) or f"print_{i}"
            name = S.unique_name(name, taken) if item.name is None else name
            taken.add(name)
            sql = self.sqlname(name)
            cols.append(S.Col(name, v.type, sql, v.nullable))
            selects.append(f"{v.sql} AS {q(sql)}")
        return Rel(self.cte(f"SELECT {', '.join(selects)} FROM {empty.cte} t"), S.Schema(cols))

    def datatable(self, src: A.DataTable, env: Env) -> Rel:
        width = len(src.columns)
        if width == 0 or len(src.values) % width:
            raise KqlError("datatable values do not fill whole rows", src.line, src.column)
        empty = S.Schema([])
        cols = [S.Col(n, t, self.sqlname(n)) for n, t in src.columns]
        rows = []
        for r in range(0, len(src.values), width):
            cells = []
            for c, e in zip(cols, src.values[r:r + width]):
                v = self.expr(e, empty, env)
                if c.type == "dynamic" and v.type != "dynamic":
                    v = to_dynamic(v)
                if v.is_const and v.const is None:
                    cells.append("''" if c.type == "string" else f"CAST(NULL AS {S.SQL_TYPES[c.type]})")
                elif v.type != c.type and not ({v.type, c.type} <= {"int", "long", "real"}):
                    raise KqlError(f"datatable value of type {v.type} in {c.type} column {c.name}",
                                   e.line, e.column)
                else:
                    cells.append(f"CAST({v.sql} AS {S.SQL_TYPES[c.type]})")
            rows.append("SELECT " + ", ".join(f"{cell} AS {q(c.sql)}" for cell, c in zip(cells, cols)))
        cols = [S.Col(c.name, c.type, c.sql, c.type != "string") for c in cols]
        return Rel(self.cte(" UNION ALL ".join(rows)), S.Schema(cols), False)

    # ------------------------------------------------------------ row-wise operators
    def select(self, rel: Rel, items: list[tuple[S.Col, str]], tail: str = "",
               ordered: bool | None = None, rows_of: str | None | bool = True,
               grouped: bool = True) -> Rel:
        """A step selecting `items` (column, SQL expression) from `rel`, carrying __ord."""
        ordered = rel.ordered if ordered is None else ordered
        parts = [f"{expr} AS {q(c.sql)}" for c, expr in items]
        if ordered and rel.ordered:
            parts.append(f"t.{ORD}")
        sql = f"SELECT {', '.join(parts) or '1 AS _empty'} FROM {rel.cte} t{tail}"
        keys = None
        if grouped and rel.grouped is not None:
            by_ref = {f"t.{q(col)}": key for col, key in rel.grouped.keys.items()}
            kept = {c.sql: by_ref[e] for c, e in items if e in by_ref}
            keys = dataclasses.replace(rel.grouped, keys=kept) if kept else None
        return Rel(self.cte(sql), S.Schema([c for c, _ in items]), ordered and rel.ordered,
                   rel.rows_of if rows_of is True else rows_of, keys)

    def passthrough(self, rel: Rel) -> list[tuple[S.Col, str]]:
        return [(c, f"t.{q(c.sql)}") for c in rel.schema.columns]

    def op_where(self, op: A.Where, rel: Rel, env: Env) -> Rel:
        return self.op_wheres([op], rel, env)

    def op_wheres(self, ops: list[A.Where], rel: Rel, env: Env) -> Rel:
        """One or more consecutive ``where`` operators: one SQL filter, their conjunction."""
        preds = []
        for op in ops:
            pred = self.expr(op.predicate, rel.schema, env)
            if pred.type != "bool":
                raise KqlError(f"where needs a bool predicate, not {pred.type}", op.line, op.column)
            preds.append(pred.sql)
        sql = " AND ".join(preds) if len(preds) == 1 else "(" + " AND ".join(preds) + ")"
        if rel.rows_of is not None:
            operands = [x for op in ops for x in _flatten(op.predicate, "and")]
            sql = self.per_value_filter(operands, rel, env) or sql
        return self.select(rel, self.passthrough(rel), f" WHERE {sql}")

    # ------------------------------------------------------------ per distinct value
    def tracked(self, e: A.Expr, schema: S.Schema, env: Env) -> tuple[Sql, frozenset[str]]:
        """Compile ``e`` and name the columns of ``schema`` it reads (their SQL names)."""
        outer, outer_schema = self._refs, self._refs_schema
        self._refs, self._refs_schema = set(), schema
        try:
            v = self.expr(e, schema, env)
            refs = frozenset(self._refs)
        finally:
            self._refs, self._refs_schema = outer, outer_schema
        if outer is not None and outer_schema is schema:
            outer |= refs
        return v, refs

    def derive_lineage(self, col: S.Col, e: A.Expr, v: Sql, refs: frozenset[str],
                       env: Env) -> None:
        """``col`` = ``e`` (compiled to ``v``, reading ``refs``): when ``e`` is a function of
        one column with a lineage, so is ``col``."""
        if len(refs) == 1:
            (ref,) = refs
            source = self.lineage.get(ref)
            if source is not None and PV.per_value_safe(e, env.lookup):
                self.lineage[col.sql] = source.derive(col.sql, v.sql)

    def per_value_filter(self, operands: list[A.Expr], rel: Rel, env: Env) -> str | None:
        """The SQL of the conjunction of ``operands`` (a filter on rows of ``rel.rows_of``)
        with the costly tests of one column made once per distinct value (pervalue.py), or
        None when none is. Every cheap operand stays a per-row test (DuckDB runs it in the
        scan); the cheap ones over the table's own columns also restrict the values the
        costly tests see, so that a filter leaving few rows leaves few values to test."""
        schema = rel.schema
        compiled = [(x, *self.tracked(x, schema, env)) for x in operands]
        roots = {c.sql for c in schema.columns if c.sql in self.table_columns}
        cheap_on_rows = [v.sql for x, v, refs in compiled
                         if refs <= roots and not PV.costly(x) and PV.per_value_safe(x, env.lookup)]
        costly = self.costly_by_column(compiled, env)

        def other(x: A.Expr, sql: str) -> str:
            if isinstance(x, A.Binary) and x.op == "or":
                return self.per_value_or(x, rel, env, cheap_on_rows) or sql
            return sql

        parts = self.grouped_tests(compiled, costly, "AND", rel, cheap_on_rows, other)
        if not costly and all(p == v.sql for p, (_, v, _) in zip(parts, compiled)):
            return None
        return "(" + " AND ".join(parts) + ")"

    def grouped_tests(self, compiled: list, costly: dict[str, list[str]], joiner: str,
                      rel: Rel, cheap_on_rows: list[str],
                      other: Callable[[A.Expr, str], str] | None = None) -> list[str]:
        """The operands of a filter's AND (or an or's OR) in order: the costly tests of one
        column become one per-value test where the first of them stood; every other
        operand is its own SQL, or what ``other`` makes of it."""
        parts, done = [], set()
        for x, v, refs in compiled:
            col = next(iter(refs)) if len(refs) == 1 else None
            if col in costly:
                if col not in done:
                    done.add(col)
                    parts.append(self.per_value_test(col, costly[col], joiner, rel,
                                                     cheap_on_rows))
            else:
                parts.append(other(x, v.sql) if other is not None else v.sql)
        return parts

    def costly_by_column(self, compiled: list, env: Env) -> dict[str, list[str]]:
        """The costly tests among ``compiled`` (expression, value, columns referenced) that
        look at one column the per-value policy says to rewrite, by that column."""
        costly: dict[str, list[str]] = {}
        for x, v, refs in compiled:
            if len(refs) == 1 and PV.costly(x) and PV.per_value_safe(x, env.lookup):
                (col,) = refs
                lineage = self.lineage.get(col)
                if lineage is not None and self.per_value(lineage.table, lineage.column):
                    costly.setdefault(col, []).append(v.sql)
        return costly

    def per_value_test(self, col: str, tests: list[str], joiner: str, rel: Rel,
                       cheap_on_rows: list[str]) -> str:
        """The row's ``col`` among the values passing ``tests`` (joined by AND within a
        filter, OR within an ``or``), each value tested once; the column is recorded as
        rewritten."""
        lineage = self.lineage[col]
        self.per_value_columns.append(f"{lineage.table}.{lineage.column}")
        return PV.membership(col, S.SQL_TYPES[_col_type(rel.schema, col)], lineage,
                             f"({f' {joiner} '.join(tests)})", rel.rows_of, cheap_on_rows,
                             in_or=joiner == "OR")

    def per_value_or(self, e: A.Binary, rel: Rel, env: Env, cheap_on_rows: list[str]) -> str | None:
        """An ``or`` operand of a filter: each costly alternative on one column (their
        disjunction) made once per distinct value; None when none is."""
        operands = _flatten(e, "or")
        compiled = [(x, *self.tracked(x, rel.schema, env)) for x in operands]
        costly = self.costly_by_column(compiled, env)
        if not costly:
            return None
        parts = self.grouped_tests(compiled, costly, "OR", rel, cheap_on_rows)
        return "(" + " OR ".join(parts) + ")"

    def op_extend(self, op: A.Extend, rel: Rel, env: Env) -> Rel:
        for item in op.items:
            v, refs = self.tracked(item.expr, rel.schema, env)
            taken = set(rel.schema.names)
            name = item.name or S.expression_name(item.expr) or S.next_column_n(taken)
            newcol = S.Col(name, v.type, self.sqlname(name), v.nullable)
            self.derive_lineage(newcol, item.expr, v, refs, env)
            items = []
            replaced = False
            for c, expr in self.passthrough(rel):
                if c.name == name:
                    items.append((newcol, v.sql))
                    replaced = True
                else:
                    items.append((c, expr))
            if not replaced:
                items.append((newcol, v.sql))
            rel = self.select(rel, items)
        return rel

    def op_project(self, op: A.Project, rel: Rel, env: Env) -> Rel:
        items: list[tuple[S.Col, str]] = []
        taken: set[str] = set()
        for item in op.items:
            if isinstance(item.expr, A.Star) or (isinstance(item.expr, A.Name) and "*" in item.expr.name):
                raise KqlError("project with wildcards is not supported", item.line, item.column)
            v, refs = self.tracked(item.expr, rel.schema, env)
            name = item.name or S.expression_name(item.expr) or S.next_column_n(taken | set(rel.schema.names))
            if name in taken:
                raise KqlError(f"project names column {name!r} twice", item.line, item.column)
            taken.add(name)
            col = S.Col(name, v.type, self.sqlname(name), v.nullable)
            self.derive_lineage(col, item.expr, v, refs, env)
            items.append((col, v.sql))
        return self.select(rel, items)

    def _match(self, rel: Rel, pattern: str, line: int, col: int) -> list[S.Col]:
        if "*" in pattern:
            return [c for c in rel.schema.columns if fnmatch.fnmatchcase(c.name, pattern)]
        c = rel.schema.find(pattern)
        if c is None:
            raise KqlError(f"unknown column {pattern!r}", line, col)
        return [c]

    def op_projectaway(self, op: A.ProjectAway, rel: Rel, env: Env) -> Rel:
        drop: set[str] = set()
        for name, line, col in op.names:
            drop |= {c.name for c in self._match(rel, name, line, col)}
        return self.select(rel, [(c, e) for c, e in self.passthrough(rel) if c.name not in drop])

    def op_projectkeep(self, op: A.ProjectKeep, rel: Rel, env: Env) -> Rel:
        keep: set[str] = set()
        for name, line, col in op.names:
            keep |= {c.name for c in self._match(rel, name, line, col)}
        return self.select(rel, [(c, e) for c, e in self.passthrough(rel) if c.name in keep])

    def op_projectreorder(self, op: A.ProjectReorder, rel: Rel, env: Env) -> Rel:
        first: list[S.Col] = []
        for name, line, col, order in op.names:
            matched = [c for c in self._match(rel, name, line, col) if c not in first]
            if order:
                matched.sort(key=lambda c: c.name, reverse=order == "desc")
            first.extend(matched)
        rest = [c for c in rel.schema.columns if c not in first]
        return self.select(rel, [(c, f"t.{q(c.sql)}") for c in first + rest])

    def op_projectrename(self, op: A.ProjectRename, rel: Rel, env: Env) -> Rel:
        renames = {}
        for new, old, line, col in op.pairs:
            rel.schema.get(old, A.Node(line, col))
            renames[old] = new
        items = []
        for c, e in self.passthrough(rel):
            if c.name in renames:
                old = c
                c = S.Col(renames[c.name], c.type, self.sqlname(renames[c.name]), c.nullable)
                if old.sql in self.lineage:
                    self.lineage[c.sql] = self.lineage[old.sql].derive(c.sql, e)
            items.append((c, e))
        return self.select(rel, items)

    def op_serialize(self, op: A.Serialize, rel: Rel, env: Env) -> Rel:
        if op.items:
            raise KqlError("serialize with column assignments is not supported", op.line, op.column)
        if rel.ordered:
            return rel
        parts = [f"t.{q(c.sql)} AS {q(c.sql)}" for c in rel.schema.columns]
        parts.append(f"row_number() OVER () AS {ORD}")
        return Rel(self.cte(f"SELECT {', '.join(parts)} FROM {rel.cte} t"), rel.schema, True,
                   rel.rows_of, rel.grouped)

    def order_clause(self, keys: list[A.SortKey], rel: Rel, env: Env) -> str:
        parts = []
        for k in keys:
            v = self.expr(k.expr, rel.schema, env)
            if v.type == "dynamic":
                raise KqlError("sorting by a dynamic value is not supported", k.line, k.column)
            nulls_first = k.nulls_first if k.nulls_first is not None else not k.descending
            parts.append(f"{v.sql} {'DESC' if k.descending else 'ASC'} "
                         f"NULLS {'FIRST' if nulls_first else 'LAST'}")
        return ", ".join(parts)

    def with_order(self, rel: Rel, order: str) -> Rel:
        parts = [f"t.{q(c.sql)} AS {q(c.sql)}" for c in rel.schema.columns]
        # ties keep the earlier order when there was one (a stable sort)
        tie = f", t.{ORD}" if rel.ordered else ""
        parts.append(f"row_number() OVER (ORDER BY {order}{tie}) AS {ORD}")
        return Rel(self.cte(f"SELECT {', '.join(parts)} FROM {rel.cte} t"), rel.schema, True,
                   rel.rows_of, rel.grouped)

    def op_sort(self, op: A.Sort, rel: Rel, env: Env) -> Rel:
        return self.with_order(rel, self.order_clause(op.keys, rel, env))

    def count_value(self, e: A.Expr, rel: Rel, env: Env, what: str) -> int:
        v = self.expr(e, rel.schema, env)
        if not (v.is_const and isinstance(v.const, int) and not isinstance(v.const, bool)):
            raise KqlError(f"{what} needs a constant integer row count", e.line, e.column)
        return max(int(v.const), 0)

    def op_top(self, op: A.Top, rel: Rel, env: Env) -> Rel:
        n = self.count_value(op.count, rel, env, "top")
        ordered = self.with_order(rel, self.order_clause([op.key], rel, env))
        return self.select(ordered, self.passthrough(ordered), f" WHERE t.{ORD} <= {n}",
                           rows_of=None, grouped=False)

    def op_take(self, op: A.Take, rel: Rel, env: Env) -> Rel:
        n = self.count_value(op.count, rel, env, "take")
        if rel.ordered:
            return self.select(rel, self.passthrough(rel), f" WHERE t.{ORD} <= {n}",
                               rows_of=None, grouped=False)
        return self.select(rel, self.passthrough(rel), f" LIMIT {n}", rows_of=None, grouped=False)

    def op_distinct(self, op: A.Distinct, rel: Rel, env: Env) -> Rel:
        if op.items is None:
            items = self.passthrough(rel)
        else:
            items = []
            taken: set[str] = set()
            for item in op.items:
                v = self.expr(item.expr, rel.schema, env)
                name = item.name or S.expression_name(item.expr) or S.next_column_n(taken)
                taken.add(name)
                items.append((S.Col(name, v.type, self.sqlname(name), v.nullable), v.sql))
        return self.grouping(rel, items, len(items), distinct=True)

    def op_count(self, op: A.Count, rel: Rel, env: Env) -> Rel:
        col = S.Col("Count", "long", self.sqlname("Count"), False)
        return Rel(self.cte(f"SELECT count(*) AS {q(col.sql)} FROM {rel.cte} t"), S.Schema([col]))

    # ------------------------------------------------------------ summarize
    def op_summarize(self, op: A.Summarize, rel: Rel, env: Env) -> Rel:
        items: list[tuple[S.Col, str]] = []
        taken: set[str] = set()
        for item in op.by:
            v = self.expr(item.expr, rel.schema, env)
            name = item.name or S.expression_name(item.expr) or S.next_column_n(taken)
            if name in taken:
                name = S.unique_name(name, taken)
            taken.add(name)
            items.append((S.Col(name, v.type, self.sqlname(name), v.nullable), v.sql))
        n_by = len(items)
        self.group_by = [c.name for c, _ in items]
        for item in op.aggregates:
            items.extend(self.aggregate(item, rel, env, taken))
        return self.grouping(rel, items, n_by)

    def grouping(self, rel: Rel, items: list[tuple[S.Col, str]], n_by: int,
                 distinct: bool = False) -> Rel:
        """A summarize (the first ``n_by`` items are its keys) or a distinct (all are)."""
        parts = [f"{e} AS {q(c.sql)}" for c, e in items]
        head = f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(parts)}"
        tail = f" GROUP BY {', '.join(str(i + 1) for i in range(n_by))}" if n_by and not distinct else ""
        name = self.cte(f"{head} FROM {rel.cte} t{tail}")
        keys = {c.sql: e for c, e in items[:n_by]}
        grouped = Grouped(len(self.ctes) - 1, head, rel.cte, tail, keys) if keys else None
        return Rel(name, S.Schema([c for c, _ in items]), False, None, grouped)

    def restrict_grouping(self, grouped: Grouped, pairs: list[tuple[str, str]], other: str) -> None:
        """Keep, of the grouping's input rows, those whose keys the CTE ``other`` has
        (``pairs``: other's column, grouping column, both SQL names): the groups of the
        other keys cannot be joined. Exact for a join that looks at no right row without a
        left match: a group is dropped whole or kept whole, so what it aggregates is
        unchanged."""
        match = " AND ".join(f"o.{q(col)} = {grouped.keys[key]}" for col, key in pairs)
        name = self.ctes[grouped.cte][0]
        # A semi join, not a correlated EXISTS: DuckDB flattens that by materializing every
        # input row first (alert-linked-requests: 3.75 M script requests, 2.6 s).
        self.ctes[grouped.cte] = (name, f"{grouped.head} FROM {grouped.source} t "
                                        f"SEMI JOIN {other} o ON {match}{grouped.tail}")

    def aggregate(self, item: A.Assignment, rel: Rel, env: Env, taken: set[str]) -> list[tuple[S.Col, str]]:
        call = item.expr
        if not isinstance(call, A.Call):
            raise KqlError("summarize needs an aggregation function call here", item.line, item.column)
        if call.name in ("arg_max", "arg_min"):
            return self.arg_extreme(item, call, rel, env, taken)
        spec = AGGREGATES.get(call.name)
        if spec is None:
            what = "aggregation function" if call.name in KNOWN_UNSUPPORTED_AGGREGATES or \
                call.name not in SCALAR else "scalar function used as an aggregate"
            raise KqlError(f"the {what} {call.name}() is not supported", call.line, call.column)
        lo, hi, handler = spec
        if not lo <= len(call.args) <= hi:
            raise KqlError(f"{call.name}() takes {lo}..{hi} arguments", call.line, call.column)
        args = [self.expr(a, rel.schema, env) for a in call.args]
        agg = handler(self, call, args)
        name = item.name or S.aggregate_name(call) or S.next_column_n(taken)
        if name in taken:
            name = S.unique_name(name, taken)
        taken.add(name)
        return [(S.Col(name, agg.type, self.sqlname(name), agg.nullable), agg.sql)]

    def arg_extreme(self, item: A.Assignment, call: A.Call, rel: Rel, env: Env,
                    taken: set[str]) -> list[tuple[S.Col, str]]:
        if len(call.args) < 2:
            raise KqlError(f"{call.name}() needs the expression to maximize and what to return",
                           call.line, call.column)
        if item.name is not None:
            raise KqlError(f"naming the result of {call.name}() is not supported", item.line, item.column)
        key = self.expr(call.args[0], rel.schema, env)
        fn = "arg_max" if call.name == "arg_max" else "arg_min"
        outputs: list[tuple[str, Sql]] = []
        key_name = S.expression_name(call.args[0]) or S.next_column_n(taken)
        outputs.append((key_name, key))
        for a in call.args[1:]:
            if isinstance(a, A.Star):
                for c in rel.schema.columns:
                    if c.name in taken or c.name == key_name:
                        continue
                    outputs.append((c.name, Sql(f"t.{q(c.sql)}", c.type, c.nullable)))
            else:
                v = self.expr(a, rel.schema, env)
                outputs.append((S.expression_name(a) or S.next_column_n(taken | {n for n, _ in outputs}), v))
        fields = ", ".join(f"'f{i}': {v.sql}" for i, (_, v) in enumerate(outputs))
        packed = f"{fn}({{{fields}}}, {key.sql}) FILTER (WHERE {key.sql} IS NOT NULL)"
        result = []
        for i, (name, v) in enumerate(outputs):
            name = S.unique_name(name, taken)
            taken.add(name)
            expr = f"({packed}).f{i}"
            if v.type == "string":
                expr = f"coalesce({expr}, '')"
            result.append((S.Col(name, v.type, self.sqlname(name), v.type != "string"), expr))
        return result

    # ------------------------------------------------------------ join
    JOIN_KINDS = {"innerunique", "inner", "leftouter", "rightouter", "fullouter", "leftsemi",
                  "rightsemi", "leftanti", "rightanti", "leftantisemi", "rightantisemi", "anti"}

    def op_join(self, op: A.Join, left: Rel, env: Env) -> Rel:
        kind = {"leftantisemi": "leftanti", "rightantisemi": "rightanti", "anti": "leftanti"}.get(op.kind, op.kind)
        if op.kind not in self.JOIN_KINDS:
            raise KqlError(f"join kind={op.kind} is not supported", op.line, op.column)
        right = self.tabular(op.right, env)
        pairs = []
        for cond in op.conditions:
            lc = left.schema.get(cond.left, cond)
            rc = right.schema.get(cond.right, cond)
            if lc.type != rc.type:
                raise KqlError(f"join key {cond.left} is {lc.type} on the left but {rc.type} on the right",
                               cond.line, cond.column)
            if lc.type == "dynamic":
                raise KqlError("joining on a dynamic column is not supported", cond.line, cond.column)
            pairs.append((lc, rc))
        on = " AND ".join(f"l.{q(lc.sql)} = r.{q(rc.sql)}" for lc, rc in pairs)
        if kind in ("inner", "innerunique", "leftouter", "leftsemi", "leftanti") \
                and left.rows_of is None and right.grouped is not None \
                and all(rc.sql in right.grouped.keys for _, rc in pairs):
            # The right side groups rows (summarize/distinct) by the join keys and the left
            # is not a table's rows: group only the rows whose keys the left side has, the
            # only right rows these kinds of join ever look at. iis-brute-force's successful
            # logons: 40 M distinct rows for a few failing clients; alert-linked-requests:
            # every script request, for the alerts' files.
            self.restrict_grouping(right.grouped, [(lc.sql, rc.sql) for lc, rc in pairs], left.cte)
        if kind in ("leftsemi", "leftanti", "rightsemi", "rightanti"):
            keep, other = (left, right) if kind.startswith("left") else (right, left)
            a, b = ("l", "r") if kind.startswith("left") else ("r", "l")
            exists = "EXISTS" if kind.endswith("semi") else "NOT EXISTS"
            parts = [f"{a}.{q(c.sql)} AS {q(c.sql)}" for c in keep.schema.columns]
            sql = (f"SELECT {', '.join(parts) or '1 AS _empty'} FROM {keep.cte} {a} WHERE {exists} "
                   f"(SELECT 1 FROM {other.cte} {b} WHERE {on})")
            return Rel(self.cte(sql), keep.schema, False)
        left_cte = left.cte
        if kind == "innerunique":
            # KQL keeps one (arbitrary) left row per join key before an inner join: here
            # any_value() of the whole row as one struct, grouped by key. A window numbering
            # the rows of each key sorted every left row: rare-user-agents' 17 M requests
            # took 65 s of CPU on the 10 GB case, the grouping 0.2 s. The row kept is as
            # arbitrary as before (KQL does not say which). (Dropping first the left rows
            # whose key the right side lacks reads the right side twice, and DuckDB then
            # materializes it: iis-brute-force's 40 M distinct successes.)
            keys = ", ".join(f"t.{q(lc.sql)}" for lc, _ in pairs)
            row = ", ".join(f"{q(c.sql)}: t.{q(c.sql)}" for c in left.schema.columns)
            cols = ", ".join(f"u.r.{q(c.sql)} AS {q(c.sql)}" for c in left.schema.columns)
            left_cte = self.cte(f"SELECT {cols} FROM (SELECT any_value({{{row}}}) AS r "
                                f"FROM {left.cte} t GROUP BY {keys}) u")
            kind = "inner"
        sql_kind = {"inner": "INNER", "leftouter": "LEFT", "rightouter": "RIGHT", "fullouter": "FULL"}[kind]
        taken: set[str] = set()
        out: list[tuple[S.Col, str]] = []
        for c in left.schema.columns:
            taken.add(c.name)
            expr = f"l.{q(c.sql)}"
            nullable = c.nullable or kind in ("rightouter", "fullouter")
            if c.type == "string" and kind in ("rightouter", "fullouter"):
                expr, nullable = f"coalesce({expr}, '')", False
            out.append((S.Col(c.name, c.type, self.sqlname(c.name), nullable), expr))
        for c in right.schema.columns:
            name = S.unique_name(c.name, taken)
            taken.add(name)
            expr = f"r.{q(c.sql)}"
            nullable = c.nullable or kind in ("leftouter", "fullouter")
            if c.type == "string" and kind in ("leftouter", "fullouter"):
                expr, nullable = f"coalesce({expr}, '')", False
            out.append((S.Col(name, c.type, self.sqlname(name), nullable), expr))
        parts = [f"{e} AS {q(c.sql)}" for c, e in out]
        sql = f"SELECT {', '.join(parts)} FROM {left_cte} l {sql_kind} JOIN {right.cte} r ON {on}"
        return Rel(self.cte(sql), S.Schema([c for c, _ in out]), False)

    # ------------------------------------------------------------ union
    def op_union(self, op: A.Union, rel: Rel, env: Env) -> Rel:
        return self.union(op, rel, env)

    def union(self, op: A.Union, first: Rel | None, env: Env) -> Rel:
        if op.with_source:
            raise KqlError("union withsource= is not supported", op.line, op.column)
        rels = [first] if first is not None else []
        for leg in op.legs:
            try:
                rels.append(self.tabular(leg, env))
            except UnknownTable as e:
                if not op.fuzzy:
                    raise
                self.notes.append(f"union isfuzzy=true skipped a leg: {e.message}")
        if not rels:
            raise KqlError("union has no table exhunt has", op.line, op.column)
        # the union's columns: every leg's columns by name, in order of first appearance
        columns: list[S.Col] = []
        for r in rels:
            for c in r.schema.columns:
                prev = next((p for p in columns if p.name == c.name), None)
                if prev is None:
                    columns.append(S.Col(c.name, c.type, self.sqlname(c.name), c.nullable))
                elif prev.type != c.type:
                    raise KqlError(f"union legs disagree on the type of {c.name} ({prev.type}, {c.type})",
                                   op.line, op.column)
                elif c.nullable and not prev.nullable:
                    columns[columns.index(prev)] = S.Col(prev.name, prev.type, prev.sql, True)
        if op.kind == "inner":
            common = set.intersection(*(set(r.schema.names) for r in rels))
            columns = [c for c in columns if c.name in common]
        selects = []
        for r in rels:
            parts = []
            for c in columns:
                rc = r.schema.find(c.name)
                if rc is not None:
                    parts.append(f"t.{q(rc.sql)} AS {q(c.sql)}")
                elif c.type == "string":
                    parts.append(f"'' AS {q(c.sql)}")
                else:
                    parts.append(f"CAST(NULL AS {S.SQL_TYPES[c.type]}) AS {q(c.sql)}")
            selects.append(f"SELECT {', '.join(parts)} FROM {r.cte} t")
        return Rel(self.cte(" UNION ALL ".join(selects)), S.Schema(columns), False)

    # ------------------------------------------------------------ mv-expand
    def op_mvexpand(self, op: A.MvExpand, rel: Rel, env: Env) -> Rel:
        limit = op.limit if op.limit is not None else (128 if op.legacy else 2147483647)
        expansions: dict[str, tuple[S.Col, str]] = {}
        appended: list[tuple[S.Col, str]] = []
        for item in op.items:
            v = self.expr(item.expr, rel.schema, env)
            if v.type != "dynamic":
                v = to_dynamic(v)
            name = item.name or S.expression_name(item.expr)
            if name is None:
                raise KqlError("mv-expand of an expression needs a column name (name = expr)",
                               item.line, item.column)
            element = f"unnest(kqlx_mv_items({v.sql}, {limit}))"
            ctype = "dynamic"
            if item.to_type is not None:
                ctype = item.to_type
                element = self.convert_dynamic(element, ctype, item)
            col = S.Col(name, ctype, self.sqlname(name), ctype != "string")
            if item.name is None and rel.schema.find(name) is not None:
                expansions[name] = (col, element)
            else:
                appended.append((col, element))
        items = [expansions.get(c.name, (c, e)) for c, e in self.passthrough(rel)] + appended
        if rel.ordered:
            raise KqlError("mv-expand after sort/serialize is not supported (row order)", op.line, op.column)
        return self.select(rel, items)

    def convert_dynamic(self, sql: str, ktype: str, node: A.Node) -> str:
        """mv-expand ... to typeof(T) casts without converting: a value of another JSON
        type becomes null (documented), and a string null is ""."""
        casts = {
            "string": f"coalesce(kqlx_dyn_string({sql}), '')",
            "long": f"(CASE WHEN json_type({sql}) IN ('BIGINT', 'UBIGINT', 'INTEGER') "
                    f"THEN TRY_CAST(CAST({sql} AS VARCHAR) AS BIGINT) END)",
            "int": f"(CASE WHEN json_type({sql}) IN ('BIGINT', 'UBIGINT', 'INTEGER') "
                   f"THEN TRY_CAST(CAST({sql} AS VARCHAR) AS INTEGER) END)",
            "real": f"kqlx_dyn_real({sql})",
            "bool": f"kqlx_dyn_bool({sql})",
            "dynamic": sql,
        }
        if ktype not in casts:
            raise KqlError(f"mv-expand to typeof({ktype}) is not supported", node.line, node.column)
        return casts[ktype]

    # ------------------------------------------------------------ parse
    def op_parse(self, op: A.Parse, rel: Rel, env: Env) -> Rel:
        if op.kind != "simple":
            raise KqlError(f"parse kind={op.kind} is not supported", op.line, op.column)
        source = to_string(self.expr(op.expr, rel.schema, env))
        pattern = "^"
        columns: list[A.ParsePattern] = []
        pats = op.patterns
        for i, p in enumerate(pats):
            if p.kind == "literal":
                pattern += regex_escape(p.value)
            elif p.kind == "star":
                pattern += "(?:.*?)" if i < len(pats) - 1 else "(?:.*)"
            else:
                last = i == len(pats) - 1
                if p.type == "string":
                    pattern += "(.*)" if last else "(.*?)"
                elif p.type in ("long", "int"):
                    pattern += r"(\-?\d+)"
                elif p.type == "real":
                    pattern += r"(\-?\d+(?:\.\d+)?(?:[eE][\-+]?\d+)?)"
                else:
                    raise KqlError(f"parse into a {p.type} column is not supported", p.line, p.column)
                columns.append(p)
        pattern += "$"
        regex = self.param(pattern, "VARCHAR")
        items = self.passthrough(rel)
        for gi, p in enumerate(columns, start=1):
            extracted = f"regexp_extract({source.sql}, {regex}, {gi})"
            matched = f"regexp_matches({source.sql}, {regex}, 's')"
            if p.type == "string":
                expr = f"(CASE WHEN {matched} THEN {extracted} ELSE '' END)"
            elif p.type in ("long", "int"):
                expr = f"(CASE WHEN {matched} THEN TRY_CAST({extracted} AS BIGINT) END)"
            else:
                expr = f"(CASE WHEN {matched} THEN TRY_CAST({extracted} AS DOUBLE) END)"
            ktype = "long" if p.type == "int" else p.type
            col = S.Col(p.value, ktype, self.sqlname(p.value), ktype != "string")
            items = [(col, expr) if c.name == p.value else (c, e) for c, e in items]
            if not any(c is col for c, _ in items):
                items.append((col, expr))
        return self.select(rel, items)

    # ------------------------------------------------------------ scalar expressions
    def expr(self, e: A.Expr, schema: S.Schema, env: Env, alias: str = "t") -> Sql:
        method = getattr(self, "x_" + type(e).__name__.lower(), None)
        if method is None:
            raise KqlError(f"unsupported expression {type(e).__name__}", e.line, e.column)
        return method(e, schema, env, alias)

    def x_literal(self, e: A.Literal, schema, env, alias) -> Sql:
        if e.value is None:
            if e.type == "string":
                return Sql("''", "string", False, "")
            return Sql(f"CAST(NULL AS {S.SQL_TYPES[e.type]})", e.type, True, None)
        if e.type == "bool":
            return Sql("TRUE" if e.value else "FALSE", "bool", False, e.value)
        sqltype = S.SQL_TYPES[e.type]
        return Sql(self.param(e.value, sqltype), e.type, False, e.value)

    def x_dynamicliteral(self, e: A.DynamicLiteral, schema, env, alias) -> Sql:
        if e.value is None:
            return Sql("CAST(NULL AS JSON)", "dynamic", True, None)
        text = json.dumps(e.value, separators=(",", ":"), ensure_ascii=False)
        return Sql(self.param(text, "JSON"), "dynamic", False, e.value)

    def x_name(self, e: A.Name, schema: S.Schema, env: Env, alias) -> Sql:
        col = schema.find(e.name)
        if col is not None:
            if self._refs is not None and schema is self._refs_schema:
                self._refs.add(col.sql)
            return Sql(f"{alias}.{q(col.sql)}", col.type, col.nullable)
        b = env.lookup(e.name)
        if b is not None:
            if b.kind == "scalar":
                # a let is evaluated where it was defined, against no row; a function
                # argument in the caller's row
                return self.expr(b.value, schema if b.in_row else S.Schema([]), b.env, alias)
            raise KqlError(f"{e.name!r} is a {b.kind} let, used here as a scalar", e.line, e.column)
        if e.name in S.UNRECORDED_STANDARD_COLUMNS:
            note = f"{e.name} is not recorded in exhunt's evidence; it reads as \"\""
            if note not in self.notes:
                self.notes.append(note)
            return Sql("''", "string", False, "")
        if e.name in ("null",):
            raise KqlError("a bare null needs a type: use string(null), long(null)...", e.line, e.column)
        raise KqlError(f"unknown column or name {e.name!r}", e.line, e.column)

    def x_sidename(self, e: A.SideName, schema, env, alias) -> Sql:
        raise KqlError("$left/$right are only allowed in join conditions", e.line, e.column)

    def x_star(self, e: A.Star, schema, env, alias) -> Sql:
        raise KqlError("'*' is not allowed here", e.line, e.column)

    def x_typeref(self, e: A.TypeRef, schema, env, alias) -> Sql:
        raise KqlError("typeof() is not allowed here", e.line, e.column)

    def x_member(self, e: A.Member, schema, env, alias) -> Sql:
        target = self.expr(e.target, schema, env, alias)
        if target.type != "dynamic":
            raise KqlError(f"'.{e.name}' needs a dynamic value, not {target.type}", e.line, e.column)
        return self.dyn_path(target, "/" + e.name.replace("~", "~0").replace("/", "~1"))

    def dyn_path(self, target: Sql, path: str) -> Sql:
        if target.is_const:
            value = _follow(target.const, path)
            if value is None:
                return Sql("CAST(NULL AS JSON)", "dynamic", True, None)
            return Sql(self.param(json.dumps(value, separators=(",", ":"), ensure_ascii=False), "JSON"),
                       "dynamic", False, value)
        return Sql(f"kqlx_member({target.sql}, {self.param(path, 'VARCHAR')})", "dynamic")

    def x_index(self, e: A.Index, schema, env, alias) -> Sql:
        target = self.expr(e.target, schema, env, alias)
        idx = self.expr(e.index, schema, env, alias)
        if target.type != "dynamic":
            raise KqlError(f"indexing needs a dynamic value, not {target.type}", e.line, e.column)
        if not idx.is_const or idx.const is None:
            raise KqlError("only constant indexes ([0], [-1], [\"key\"]) are supported", e.line, e.column)
        if isinstance(idx.const, str):
            return self.dyn_path(target, "/" + idx.const.replace("~", "~0").replace("/", "~1"))
        if isinstance(idx.const, int) and not isinstance(idx.const, bool):
            i = idx.const
            path = f"$[{i}]" if i >= 0 else f"$[#-{-i}]"
            if target.is_const:
                value = target.const
                try:
                    picked = value[i] if isinstance(value, list) else None
                except IndexError:
                    picked = None
                if picked is None:
                    return Sql("CAST(NULL AS JSON)", "dynamic", True, None)
                return Sql(self.param(json.dumps(picked, separators=(",", ":")), "JSON"), "dynamic", False, picked)
            return Sql(f"kqlx_member({target.sql}, {self.param(path, 'VARCHAR')})", "dynamic")
        raise KqlError("unsupported index type", e.line, e.column)

    def x_unary(self, e: A.Unary, schema, env, alias) -> Sql:
        v = self.expr(e.operand, schema, env, alias)
        if v.type not in ("int", "long", "real", "timespan"):
            raise KqlError(f"unary {e.op} needs a number", e.line, e.column)
        if e.op == "+":
            return v
        return Sql(f"(-{v.sql})", v.type, v.nullable)

    def x_call(self, e: A.Call, schema: S.Schema, env: Env, alias) -> Sql:
        b = env.lookup(e.name)
        if b is not None and b.kind == "function":
            fdef: A.FunctionDef = b.value
            if isinstance(fdef.body, A.Tabular):
                raise KqlError(f"{e.name}() returns a table, used here as a scalar", e.line, e.column)
            fenv = self.function_env(e.name, fdef, list(e.args), b.env, env, e)
            # arguments are evaluated in the caller's row
            for p, a in zip(fdef.params, e.args):
                fenv.names[p.name] = Binding("scalar", a, env, in_row=True)
            return self.expr(fdef.body, schema, fenv, alias)
        if e.name in AGGREGATES or e.name in KNOWN_UNSUPPORTED_AGGREGATES or e.name in ("arg_max", "arg_min"):
            raise KqlError(f"the aggregation function {e.name}() is only allowed in summarize",
                           e.line, e.column)
        spec = SCALAR.get(e.name)
        if spec is None:
            raise KqlError(f"the function {e.name}() is not supported", e.line, e.column)
        lo, hi, handler = spec
        if not lo <= len(e.args) <= hi:
            raise KqlError(f"{e.name}() takes {lo if lo == hi else f'{lo} to {hi}'} arguments",
                           e.line, e.column)
        args = [self.expr(a, schema, env, alias) for a in e.args]
        return handler(self, e, args)

    def x_between(self, e: A.Between, schema, env, alias) -> Sql:
        v = self.expr(e.left, schema, env, alias)
        lo = self.expr(e.low, schema, env, alias)
        hi = self.expr(e.high, schema, env, alias)
        if v.type == "datetime" and hi.type == "timespan":
            hi = Sql(f"({lo.sql} + to_microseconds({hi.sql}))", "datetime", lo.nullable or hi.nullable)
        for x in (lo, hi):
            ok = x.type == v.type or ({x.type, v.type} <= {"int", "long", "real"})
            if not ok:
                raise KqlError(f"between compares {v.type} with {x.type}", e.line, e.column)
        if v.type in ("string", "dynamic", "bool"):
            raise KqlError(f"between on a {v.type} value is not supported", e.line, e.column)
        sql = f"({v.sql} >= {lo.sql} AND {v.sql} <= {hi.sql})"
        if e.negated:
            sql = f"(NOT {sql})"
        return Sql(sql, "bool", v.nullable or lo.nullable or hi.nullable)

    def x_inlist(self, e: A.InList, schema, env, alias) -> Sql:
        v = self.expr(e.left, schema, env, alias)
        items = [self.expr(i, schema, env, alias) for i in e.items]
        op = e.op
        negated = op.startswith("!")
        base = op.lstrip("!")
        values = const_list(items, e)
        if base in ("has_any", "has_all"):
            hay = to_string(v)
            if values is None:
                raise KqlError(f"{base} needs constant terms", e.line, e.column)
            # one kql_has per term: a constant term lets DuckDB compile its regex once
            # (a list parameter would rebuild the pattern on every row)
            terms = [f"kql_has({hay.sql}, {self.param(kql_text(x), 'VARCHAR')})" for x in values]
            if not terms:
                sql = "FALSE" if base == "has_any" else "TRUE"
            else:
                sql = "(" + (" OR " if base == "has_any" else " AND ").join(terms) + ")"
        elif base == "in~":
            s = to_string(v)
            if values is not None:
                # fold the constants here, ASCII only, exactly as kql_fold does
                folded = [kql_text(x).translate(_ASCII_FOLD) for x in values]
                if folded:
                    sql = f"(kql_fold({s.sql}) IN ({', '.join(self.param(f, 'VARCHAR') for f in folded)}))"
                else:
                    sql = "FALSE"
            else:
                parts = [to_string(i).sql for i in items if i.type != "dynamic"]
                if len(parts) != len(items):
                    raise KqlError("in~ with a non-constant dynamic list is not supported", e.line, e.column)
                sql = f"kql_in_ci({s.sql}, [{', '.join(parts)}])"
        else:  # in
            if values is not None:
                if v.type in ("string", "guid"):
                    texts = [self.param(kql_text(x), "VARCHAR") for x in values]
                    sql = f"({v.sql} IN ({', '.join(texts)}))" if texts else "FALSE"
                elif v.type in ("int", "long", "real"):
                    nums = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)]
                    if len(nums) != len(values):
                        raise KqlError("'in' compares numbers with non-numbers", e.line, e.column)
                    sql = f"list_contains({self.param(nums, 'DOUBLE[]')}, CAST({v.sql} AS DOUBLE))"
                elif v.type == "dynamic":
                    raise KqlError("'in' on a dynamic value is not supported", e.line, e.column)
                else:
                    parts = [i.sql for i in items]
                    sql = f"({v.sql} IN ({', '.join(parts)}))"
            else:
                for i in items:
                    if i.type != v.type and not ({i.type, v.type} <= {"int", "long", "real"}):
                        raise KqlError(f"'in' compares {v.type} with {i.type}", e.line, e.column)
                sql = f"({v.sql} IN ({', '.join(i.sql for i in items)}))"
            if v.nullable:
                # null in (...) is false in KQL, and null !in (...) is true
                sql = f"coalesce({sql}, FALSE)"
        if negated:
            sql = f"(NOT {sql})"
        return Sql(sql, "bool", False)

    STRING_MACROS = {
        "contains": "kql_contains", "contains_cs": "kql_contains_cs", "has": "kql_has",
        "has_cs": "kql_has_cs", "startswith": "kql_startswith", "endswith": "kql_endswith",
        "startswith_cs": "starts_with", "endswith_cs": "ends_with", "hasprefix": "kqlx_hasprefix",
        "hassuffix": "kqlx_hassuffix", "hasprefix_cs": "kqlx_hasprefix_cs",
        "hassuffix_cs": "kqlx_hassuffix_cs",
    }

    def x_binary(self, e: A.Binary, schema, env, alias) -> Sql:
        op = e.op
        left = self.expr(e.left, schema, env, alias)
        right = self.expr(e.right, schema, env, alias)
        if op in ("and", "or"):
            for side in (left, right):
                if side.type != "bool":
                    raise KqlError(f"'{op}' needs bool operands, not {side.type}", e.line, e.column)
            return Sql(f"({left.sql} {op.upper()} {right.sql})", "bool", left.nullable or right.nullable)
        base = op.lstrip("!") if op not in ("!=", "!~") else op
        if base in self.STRING_MACROS:
            lhs, rhs = to_string(left), to_string(right)
            sql = f"{self.STRING_MACROS[base]}({lhs.sql}, {rhs.sql})"
            if op.startswith("!"):
                sql = f"(NOT {sql})"
            return Sql(sql, "bool", False)
        if op == "matches regex":
            lhs = to_string(left)
            if right.type != "string":
                raise KqlError("matches regex needs a string pattern", e.line, e.column)
            return Sql(f"regexp_matches({lhs.sql}, {right.sql})", "bool", False)
        if op in ("=~", "!~"):
            lhs, rhs = to_string(left), to_string(right)
            sql = f"(kql_fold({lhs.sql}) = kql_fold({rhs.sql}))"
            return Sql(sql if op == "=~" else f"(NOT {sql})", "bool", False)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self.compare(op, left, right, e)
        if op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(op, left, right, e)
        raise KqlError(f"the operator {op!r} is not supported", e.line, e.column)

    def compare(self, op: str, left: Sql, right: Sql, node: A.Node) -> Sql:
        left, right = coerce_for_compare(left, right), coerce_for_compare(right, left)
        lt, rt = left.type, right.type
        numeric = {"int", "long", "real"}
        if lt == "dynamic" and rt == "dynamic":
            if op not in ("==", "!="):
                raise KqlError("ordering dynamic values is not supported", node.line, node.column)
            left = Sql(f"CAST({left.sql} AS VARCHAR)", "string", left.nullable)
            right = Sql(f"CAST({right.sql} AS VARCHAR)", "string", right.nullable)
        elif not (lt == rt or {lt, rt} <= numeric or {lt, rt} <= {"string", "guid"}):
            null_literal = (left.is_const and left.const is None) or (right.is_const and right.const is None)
            if not null_literal:
                raise KqlError(f"cannot compare {lt} with {rt}", node.line, node.column)
        if op in ("==", "!="):
            if not left.nullable and not right.nullable:
                return Sql(f"({left.sql} {'=' if op == '==' else '<>'} {right.sql})", "bool", False)
            if any(side.is_const and side.const is not None for side in (left, right)):
                # Against a non-null constant, kqlx_eq/kqlx_ne reduce to this, with the other
                # operand written once: the macros repeat it three times, and
                # ipv4_is_private(cIP) == false ran six regular expressions per row.
                if op == "==":
                    return Sql(f"coalesce({left.sql} = {right.sql}, FALSE)", "bool", False)
                return Sql(f"coalesce({left.sql} <> {right.sql}, TRUE)", "bool", False)
            fn = "kqlx_eq" if op == "==" else "kqlx_ne"
            return Sql(f"{fn}({left.sql}, {right.sql})", "bool", True)
        return Sql(f"({left.sql} {op} {right.sql})", "bool", left.nullable or right.nullable)

    def arithmetic(self, op: str, a: Sql, b: Sql, node: A.Node) -> Sql:
        lt, rt = a.type, b.type
        nullable = a.nullable or b.nullable
        numeric = {"int", "long", "real"}
        if lt == "datetime" and rt == "timespan" and op in "+-":
            return Sql(f"({a.sql} {op} to_microseconds({b.sql}))", "datetime", nullable)
        if lt == "timespan" and rt == "datetime" and op == "+":
            return Sql(f"({b.sql} + to_microseconds({a.sql}))", "datetime", nullable)
        if lt == "datetime" and rt == "datetime" and op == "-":
            return Sql(f"(epoch_us({a.sql}) - epoch_us({b.sql}))", "timespan", nullable)
        if lt == "timespan" and rt == "timespan":
            if op in "+-%":
                return Sql(f"({a.sql} {op} {b.sql})", "timespan", nullable)
            if op == "/":
                return Sql(f"(CAST({a.sql} AS DOUBLE) / {b.sql})", "real", True)
        if lt == "timespan" and rt in numeric and op in "*/":
            return Sql(f"CAST({a.sql} {op} {b.sql} AS BIGINT)", "timespan", True)
        if rt == "timespan" and lt in numeric and op == "*":
            return Sql(f"CAST({a.sql} * {b.sql} AS BIGINT)", "timespan", nullable)
        if lt in numeric and rt in numeric:
            t = "real" if "real" in (lt, rt) else ("long" if "long" in (lt, rt) else "int")
            if op == "/":
                if t == "real":
                    return Sql(f"({a.sql} / nullif(CAST({b.sql} AS DOUBLE), 0))", "real", True)
                # integer division truncates toward zero, as in KQL
                return Sql(f"CAST(trunc({a.sql} / nullif({b.sql}, 0)) AS BIGINT)", t, True)
            if op == "%":
                return Sql(f"({a.sql} % nullif({b.sql}, 0))", t, True)
            return Sql(f"({a.sql} {op} {b.sql})", t, nullable)
        raise KqlError(f"cannot apply {op!r} to {lt} and {rt}", node.line, node.column)


def _col_type(schema: S.Schema, sql_name: str) -> str:
    return next(c.type for c in schema.columns if c.sql == sql_name)


def _flatten(e: A.Expr, op: str) -> list[A.Expr]:
    """The operands of a chain of one boolean operator: ``a and (b and c)`` -> [a, b, c]."""
    if isinstance(e, A.Binary) and e.op == op:
        return _flatten(e.left, op) + _flatten(e.right, op)
    return [e]


def _follow(value: Any, pointer: str) -> Any:
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value
