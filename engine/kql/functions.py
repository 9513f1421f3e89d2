"""KQL's scalar and aggregate functions, each mapped to DuckDB SQL with KQL's semantics.

A scalar handler receives the generator, the call node (for error positions) and the
already compiled arguments (:class:`Sql`), and returns the compiled result. Anything not in
these tables is rejected by name and position.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from . import ast as A
from .errors import KqlError

if TYPE_CHECKING:
    from .generator import Generator

NO_CONST = object()


@dataclass
class Sql:
    """A compiled scalar expression."""
    sql: str
    type: str
    nullable: bool = True
    const: Any = NO_CONST  # the value, when known at compile time (literals, lets)

    @property
    def is_const(self) -> bool:
        return self.const is not NO_CONST


def err(node: A.Node, message: str) -> KqlError:
    return KqlError(message, node.line, node.column)


# ---------------------------------------------------------------- conversions
def to_string(a: Sql) -> Sql:
    """KQL's tostring(): never null."""
    t = a.type
    if t in ("string", "guid"):
        return a
    if a.is_const and a.const is None:
        return Sql("''", "string", False, "")
    if t in ("long", "int"):
        sql = f"coalesce(CAST({a.sql} AS VARCHAR), '')"
    elif t == "real":
        # KQL prints an integral real without a fraction (118.0 -> "118")
        sql = (f"coalesce(CASE WHEN isfinite({a.sql}) AND {a.sql} = trunc({a.sql}) AND abs({a.sql}) < 1e15 "
               f"THEN CAST(CAST({a.sql} AS BIGINT) AS VARCHAR) ELSE CAST({a.sql} AS VARCHAR) END, '')")
    elif t == "bool":
        sql = f"(CASE WHEN {a.sql} THEN 'true' WHEN NOT {a.sql} THEN 'false' ELSE '' END)"
    elif t == "datetime":
        sql = f"coalesce(kqlx_iso({a.sql}), '')"
    elif t == "timespan":
        sql = f"kqlx_timespan_text({a.sql})"
    elif t == "dynamic":
        sql = f"kqlx_dyn_tostring({a.sql})"
    else:
        raise AssertionError(t)
    return Sql(sql, "string", False)


def to_dynamic(a: Sql) -> Sql:
    """A scalar as a JSON value (datetimes as ISO text, as KQL prints them)."""
    t = a.type
    if t == "dynamic":
        return a
    if t == "datetime":
        return Sql(f"to_json(kqlx_iso({a.sql}))", "dynamic")
    if t == "timespan":
        return Sql(f"(CASE WHEN {a.sql} IS NULL THEN NULL ELSE to_json(kqlx_timespan_text({a.sql})) END)",
                   "dynamic")
    return Sql(f"to_json({a.sql})", "dynamic", a.nullable)


def to_long(a: Sql, target: str = "long") -> Sql:
    sqltype = "INTEGER" if target == "int" else "BIGINT"
    t = a.type
    if t in ("long", "int"):
        return Sql(f"CAST({a.sql} AS {sqltype})", target, a.nullable)
    if t == "real":
        return Sql(f"TRY_CAST(trunc({a.sql}) AS {sqltype})", target)
    if t == "string":
        return Sql(f"CAST(kqlx_str_long({a.sql}) AS {sqltype})", target)
    if t == "bool":
        return Sql(f"CAST({a.sql} AS {sqltype})", target)
    if t == "dynamic":
        return Sql(f"CAST(kqlx_dyn_long({a.sql}) AS {sqltype})", target)
    if t == "datetime":
        # KQL: ticks (100 ns) since 0001-01-01
        return Sql(f"((epoch_us({a.sql}) + 62135596800000000) * 10)", target)
    if t == "timespan":
        return Sql(f"({a.sql} * 10)", target)
    raise AssertionError(t)


