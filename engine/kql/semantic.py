"""What the compiler knows about names and types: the tables a query can read (with their
KQL column types), the row schema flowing between operators, the DuckDB type behind each
KQL type, and KQL's rules for naming columns the query does not name itself.

Naming rules follow Kusto.Language (Microsoft's own parser, ``ResultNameKind``): a column
reference keeps its name; an aggregate is ``<prefix>_<first argument>`` (``count_``,
``dcount_cIP``, ``set_csUserAgent`` for ``make_set``/``makeset``, ``list_x`` for
``make_list``); conversions and ``bin`` take their first argument's name (``tostring(x)`` is
``x``); anything else is ``Column1``, ``Column2``...; a name already taken gets a numeric
suffix (the right side of a join yields ``computer1``).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.tables import TABLES, Table

from . import ast as A
from .errors import KqlError, UnknownTable

# KQL type -> the DuckDB type exhunt uses for it. timespan is a BIGINT count of microseconds
# so that arithmetic, bin() and comparisons stay exact; the final SELECT turns it into an
# INTERVAL. dynamic is DuckDB JSON (KQL null is SQL NULL, never the JSON literal null).
SQL_TYPES = {
    "string": "VARCHAR", "long": "BIGINT", "int": "INTEGER", "real": "DOUBLE",
    "bool": "BOOLEAN", "datetime": "TIMESTAMP", "timespan": "BIGINT", "dynamic": "JSON",
    "guid": "VARCHAR", "decimal": "DOUBLE",
}
NUMERIC = {"int", "long", "real", "decimal"}

# Log Analytics columns every table has but exhunt's evidence never records. A query may
# read them (Sentinel hunts project _ResourceId); they read as "" and the run says so.
UNRECORDED_STANDARD_COLUMNS = {"_ResourceId", "_SubscriptionId"}


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    sql: str  # the column's SQL name in the step that produces it
    nullable: bool = True


class Schema:
    """The ordered columns of one step of the pipeline."""

    def __init__(self, columns: list[Col]) -> None:
        self.columns = columns

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def find(self, name: str) -> Col | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def get(self, name: str, node: A.Node) -> Col:
        col = self.find(name)
        if col is None:
            raise KqlError(f"unknown column {name!r}", node.line, node.column)
        return col


def table(name: str, node: A.Node) -> Table:
    """The table a query names, or UnknownTable naming what exhunt has."""
    found = TABLES.get(name)
    if found is None:
        known = ", ".join(sorted(TABLES))
        raise UnknownTable(
            f"table {name!r} does not exist in exhunt's evidence (exhunt has {known})",
            node.line, node.column)
    return found


def unique_name(name: str, taken: set[str]) -> str:
    """KQL's de-duplication: the first free of name, name1, name2..."""
    if name not in taken:
        return name
    i = 1
    while f"{name}{i}" in taken:
        i += 1
    return f"{name}{i}"


def next_column_n(taken: set[str]) -> str:
    i = 1
    while f"Column{i}" in taken:
        i += 1
    return f"Column{i}"


# Aggregates: KQL function -> prefix of the derived name (None: the first argument's name).
AGGREGATE_PREFIX = {
    "count": "count", "countif": "countif", "dcount": "dcount", "dcountif": "dcountif",
    "min": "min", "max": "max", "sum": "sum", "avg": "avg", "make_list": "list",
    "makelist": "list", "make_set": "set", "makeset": "set", "take_any": "any",
    "any": "any", "minif": "minif", "maxif": "maxif", "sumif": "sumif", "avgif": "avgif",
    "stdev": "stdev", "variance": "variance", "make_list_if": "list", "make_set_if": "set",
}
# Aggregates whose derived name has no argument part (count() -> count_).
AGGREGATE_NO_ARG_NAME = {"count", "countif"}
# Scalar functions whose result column takes the first argument's name.
FIRST_ARGUMENT_NAMED = {
    "tostring", "toint", "tolong", "todouble", "toreal", "todatetime", "tobool",
    "toboolean", "totimespan", "todecimal", "toguid", "bin", "floor",
}


def expression_name(expr: A.Expr) -> str | None:
    """The name KQL derives for an unnamed expression, or None (-> ColumnN)."""
    if isinstance(expr, A.Name):
        return expr.name
    if isinstance(expr, A.Member):
        base = expression_name(expr.target)
        return f"{base}_{expr.name}" if base else None
    if isinstance(expr, A.Index) and isinstance(expr.index, A.Literal) and \
            isinstance(expr.index.value, str):
        base = expression_name(expr.target)
        return f"{base}_{expr.index.value}" if base else None
    if isinstance(expr, A.Call):
        fname = expr.name
        if fname in FIRST_ARGUMENT_NAMED and expr.args:
            return expression_name(expr.args[0])
    return None


def aggregate_name(call: A.Call) -> str | None:
    prefix = AGGREGATE_PREFIX.get(call.name)
    if prefix is None:
        return None
    if call.name in AGGREGATE_NO_ARG_NAME or not call.args:
        return f"{prefix}_"
    arg = expression_name(call.args[0])
    return f"{prefix}_{arg}" if arg else f"{prefix}_"
