"""The small syntax tree the parser produces. Every node keeps its 1-based position so that
later stages can name the construct and where it is when they reject it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    line: int
    column: int


# ---------------------------------------------------------------- scalar expressions
@dataclass
class Expr(Node):
    pass


@dataclass
class Literal(Expr):
    value: Any  # Python value (str, int, float, bool, datetime, None)
    type: str  # KQL type: string long int real bool datetime timespan dynamic


@dataclass
class DynamicLiteral(Expr):
    value: Any  # JSON-ready Python value (list, dict, str, number, bool, None)


@dataclass
class Name(Expr):
    name: str


@dataclass
class SideName(Expr):  # $left.x / $right.x in join conditions
    side: str
    name: str


@dataclass
class Star(Expr):  # the `*` argument of arg_max(x, *)
    pass


@dataclass
class TypeRef(Expr):  # typeof(string)
    type: str


@dataclass
class Call(Expr):
    name: str
    args: list[Expr]


@dataclass
class Member(Expr):  # x.Type
    target: Expr
    name: str


@dataclass
class Index(Expr):  # x[0], x["k"]
    target: Expr
    index: Expr


@dataclass
class Unary(Expr):
    op: str  # "-" or "+"
    operand: Expr


@dataclass
class Binary(Expr):
    op: str  # and or == != < ... =~ !~ contains !has ... matches regex + - * / %
    left: Expr
    right: Expr


@dataclass
class InList(Expr):
    op: str  # in !in in~ !in~ has_any has_all
    left: Expr
    items: list[Expr]


@dataclass
class Between(Expr):
    negated: bool
    left: Expr
    low: Expr
    high: Expr


# ---------------------------------------------------------------- tabular operators
@dataclass
class Assignment(Node):
    name: str | None  # None when the column name is derived from the expression
    expr: Expr


@dataclass
class Operator(Node):
    pass


@dataclass
class Where(Operator):
    predicate: Expr


@dataclass
class Extend(Operator):
    items: list[Assignment]


@dataclass
class Project(Operator):
    items: list[Assignment]


@dataclass
class ProjectAway(Operator):
    names: list[tuple[str, int, int]]  # name (may hold * wildcards), line, column


@dataclass
class ProjectKeep(Operator):
    names: list[tuple[str, int, int]]


@dataclass
class ProjectReorder(Operator):
    names: list[tuple[str, int, int, str]]  # name, line, column, asc|desc|""


@dataclass
class ProjectRename(Operator):
    pairs: list[tuple[str, str, int, int]]  # new, old, line, column


@dataclass
class Summarize(Operator):
    aggregates: list[Assignment]
    by: list[Assignment]


@dataclass
class SortKey(Node):
    expr: Expr
    descending: bool
    nulls_first: bool | None  # None: KQL's default for the direction


@dataclass
class Sort(Operator):
    keys: list[SortKey]


@dataclass
class Top(Operator):
    count: Expr
    key: SortKey


@dataclass
class Take(Operator):
    count: Expr


@dataclass
class Distinct(Operator):
    items: list[Assignment] | None  # None means `distinct *`


@dataclass
class Count(Operator):
    pass


@dataclass
class Serialize(Operator):
    items: list[Assignment]


@dataclass
class JoinCondition(Node):
    left: str
    right: str


@dataclass
class Join(Operator):
    kind: str
    right: "Tabular"
    conditions: list[JoinCondition]


@dataclass
class Union(Operator):
    legs: list["Tabular"]
    fuzzy: bool
    with_source: str | None
    kind: str  # outer | inner


@dataclass
class MvExpandItem(Node):
    name: str | None
    expr: Expr
    to_type: str | None


@dataclass
class MvExpand(Operator):
    items: list[MvExpandItem]
    limit: int | None
    legacy: bool  # `mvexpand`: 128 values per row unless a limit is given


@dataclass
class ParsePattern(Node):
    kind: str  # "literal" | "column" | "star"
    value: str
    type: str = "string"


@dataclass
class Parse(Operator):
    expr: Expr
    kind: str  # simple | regex | relaxed
    patterns: list[ParsePattern]


@dataclass
class Tabular(Node):
    source: "Source"
    operators: list[Operator] = field(default_factory=list)


@dataclass
class Source(Node):
    pass


@dataclass
class TableRef(Source):
    name: str


@dataclass
class CallSource(Source):  # materialize(T), a tabular function let, datatable...
    name: str
    args: list[Any]


@dataclass
class SubQuery(Source):  # ( tabular )
    query: Tabular


@dataclass
class UnionSource(Source):
    union: Union


@dataclass
class DataTable(Source):
    columns: list[tuple[str, str]]
    values: list[Expr]


@dataclass
class PrintSource(Source):
    items: list[Assignment]


# ---------------------------------------------------------------- statements
@dataclass
class Param(Node):
    name: str
    type: str  # scalar type, or "table"
    default: Expr | None = None


@dataclass
class FunctionDef(Node):
    params: list[Param]
    lets: list["Let"]
    body: "Tabular | Expr"


@dataclass
class Let(Node):
    name: str
    value: "Expr | Tabular | FunctionDef"


@dataclass
class Query(Node):
    lets: list[Let]
    body: Tabular