def to_real(a: Sql) -> Sql:
    t = a.type
    if t in ("long", "int", "real", "bool"):
        return Sql(f"CAST({a.sql} AS DOUBLE)", "real", a.nullable)
    if t == "string":
        return Sql(f"kqlx_str_real({a.sql})", "real")
    if t == "dynamic":
        return Sql(f"kqlx_dyn_real({a.sql})", "real")
    raise KqlError(f"cannot convert {t} to real")


def to_bool(a: Sql) -> Sql:
    t = a.type
    if t == "bool":
        return a
    if t in ("long", "int", "real"):
        return Sql(f"({a.sql} <> 0)", "bool", a.nullable)
    if t == "string":
        return Sql(f"(CASE WHEN lower({a.sql}) = 'true' THEN TRUE WHEN lower({a.sql}) = 'false' "
                   f"THEN FALSE ELSE TRY_CAST(TRY_CAST({a.sql} AS BIGINT) <> 0 AS BOOLEAN) END)", "bool")
    if t == "dynamic":
        return Sql(f"kqlx_dyn_bool({a.sql})", "bool")
    raise KqlError(f"cannot convert {t} to bool")


def to_datetime(a: Sql) -> Sql:
    t = a.type
    if t == "datetime":
        return a
    if t == "string":
        return Sql(f"CAST(TRY_CAST(nullif({a.sql}, '') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)",
                   "datetime")
    if t == "dynamic":
        return to_datetime(Sql(f"kqlx_dyn_string({a.sql})", "string"))
    raise KqlError(f"cannot convert {t} to datetime")


def coerce_for_compare(a: Sql, other: Sql) -> Sql:
    """The value of a dynamic operand as the other operand's type (null if it holds none)."""
    if a.type != "dynamic" or other.type == "dynamic":
        return a
    t = other.type
    if t in ("string", "guid"):
        return Sql(f"kqlx_dyn_string({a.sql})", "string")
    if t in ("long", "int", "real"):
        return Sql(f"kqlx_dyn_real({a.sql})", "real")
    if t == "bool":
        return Sql(f"kqlx_dyn_bool({a.sql})", "bool")
    if t == "datetime":
        return to_datetime(a)
    raise KqlError(f"cannot compare dynamic with {t}")


def const_list(items: list[Sql], node: A.Node) -> list[Any] | None:
    """The flattened values of constant list items (dynamic arrays expand), or None."""
    values: list[Any] = []
    for it in items:
        if not it.is_const:
            return None
        if isinstance(it.const, list):
            values.extend(it.const)
        else:
            values.append(it.const)
    return values


def kql_text(value: Any) -> str:
    """How KQL turns a constant into text (tostring semantics)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# ---------------------------------------------------------------- scalar functions
Handler = Callable[["Generator", A.Call, list[Sql]], Sql]
SCALAR: dict[str, tuple[int, int, Handler]] = {}


def scalar(name: str, min_args: int, max_args: int | None = None):
    def deco(fn: Handler) -> Handler:
        SCALAR[name] = (min_args, min_args if max_args is None else max_args, fn)
        return fn
    return deco



@scalar("tostring", 1)
def _tostring(g, call, args):
    return to_string(args[0])


@scalar("tolong", 1)
def _tolong(g, call, args):
    return to_long(args[0])


@scalar("toint", 1)
def _toint(g, call, args):
    return to_long(args[0], "int")


@scalar("todouble", 1)
def _todouble(g, call, args):
    return to_real(args[0])


SCALAR["toreal"] = SCALAR["todouble"]


@scalar("tobool", 1)
def _tobool(g, call, args):
    return to_bool(args[0])


SCALAR["toboolean"] = SCALAR["tobool"]


@scalar("todatetime", 1)
def _todatetime(g, call, args):
    return to_datetime(args[0])


@scalar("todynamic", 1)
def _todynamic(g, call, args):
    a = args[0]
    if a.type == "string":
        return Sql(f"kqlx_parse_json({a.sql})", "dynamic")
    return to_dynamic(a)


SCALAR["parse_json"] = SCALAR["todynamic"]


@scalar("tolower", 1)
def _tolower(g, call, args):
    # KQL's tolower folds Unicode letters too (unlike its case-insensitive operators).
    return Sql(f"lower({to_string(args[0]).sql})", "string", False)


@scalar("toupper", 1)
def _toupper(g, call, args):
    return Sql(f"upper({to_string(args[0]).sql})", "string", False)


@scalar("strcat", 1, 64)
def _strcat(g, call, args):
    parts = ", ".join(to_string(a).sql for a in args)
    return Sql(f"concat({parts})", "string", False)


@scalar("strlen", 1)
def _strlen(g, call, args):
    return Sql(f"CAST(length({to_string(args[0]).sql}) AS BIGINT)", "long", False)


@scalar("string_size", 1)
def _string_size(g, call, args):
    # bytes of the UTF-8 encoding
    return Sql(f"CAST(octet_length(encode({to_string(args[0]).sql})) AS BIGINT)", "long", False)


@scalar("isempty", 1)
def _isempty(g, call, args):
    a = args[0]
    if a.type == "string":
        return Sql(f"({a.sql} = '')", "bool", False)
    if a.type == "dynamic":
        return Sql(f"kqlx_dyn_isempty({a.sql})", "bool", False)
    return Sql(f"({a.sql} IS NULL)", "bool", False)


@scalar("isnotempty", 1)
def _isnotempty(g, call, args):
    inner = _isempty(g, call, args)
    return Sql(f"(NOT {inner.sql})", "bool", False)


SCALAR["notempty"] = SCALAR["isnotempty"]


@scalar("isnull", 1)
def _isnull(g, call, args):
    a = args[0]
    if a.type == "string":
        return Sql("FALSE", "bool", False)
    return Sql(f"({a.sql} IS NULL)", "bool", False)


@scalar("isnotnull", 1)
def _isnotnull(g, call, args):
    a = args[0]
    if a.type == "string":
        return Sql("TRUE", "bool", False)
    return Sql(f"({a.sql} IS NOT NULL)", "bool", False)


SCALAR["notnull"] = SCALAR["isnotnull"]


@scalar("not", 1)
def _not(g, call, args):
    a = args[0]
    if a.type != "bool":
        raise err(call, "not() needs a bool argument")
    return Sql(f"(NOT {a.sql})", "bool", a.nullable)


def _unify(call: A.Call, values: list[Sql]) -> str:
    types = {v.type for v in values if not (v.is_const and v.const is None)}
    if not types:
        return values[0].type
    if len(types) == 1:
        return types.pop()
    if types <= {"int", "long"}:
        return "long"
    if types <= {"int", "long", "real"}:
        return "real"
    raise err(call, f"{call.name}() branches have different types: {', '.join(sorted(types))}")


def _as_type(v: Sql, t: str) -> str:
    if v.is_const and v.const is None:
        return "''" if t == "string" else f"CAST(NULL AS {_sqltype(t)})"
    if v.type == t:
        return v.sql
    return f"CAST({v.sql} AS {_sqltype(t)})"


def _sqltype(t: str) -> str:
    from .semantic import SQL_TYPES
    return SQL_TYPES[t]


@scalar("iff", 3)
def _iff(g, call, args):
    cond, a, b = args
    if cond.type != "bool":
        raise err(call, "iff() needs a bool condition")
    t = _unify(call, [a, b])
    # a null condition picks the else branch, as in KQL
    return Sql(f"(CASE WHEN {cond.sql} THEN {_as_type(a, t)} ELSE {_as_type(b, t)} END)", t,
               a.nullable or b.nullable)


SCALAR["iif"] = SCALAR["iff"]


@scalar("case", 3, 999)
def _case(g, call, args):
    if len(args) % 2 == 0:
        raise err(call, "case() needs pairs of predicate, value and a final else value")
    values = [args[i] for i in range(1, len(args), 2)] + [args[-1]]
    t = _unify(call, values)
    parts = []
    for i in range(0, len(args) - 1, 2):
        if args[i].type != "bool":
            raise err(call, "case() predicates must be bool")
        parts.append(f"WHEN {args[i].sql} THEN {_as_type(args[i + 1], t)}")
    return Sql(f"(CASE {' '.join(parts)} ELSE {_as_type(args[-1], t)} END)", t,
               any(v.nullable for v in values))


@scalar("coalesce", 2, 64)
def _coalesce(g, call, args):
    t = _unify(call, args)
    if t == "string":
        # strings are never null: KQL's coalesce returns the first non-empty string
        parts = " ".join(f"WHEN {_as_type(a, t)} <> '' THEN {_as_type(a, t)}" for a in args)
        return Sql(f"(CASE {parts} ELSE '' END)", "string", False)
    return Sql(f"coalesce({', '.join(_as_type(a, t) for a in args)})", t)


@scalar("split", 2, 3)
def _split(g, call, args):
    s = to_string(args[0])
    d = to_string(args[1])
    if d.is_const and d.const == "":
        raise err(call, "split() with an empty delimiter is not supported")
    lst = f"string_split({s.sql}, {d.sql})"
    if len(args) == 3:
        idx = args[2]
        if not (idx.is_const and isinstance(idx.const, int) and idx.const >= 0):
            raise err(call, "split()'s index must be a non-negative integer literal")
        return Sql(f"(CASE WHEN len({lst}) > {idx.const} THEN to_json([{lst}[{idx.const + 1}]]) "
                   f"ELSE to_json([]::VARCHAR[]) END)", "dynamic", False)
    return Sql(f"to_json({lst})", "dynamic", False)


@scalar("array_length", 1)
def _array_length(g, call, args):
    if args[0].type != "dynamic":
        raise err(call, "array_length() needs a dynamic argument")
    return Sql(f"kqlx_array_length({args[0].sql})", "long")


SCALAR["arraylength"] = SCALAR["array_length"]


@scalar("bag_keys", 1)
def _bag_keys(g, call, args):
    if args[0].type != "dynamic":
        raise err(call, "bag_keys() needs a dynamic argument")
    return Sql(f"kqlx_bag_keys({args[0].sql})", "dynamic")


@scalar("url_decode", 1)
def _url_decode(g, call, args):
    return Sql(f"kqlx_url_decode({to_string(args[0]).sql})", "string", False)


@scalar("tohex", 1, 2)
def _tohex(g, call, args):
    a = args[0]
    if a.type not in ("long", "int"):
        raise err(call, "tohex() needs an int or long argument")
    if len(args) == 2:
        n = args[1]
        if not n.is_const:
            raise err(call, "tohex()'s minimum length must be a literal")
        return Sql(f"lpad(kqlx_tohex({a.sql}), greatest({int(n.const)}, length(kqlx_tohex({a.sql}))), '0')",
                   "string", False)
    return Sql(f"kqlx_tohex({a.sql})", "string", False)


@scalar("now", 0, 1)
def _now(g, call, args):
    base = g.now_sql()
    if args:
        return Sql(f"({base} + to_microseconds({args[0].sql}))", "datetime", False)
    return Sql(base, "datetime", False)


@scalar("ago", 1)
def _ago(g, call, args):
    a = args[0]
    if a.type != "timespan":
        raise err(call, "ago() needs a timespan argument")
    return Sql(f"({g.now_sql()} - to_microseconds({a.sql}))", "datetime", a.nullable)


@scalar("bin", 2)
def _bin(g, call, args):
    v, size = args
    if v.type == "datetime":
        if size.type != "timespan":
            raise err(call, "bin() of a datetime needs a timespan size")
        return Sql(f"kqlx_bin_datetime({v.sql}, {size.sql})", "datetime")
    if v.type == "timespan":
        return Sql(f"(({v.sql} // {size.sql}) * {size.sql})", "timespan")
    if v.type in ("long", "int"):
        if size.type in ("long", "int"):
            return Sql(f"CAST(floor({v.sql} / {size.sql}) * {size.sql} AS BIGINT)", "long")
        return Sql(f"(floor({v.sql} / {size.sql}) * {size.sql})", "real")
    if v.type == "real":
        return Sql(f"(floor({v.sql} / {size.sql}) * {size.sql})", "real")
    raise err(call, f"bin() of a {v.type} is not supported")


SCALAR["floor"] = SCALAR["bin"]


@scalar("extract", 3, 4)
def _extract(g, call, args):
    regex, group, text = args[0], args[1], to_string(args[2])
    if not (group.is_const and isinstance(group.const, int)):
        raise err(call, "extract()'s capture group must be an integer literal")
    if len(args) == 4:
        raise err(call, "extract() with a typeof() result is not supported")
    # KQL: "" when there is no match (strings are never null)
    return Sql(f"(CASE WHEN regexp_matches({text.sql}, {regex.sql}) THEN "
               f"regexp_extract({text.sql}, {regex.sql}, {group.const}) ELSE '' END)", "string", False)


@scalar("replace_string", 3)
def _replace_string(g, call, args):
    s, old, new = (to_string(a) for a in args)
    return Sql(f"(CASE WHEN {old.sql} = '' THEN {s.sql} ELSE replace({s.sql}, {old.sql}, {new.sql}) END)",
               "string", False)


@scalar("replace_regex", 3)
def _replace_regex(g, call, args):
    s, regex, rewrite = to_string(args[0]), args[1], to_string(args[2])
    # KQL's rewrite uses \1 for groups, as RE2 (DuckDB) does.
    return Sql(f"regexp_replace({s.sql}, {regex.sql}, {rewrite.sql}, 'g')", "string", False)


@scalar("replace", 3)
def _replace_legacy(g, call, args):
    # replace(regex, rewrite, text): the deprecated spelling of replace_regex
    return _replace_regex(g, call, [args[2], args[0], args[1]])


@scalar("trim", 2)
def _trim(g, call, args):
    regex, s = args[0], to_string(args[1])
    return Sql(f"regexp_replace(regexp_replace({s.sql}, '^(?:' || {regex.sql} || ')', ''), "
               f"'(?:' || {regex.sql} || ')$', '')", "string", False)


@scalar("substring", 2, 3)
def _substring(g, call, args):
    s = to_string(args[0])
    start = args[1].sql
    if len(args) == 3:
        return Sql(f"coalesce(substring({s.sql}, greatest({start}, 0) + 1, greatest({args[2].sql}, 0)), '')",
                   "string", False)
    return Sql(f"coalesce(substring({s.sql}, greatest({start}, 0) + 1), '')", "string", False)


@scalar("indexof", 2)
def _indexof(g, call, args):
    s, needle = to_string(args[0]), to_string(args[1])
    return Sql(f"CAST(strpos({s.sql}, {needle.sql}) - 1 AS BIGINT)", "long", False)


@scalar("strcat_array", 2)
def _strcat_array(g, call, args):
    arr, d = args[0], to_string(args[1])
    return Sql(f"coalesce(array_to_string(list_transform(json_extract(CASE WHEN json_type({arr.sql}) = 'ARRAY' "
               f"THEN {arr.sql} ELSE '[]'::JSON END, '$[*]'), lambda x: kqlx_dyn_tostring(x)), {d.sql}), '')",
               "string", False)


@scalar("ipv4_is_private", 1)
def _ipv4_is_private(g, call, args):
    return Sql(f"kql_ipv4_is_private({to_string(args[0]).sql})", "bool")


@scalar("parse_ipv4", 1)
def _parse_ipv4(g, call, args):
    s = to_string(args[0]).sql
    return Sql(f"(CASE WHEN kql_ipv4_valid({s}) AND NOT contains({s}, '/') THEN "
               f"CAST(list_reduce(kql_ipv4_octets({s}), lambda a, b: CAST(a AS BIGINT) * 256 + b) AS BIGINT) ELSE NULL END)",
               "long")


@scalar("ipv4_is_in_range", 2)
def _ipv4_is_in_range(g, call, args):
    ip, rng = to_string(args[0]).sql, to_string(args[1]).sql
    return Sql(f"kqlx_ipv4_in_range({ip}, {rng})", "bool")


@scalar("ipv4_compare", 2, 3)
def _ipv4_compare(g, call, args):
    a, b = to_string(args[0]).sql, to_string(args[1]).sql
    mask = args[2].sql if len(args) == 3 else "32"
    return Sql(f"kqlx_ipv4_compare({a}, {b}, {mask})", "long")


@scalar("ipv4_is_match", 2, 3)
def _ipv4_is_match(g, call, args):
    c = _ipv4_compare(g, call, args)
    return Sql(f"({c.sql} = 0)", "bool")



@scalar("strrep", 2, 3)
def _strrep(g, call, args):
    s = to_string(args[0])
    sep = to_string(args[2]).sql if len(args) == 3 else "''"
    n = args[1].sql
    return Sql(f"coalesce(array_to_string(list_transform(range(greatest({n}, 0)), lambda i: {s.sql}), {sep}), '')",
               "string", False)




@scalar("startofday", 1)
def _startofday(g, call, args):
    return Sql(f"date_trunc('day', {args[0].sql})", "datetime")


@scalar("abs", 1)
def _abs(g, call, args):
    return Sql(f"abs({args[0].sql})", args[0].type, args[0].nullable)


@scalar("round", 1, 2)
def _round(g, call, args):
    digits = args[1].sql if len(args) == 2 else "0"
    return Sql(f"round({args[0].sql}, {digits})", "real" if args[0].type == "real" else args[0].type)


@scalar("countof", 2, 3)
def _countof(g, call, args):
    s, needle = to_string(args[0]), to_string(args[1])
    if len(args) == 3:
        kind = args[2]
        if not kind.is_const or kind.const not in ("normal", "regex"):
            raise err(call, "countof()'s kind must be \"normal\" or \"regex\"")
        if kind.const == "regex":
            return Sql(f"CAST(len(regexp_extract_all({s.sql}, {needle.sql})) AS BIGINT)", "long", False)
    # overlapping occurrences, as KQL counts them
    return Sql(f"CAST((CASE WHEN {needle.sql} = '' THEN 0 ELSE len(list_filter(range(length({s.sql})), "
               f"lambda i: substring({s.sql}, i + 1, length({needle.sql})) = {needle.sql})) END) AS BIGINT)",
               "long", False)


# ---------------------------------------------------------------- aggregates
@dataclass
class Aggregate:
    sql: str
    type: str
    nullable: bool = True


AggHandler = Callable[["Generator", A.Call, list[Sql]], Aggregate]
AGGREGATES: dict[str, tuple[int, int, AggHandler]] = {}


def aggregate(name: str, min_args: int, max_args: int | None = None):
    def deco(fn: AggHandler) -> AggHandler:
        AGGREGATES[name] = (min_args, min_args if max_args is None else max_args, fn)
        return fn
    return deco


@aggregate("count", 0, 1)
def _agg_count(g, call, args):
    if args:
        return Aggregate(f"count({args[0].sql})", "long", False)
    return Aggregate("count(*)", "long", False)


@aggregate("countif", 1)
def _agg_countif(g, call, args):
    if args[0].type != "bool":
        raise err(call, "countif() needs a bool predicate")
    return Aggregate(f"count_if({args[0].sql})", "long", False)


def _distinct_value(a: Sql) -> str:
    return f"CAST({a.sql} AS VARCHAR)" if a.type == "dynamic" else a.sql


@aggregate("dcount", 1, 2)
def _agg_dcount(g, call, args):
    # KQL's dcount is an estimate that is exact below 1000 distinct values; exhunt counts
    # exactly. Nulls are skipped; "" is a value.
    return Aggregate(f"count(DISTINCT {_distinct_value(args[0])})", "long", False)


@aggregate("dcountif", 2, 3)
def _agg_dcountif(g, call, args):
    if args[1].type != "bool":
        raise err(call, "dcountif() needs a bool predicate")
    return Aggregate(f"count(DISTINCT {_distinct_value(args[0])}) FILTER (WHERE {args[1].sql})", "long", False)


def _minmax(fn: str):
    def handler(g, call, args):
        a = args[0]
        if a.type == "dynamic":
            raise err(call, f"{call.name}() of a dynamic value is not supported")
        if a.type == "string":
            return Aggregate(f"coalesce({fn}({a.sql}), '')", "string", False)
        return Aggregate(f"{fn}({a.sql})", a.type)
    return handler


aggregate("min", 1)(_minmax("min"))
aggregate("max", 1)(_minmax("max"))


@aggregate("sum", 1)
def _agg_sum(g, call, args):
    a = args[0]
    if a.type not in ("int", "long", "real", "timespan"):
        raise err(call, f"sum() of a {a.type} is not supported")
    t = "long" if a.type in ("int", "long") else a.type
    sqltype = "DOUBLE" if t == "real" else "BIGINT"
    return Aggregate(f"CAST(sum({a.sql}) AS {sqltype})", t)


@aggregate("avg", 1)
def _agg_avg(g, call, args):
    a = args[0]
    if a.type not in ("int", "long", "real"):
        raise err(call, f"avg() of a {a.type} is not supported")
    return Aggregate(f"avg({a.sql})", "real")


def _make_list(distinct: bool, default_limit: int):
    def handler(g, call, args):
        a = args[0]
        if a.type == "dynamic":
            raise err(call, f"{call.name}() of a dynamic value is not supported")
        limit = default_limit
        if len(args) == 2:
            if not (args[1].is_const and isinstance(args[1].const, int)):
                raise err(call, f"{call.name}()'s maximum size must be an integer literal")
            limit = args[1].const
        element = a.sql
        if a.type == "datetime":
            element = f"kqlx_iso({a.sql})"
        elif a.type == "timespan":
            element = f"kqlx_timespan_text({a.sql})"
        agg = f"list({'DISTINCT ' if distinct else ''}{element}) FILTER (WHERE {a.sql} IS NOT NULL)"
        return Aggregate(f"coalesce(to_json(({agg})[1:{limit}]), '[]'::JSON)", "dynamic", False)
    return handler


_MAX = 1_048_576
aggregate("make_list", 1, 2)(_make_list(False, _MAX))
aggregate("make_set", 1, 2)(_make_list(True, _MAX))
# The legacy spellings keep their old default of 128 values.
aggregate("makelist", 1, 2)(_make_list(False, 128))
aggregate("makeset", 1, 2)(_make_list(True, 128))


@aggregate("take_any", 1)
def _agg_take_any(g, call, args):
    a = args[0]
    return Aggregate(f"any_value({a.sql})", a.type, a.type != "string")


AGGREGATES["any"] = AGGREGATES["take_any"]

# Anything listed here is named in errors as an aggregate exhunt does not implement.
KNOWN_UNSUPPORTED_AGGREGATES = {
    "percentile", "percentiles", "stdev", "variance", "hll", "tdigest", "make_bag",
    "make_list_if", "make_set_if", "sumif", "avgif", "minif", "maxif", "make_list_with_nulls",
    "binary_all_or", "buildschema",
}

REGEX_META = re.compile(r"([\\.^$|?*+()\[\]{}])")


def regex_escape(text: str) -> str:
    return REGEX_META.sub(r"\\\1", text)
