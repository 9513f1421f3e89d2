"""Recursive-descent parser from tokens to the syntax tree in :mod:`ast`.

The parser knows KQL's grammar only; whether a name is a column, a let or a table, and
whether a function exists, is the semantic pass's business. Anything it cannot parse is a
:class:`KqlError` naming the token and its position.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from . import ast as A
from .errors import KqlError
from .tokenizer import Token, tokenize

# string / comparison operators that take one right operand
STRING_OPS = {
    "contains", "contains_cs", "has", "has_cs", "hasprefix", "hasprefix_cs", "hassuffix",
    "hassuffix_cs", "startswith", "startswith_cs", "endswith", "endswith_cs",
}
LIST_OPS = {"in", "!in", "in~", "!in~", "has_any", "has_all", "!has_any", "!has_all"}
COMPARISON_OPS = {"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~"}
SCALAR_TYPES = {"string", "int", "long", "real", "double", "bool", "boolean", "datetime",
                "date", "timespan", "time", "dynamic", "guid", "decimal", "uniqueid"}
TABULAR_KEYWORDS = {"union", "materialize", "datatable", "print", "range", "view"}


def parse(text: str, table_names: set[str] | frozenset[str] = frozenset()) -> A.Query:
    return _Parser(tokenize(text), table_names).query()


class _Parser:
    def __init__(self, tokens: list[Token], table_names) -> None:
        self.tokens = tokens
        self.i = 0
        self.table_names = set(table_names)
        self.tabular_lets: set[str] = set()

    # ------------------------------------------------------------ helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != "EOF":
            self.i += 1
        return t

    def error(self, message: str, tok: Token | None = None) -> KqlError:
        tok = tok or self.tok
        return KqlError(message, tok.line, tok.column)

    def describe(self, tok: Token) -> str:
        return "end of query" if tok.kind == "EOF" else repr(tok.text or str(tok.value))

    def expect_op(self, op: str) -> Token:
        if not self.tok.is_op(op):
            raise self.error(f"expected {op!r} but found {self.describe(self.tok)}")
        return self.advance()

    def accept_op(self, op: str) -> bool:
        if self.tok.is_op(op):
            self.advance()
            return True
        return False

    def accept_word(self, *words: str) -> str | None:
        if self.tok.kind == "IDENT" and self.tok.value in words:
            return str(self.advance().value)
        return None

    def expect_word(self, word: str) -> Token:
        if not self.tok.is_word(word):
            raise self.error(f"expected {word!r} but found {self.describe(self.tok)}")
        return self.advance()

    def ident(self, what: str = "a name") -> str:
        t = self.tok
        if t.kind == "IDENT":
            self.advance()
            return str(t.value)
        if t.is_op("[") and self.peek().kind == "STRING" and self.peek(2).is_op("]"):
            self.advance()
            name = str(self.advance().value)
            self.advance()
            return name
        raise self.error(f"expected {what} but found {self.describe(t)}")

    # ------------------------------------------------------------ statements
    def query(self) -> A.Query:
        lets: list[A.Let] = []
        body: A.Tabular | None = None
        start = self.tok
        while self.tok.kind != "EOF":
            if self.tok.is_word("let"):
                lets.append(self.let())
            elif self.tok.is_word("set", "declare", "alias", "pattern", "restrict"):
                raise self.error(f"the {self.tok.value!r} statement is not supported")
            else:
                if body is not None:
                    raise self.error("only one tabular expression statement is supported")
                body = self.tabular()
            if not self.accept_op(";"):
                if self.tok.is_op("="):
                    raise self.error("'=' assigns; compare with '=='")
                if self.tok.kind != "EOF":
                    raise self.error(f"expected ';' or '|' but found {self.describe(self.tok)}")
        if body is None:
            raise KqlError("the query has no tabular expression to run", start.line, start.column)
        return A.Query(start.line, start.column, lets, body)

    def let(self) -> A.Let:
        start = self.expect_word("let")
        name = self.ident("the let name")
        self.expect_op("=")
        if self.starts_function_def():
            value: Any = self.function_def()
            if isinstance(value.body, A.Tabular):
                self.tabular_lets.add(name)
        elif self.starts_tabular():
            value = self.tabular()
            self.tabular_lets.add(name)
        else:
            value = self.expr()
        return A.Let(start.line, start.column, name, value)

    def starts_function_def(self) -> bool:
        if not self.tok.is_op("("):
            return False
        nxt = self.peek()
        if nxt.is_op(")"):
            return self.peek(2).is_op("{")
        return nxt.kind == "IDENT" and self.peek(2).is_op(":")

    def function_def(self) -> A.FunctionDef:
        start = self.expect_op("(")
        params: list[A.Param] = []
        while not self.tok.is_op(")"):
            ptok = self.tok
            pname = self.ident("a parameter name")
            self.expect_op(":")
            if self.tok.is_op("("):
                # tabular parameter: (*) or (col:type, ...)
                depth = 0
                while True:
                    t = self.advance()
                    if t.is_op("("):
                        depth += 1
                    elif t.is_op(")"):
                        depth -= 1
                        if depth == 0:
                            break
                    elif t.kind == "EOF":
                        raise self.error("unterminated tabular parameter")
                ptype = "table"
            else:
                ptype = self.type_name()
            default = None
            if self.accept_op("="):
                default = self.expr()
            params.append(A.Param(ptok.line, ptok.column, pname, ptype, default))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        self.expect_op("{")
        lets: list[A.Let] = []
        saved = set(self.tabular_lets)
        self.tabular_lets |= {p.name for p in params if p.type == "table"}
        while self.tok.is_word("let"):
            lets.append(self.let())
            self.expect_op(";")
        body: Any = self.tabular() if self.starts_tabular() else self.expr()
        self.accept_op(";")
        self.expect_op("}")
        self.tabular_lets = saved
        return A.FunctionDef(start.line, start.column, params, lets, body)

    def type_name(self) -> str:
        t = self.tok
        name = self.ident("a type name")
        if name not in SCALAR_TYPES:
            raise self.error(f"unknown type {name!r}", t)
        return _canonical_type(name)

    def starts_tabular(self, k: int = 0) -> bool:
        t = self.peek(k) if k else self.tok
        if t.is_op("("):
            return self.starts_tabular(k + 1)
        if t.kind != "IDENT":
            return False
        nxt = self.peek(k + 1)
        if t.value in self.table_names or t.value in self.tabular_lets:
            return True
        if t.value in TABULAR_KEYWORDS:
            return True
        return nxt.is_op("|")

    # ------------------------------------------------------------ tabular expressions
    def tabular(self) -> A.Tabular:
        start = self.tok
        source = self.source()
        ops: list[A.Operator] = []
        while self.accept_op("|"):
            ops.append(self.operator())
        return A.Tabular(start.line, start.column, source, ops)

    def source(self) -> A.Source:
        t = self.tok
        if t.is_op("("):
            self.advance()
            inner = self.tabular()
            self.expect_op(")")
            return A.SubQuery(t.line, t.column, inner)
        if t.is_word("union"):
            self.advance()
            return A.UnionSource(t.line, t.column, self.union_body(t))
        if t.is_word("print"):
            self.advance()
            return A.PrintSource(t.line, t.column, self.assignments())
        if t.is_word("datatable"):
            return self.datatable()
        name = self.ident("a table name")
        if self.tok.is_op("("):
            self.advance()
            args: list[Any] = []
            while not self.tok.is_op(")"):
                args.append(self.tabular() if self.starts_tabular() else self.expr())
                if not self.accept_op(","):
                    break
            self.expect_op(")")
            return A.CallSource(t.line, t.column, name, args)
        return A.TableRef(t.line, t.column, name)

    def datatable(self) -> A.DataTable:
        t = self.expect_word("datatable")
        self.expect_op("(")
        cols: list[tuple[str, str]] = []
        while not self.tok.is_op(")"):
            cname = self.ident("a column name")
            self.expect_op(":")
            cols.append((cname, self.type_name()))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        self.expect_op("[")
        values: list[A.Expr] = []
        while not self.tok.is_op("]"):
            values.append(self.expr())
            if not self.accept_op(","):
                break
        self.expect_op("]")
        return A.DataTable(t.line, t.column, cols, values)

    def operator(self) -> A.Operator:
        t = self.tok
        if t.kind != "IDENT":
            raise self.error(f"expected a tabular operator after '|' but found {self.describe(t)}")
        word = str(t.value)
        method = getattr(self, "op_" + word.replace("-", "_"), None)
        if method is None or word.startswith("_"):
            raise self.error(f"the tabular operator {word!r} is not supported")
        self.advance()
        return method(t)

    def op_where(self, t: Token) -> A.Operator:
        return A.Where(t.line, t.column, self.expr())

    op_filter = op_where

    def op_extend(self, t: Token) -> A.Operator:
        return A.Extend(t.line, t.column, self.assignments())

    def op_project(self, t: Token) -> A.Operator:
        return A.Project(t.line, t.column, self.assignments())

    def name_list(self, wildcards: bool = True) -> list[tuple[str, int, int]]:
        names = []
        while True:
            nt = self.tok
            name = self.ident("a column name")
            while wildcards and self.tok.is_op("*"):
                self.advance()
                name += "*"
                if self.tok.kind == "IDENT" and self.tok.column == self.tokens[self.i - 1].column + 1:
                    name += str(self.advance().value)
            names.append((name, nt.line, nt.column))
            if not self.accept_op(","):
                return names

    def op_project_away(self, t: Token) -> A.Operator:
        return A.ProjectAway(t.line, t.column, self.name_list())

    def op_project_keep(self, t: Token) -> A.Operator:
        return A.ProjectKeep(t.line, t.column, self.name_list())

    def op_project_reorder(self, t: Token) -> A.Operator:
        items = []
        for name, line, col in self.name_list():
            order = self.accept_word("asc", "desc", "granny-asc", "granny-desc") or ""
            if order.startswith("granny"):
                raise self.error("project-reorder granny-asc/granny-desc is not supported")
            items.append((name, line, col, order))
        return A.ProjectReorder(t.line, t.column, items)

    def op_project_rename(self, t: Token) -> A.Operator:
        pairs = []
        while True:
            nt = self.tok
            new = self.ident("a column name")
            self.expect_op("=")
            old = self.ident("a column name")
            pairs.append((new, old, nt.line, nt.column))
            if not self.accept_op(","):
                return A.ProjectRename(t.line, t.column, pairs)

    def op_summarize(self, t: Token) -> A.Operator:
        self.skip_hints("summarize")
        aggs: list[A.Assignment] = []
        if not self.tok.is_word("by"):
            aggs = self.assignments()
        by: list[A.Assignment] = []
        if self.accept_word("by"):
            by = self.assignments()
        return A.Summarize(t.line, t.column, aggs, by)

    def skip_hints(self, what: str) -> None:
        while self.tok.kind == "IDENT" and str(self.tok.value).startswith("hint") and \
                (self.peek().is_op(".") or self.peek().is_op("=")):
            # hint.strategy=shuffle etc. change performance only, never results
            self.advance()
            while self.accept_op("."):
                self.ident()
            self.expect_op("=")
            self.advance()

    def sort_key(self) -> A.SortKey:
        t = self.tok
        e = self.expr()
        direction = self.accept_word("asc", "desc")
        nulls = None
        if self.accept_word("nulls"):
            which = self.accept_word("first", "last")
            if which is None:
                raise self.error("expected 'first' or 'last' after 'nulls'")
            nulls = which == "first"
        return A.SortKey(t.line, t.column, e, direction != "asc", nulls)

    def op_sort(self, t: Token) -> A.Operator:
        self.skip_hints("sort")
        self.expect_word("by")
        keys = [self.sort_key()]
        while self.accept_op(","):
            keys.append(self.sort_key())
        return A.Sort(t.line, t.column, keys)

    op_order = op_sort

    def op_top(self, t: Token) -> A.Operator:
        count = self.expr()
        self.expect_word("by")
        key = self.sort_key()
        if self.tok.is_op(","):
            raise self.error("top with more than one sort key is not KQL")
        return A.Top(t.line, t.column, count, key)

    def op_take(self, t: Token) -> A.Operator:
        return A.Take(t.line, t.column, self.expr())

    op_limit = op_take

    def op_distinct(self, t: Token) -> A.Operator:
        if self.accept_op("*"):
            return A.Distinct(t.line, t.column, None)
        return A.Distinct(t.line, t.column, self.assignments())

    def op_count(self, t: Token) -> A.Operator:
        return A.Count(t.line, t.column)

    def op_serialize(self, t: Token) -> A.Operator:
        items = [] if self.tok.is_op("|", ")", ";") or self.tok.kind == "EOF" else self.assignments()
        return A.Serialize(t.line, t.column, items)

    def op_join(self, t: Token) -> A.Operator:
        kind = "innerunique"
        while self.tok.kind == "IDENT" and self.peek().is_op("=") or \
                (self.tok.kind == "IDENT" and str(self.tok.value).startswith("hint")):
            pt = self.tok
            pname = self.ident()
            while self.accept_op("."):
                pname += "." + self.ident()
            self.expect_op("=")
            vt = self.advance()
            if pname == "kind":
                kind = str(vt.value)
            elif not pname.startswith("hint."):
                raise self.error(f"join parameter {pname!r} is not supported", pt)
        self.expect_op("(")
        right = self.tabular()
        self.expect_op(")")
        self.expect_word("on")
        conds: list[A.JoinCondition] = []
        while True:
            ct = self.tok
            if self.tok.is_op("$"):
                left_side, lname = self.side_name()
                self.expect_op("==")
                right_side, rname = self.side_name()
                if {left_side, right_side} != {"left", "right"}:
                    raise self.error("a join condition compares $left.column with $right.column", ct)
                if left_side == "right":
                    lname, rname = rname, lname
                conds.append(A.JoinCondition(ct.line, ct.column, lname, rname))
            else:
                name = self.ident("a join column")
                conds.append(A.JoinCondition(ct.line, ct.column, name, name))
            if not self.accept_op(","):
                break
        return A.Join(t.line, t.column, kind, right, conds)

    def side_name(self) -> tuple[str, str]:
        self.expect_op("$")
        side = self.ident()
        if side not in ("left", "right"):
            raise self.error(f"expected $left or $right, found ${side}")
        self.expect_op(".")
        return side, self.ident("a column name")

    def union_body(self, t: Token) -> A.Union:
        fuzzy = False
        with_source = None
        kind = "outer"
        while self.tok.kind == "IDENT" and self.peek().is_op("="):
            pt = self.tok
            pname = self.ident()
            self.expect_op("=")
            if pname == "isfuzzy":
                vt = self.advance()
                fuzzy = str(vt.value).lower() == "true"
            elif pname == "kind":
                kind = self.ident()
            elif pname == "withsource":
                with_source = self.ident()
            else:
                raise self.error(f"union parameter {pname!r} is not supported", pt)
        legs: list[A.Tabular] = []
        while True:
            lt = self.tok
            if lt.is_op("("):
                self.advance()
                legs.append(self.tabular())
                self.expect_op(")")
            else:
                name = self.ident("a table name")
                if "*" in name or self.tok.is_op("*"):
                    raise self.error("union with wildcard table names is not supported", lt)
                legs.append(A.Tabular(lt.line, lt.column, A.TableRef(lt.line, lt.column, name), []))
            if not self.accept_op(","):
                break
        return A.Union(t.line, t.column, legs, fuzzy, with_source, kind)

    def op_union(self, t: Token) -> A.Operator:
        return self.union_body(t)

    def op_mv_expand(self, t: Token, legacy: bool = False) -> A.Operator:
        while self.tok.kind == "IDENT" and self.peek().is_op("="):
            if self.tok.value in ("bagexpansion", "with_itemindex", "kind"):
                raise self.error(f"mv-expand {self.tok.value}= is not supported")
            break
        items: list[A.MvExpandItem] = []
        while True:
            it = self.tok
            name = None
            if self.tok.kind == "IDENT" and self.peek().is_op("=") and not self.peek().is_op("=="):
                name = self.ident()
                self.advance()
            e = self.expr()
            to_type = None
            if self.accept_word("to"):
                self.expect_word("typeof")
                self.expect_op("(")
                to_type = self.type_name()
                self.expect_op(")")
            items.append(A.MvExpandItem(it.line, it.column, name, e, to_type))
            if not self.accept_op(","):
                break
        limit = None
        if self.accept_word("limit"):
            lt = self.tok
            if lt.kind != "INT":
                raise self.error("mv-expand limit must be an integer literal")
            self.advance()
            limit = int(lt.value)
        return A.MvExpand(t.line, t.column, items, limit, legacy)

    def op_mvexpand(self, t: Token) -> A.Operator:
        return self.op_mv_expand(t, legacy=True)

    def op_parse(self, t: Token) -> A.Operator:
        kind = "simple"
        if self.tok.is_word("kind") and self.peek().is_op("="):
            self.advance()
            self.advance()
            kind = self.ident()
            if kind not in ("simple", "regex", "relaxed"):
                raise self.error(f"parse kind={kind} is not supported")
            if self.tok.is_word("flags"):
                raise self.error("parse flags= is not supported")
        e = self.expr()
        self.expect_word("with")
        patterns: list[A.ParsePattern] = []
        while not (self.tok.is_op("|", ")", ";") or self.tok.kind == "EOF"):
            pt = self.tok
            if self.accept_op("*"):
                patterns.append(A.ParsePattern(pt.line, pt.column, "star", "*"))
            elif pt.kind == "STRING":
                self.advance()
                patterns.append(A.ParsePattern(pt.line, pt.column, "literal", str(pt.value)))
            elif pt.kind == "IDENT":
                name = self.ident()
                ptype = "string"
                if self.accept_op(":"):
                    ptype = self.type_name()
                patterns.append(A.ParsePattern(pt.line, pt.column, "column", name, ptype))
            else:
                raise self.error(f"unexpected {self.describe(pt)} in parse pattern")
        return A.Parse(t.line, t.column, e, kind, patterns)

    def assignments(self) -> list[A.Assignment]:
        items: list[A.Assignment] = []
        while True:
            t = self.tok
            name = None
            if (t.kind == "IDENT" or (t.is_op("[") and self.peek().kind == "STRING")) and \
                    self.peek(1 if t.kind == "IDENT" else 3).is_op("="):
                name = self.ident()
                self.expect_op("=")
            elif t.is_op("(") and self.peek().kind == "IDENT" and self.peek(2).is_op(","):
                raise self.error("assigning to a tuple of columns is not supported")
            items.append(A.Assignment(t.line, t.column, name, self.expr()))
            if not self.accept_op(","):
                return items

    # ------------------------------------------------------------ scalar expressions
    def expr(self) -> A.Expr:
        return self.or_expr()

    def or_expr(self) -> A.Expr:
        left = self.and_expr()
        while self.tok.is_word("or"):
            t = self.advance()
            left = A.Binary(t.line, t.column, "or", left, self.and_expr())
        return left

    def and_expr(self) -> A.Expr:
        left = self.comparison()
        while self.tok.is_word("and"):
            t = self.advance()
            left = A.Binary(t.line, t.column, "and", left, self.comparison())
        return left

    def comparison(self) -> A.Expr:
        left = self.additive()
        t = self.tok
        op: str | None = None
        if t.kind == "OP" and t.value in COMPARISON_OPS:
            op = "!=" if t.value == "<>" else str(t.value)
        elif t.kind == "OP" and str(t.value).startswith("!") and str(t.value)[1:] in STRING_OPS:
            op = str(t.value)
        elif t.kind == "IDENT" and t.value in STRING_OPS:
            op = str(t.value)
        elif (t.kind in ("IDENT", "OP")) and t.value in LIST_OPS:
            self.advance()
            return A.InList(t.line, t.column, str(t.value), left, self.list_items())
        elif t.is_word("between") or t.is_op("!between"):
            self.advance()
            self.expect_op("(")
            low = self.additive()
            self.expect_op("..")
            high = self.additive()
            self.expect_op(")")
            return A.Between(t.line, t.column, t.value == "!between", left, low, high)
        elif t.is_word("matches") and self.peek().is_word("regex"):
            self.advance()
            self.advance()
            return A.Binary(t.line, t.column, "matches regex", left, self.additive())
        elif t.is_word("like", "notlike", "likecs", "notlikecs", "contains_any", "in_any"):
            raise self.error(f"the operator {t.value!r} is not supported")
        if op is None:
            return left
        self.advance()
        return A.Binary(t.line, t.column, op, left, self.additive())

    def list_items(self) -> list[A.Expr]:
        self.expect_op("(")
        items: list[A.Expr] = []
        if self.starts_tabular():
            raise self.error("'in' or 'has_any' with a tabular expression is not supported")
        while not self.tok.is_op(")"):
            items.append(self.expr())
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return items

    def additive(self) -> A.Expr:
        left = self.multiplicative()
        while self.tok.is_op("+", "-"):
            t = self.advance()
            left = A.Binary(t.line, t.column, str(t.value), left, self.multiplicative())
        return left

    def multiplicative(self) -> A.Expr:
        left = self.unary()
        while self.tok.is_op("*", "/", "%"):
            t = self.advance()
            left = A.Binary(t.line, t.column, str(t.value), left, self.unary())
        return left

    def unary(self) -> A.Expr:
        t = self.tok
        if t.is_op("-", "+"):
            self.advance()
            operand = self.unary()
            if t.value == "-" and isinstance(operand, A.Literal) and operand.type in (
                    "int", "long", "real", "timespan") and operand.value is not None:
                return A.Literal(t.line, t.column, -operand.value, operand.type)
            return A.Unary(t.line, t.column, str(t.value), operand)
        return self.postfix()

    def postfix(self) -> A.Expr:
        e = self.atom()
        while True:
            t = self.tok
            if t.is_op("."):
                self.advance()
                nt = self.tok
                if nt.kind == "IDENT":
                    self.advance()
                    e = A.Member(t.line, t.column, e, str(nt.value))
                elif nt.is_op("["):
                    e = A.Index(t.line, t.column, e, self.bracket())
                else:
                    raise self.error(f"expected a property name after '.' but found {self.describe(nt)}")
            elif t.is_op("["):
                e = A.Index(t.line, t.column, e, self.bracket())
            else:
                return e

    def bracket(self) -> A.Expr:
        self.expect_op("[")
        e = self.expr()
        self.expect_op("]")
        return e

    def atom(self) -> A.Expr:
        t = self.tok
        if t.kind == "STRING":
            self.advance()
            value = str(t.value)
            while self.tok.kind == "STRING":  # adjacent literals concatenate
                value += str(self.advance().value)
            return A.Literal(t.line, t.column, value, "string")
        if t.kind == "INT":
            self.advance()
            value = int(t.value)  # type: ignore[arg-type]
            return A.Literal(t.line, t.column, value, "long")
        if t.kind == "REAL":
            self.advance()
            return A.Literal(t.line, t.column, float(t.value), "real")  # type: ignore[arg-type]
        if t.kind == "TIMESPAN":
            self.advance()
            return A.Literal(t.line, t.column, int(t.value), "timespan")  # type: ignore[arg-type]
        if t.kind == "RAWLIT":
            self.advance()
            word, raw = t.value  # type: ignore[misc]
            if word == "datetime":
                return A.Literal(t.line, t.column, _parse_datetime(raw, t), "datetime")
            return A.Literal(t.line, t.column, _parse_timespan(raw, t), "timespan")
        if t.is_op("("):
            self.advance()
            e = self.expr()
            self.expect_op(")")
            return e
        if t.is_op("*"):
            self.advance()
            return A.Star(t.line, t.column)
        if t.is_op("$"):
            side, name = self.side_name()
            return A.SideName(t.line, t.column, side, name)
        if t.is_op("[") and self.peek().kind == "STRING":
            return A.Name(t.line, t.column, self.ident())
        if t.kind == "IDENT":
            word = str(t.value)
            if word.lower() in ("true", "false") and not self.peek().is_op("("):
                self.advance()
                return A.Literal(t.line, t.column, word.lower() == "true", "bool")
            if word == "dynamic" and self.peek().is_op("("):
                self.advance()
                self.advance()
                value = self.dynamic_value()
                self.expect_op(")")
                return A.DynamicLiteral(t.line, t.column, value)
            if word == "typeof" and self.peek().is_op("("):
                self.advance()
                self.advance()
                tname = self.type_name()
                self.expect_op(")")
                return A.TypeRef(t.line, t.column, tname)
            if word in SCALAR_TYPES and self.peek().is_op("(") and self.peek(2).is_word("null") \
                    and self.peek(3).is_op(")"):
                self.advance(); self.advance(); self.advance(); self.advance()
                return A.Literal(t.line, t.column, None, _canonical_type(word))
            if word in ("int", "long", "real", "double", "bool", "guid", "decimal") and \
                    self.peek().is_op("("):
                return self.typed_literal(word)
            self.advance()
            if self.tok.is_op("("):
                self.advance()
                args: list[A.Expr] = []
                while not self.tok.is_op(")"):
                    args.append(self.expr())
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
                return A.Call(t.line, t.column, word, args)
            return A.Name(t.line, t.column, word)
        raise self.error(f"unexpected {self.describe(t)} in an expression")

    def typed_literal(self, word: str) -> A.Expr:
        t = self.advance()
        self.expect_op("(")
        neg = self.accept_op("-")
        vt = self.advance()
        self.expect_op(")")
        ktype = _canonical_type(word)
        try:
            if ktype in ("int", "long"):
                value: Any = int(vt.value)  # type: ignore[arg-type]
            elif ktype == "real":
                value = float(vt.value) if vt.kind != "IDENT" else float(str(vt.value))  # type: ignore[arg-type]
            elif ktype == "bool":
                value = str(vt.value).lower() == "true"
            else:
                raise ValueError
        except (TypeError, ValueError):
            raise self.error(f"{word}({vt.text}) literals are not supported", t) from None
        return A.Literal(t.line, t.column, -value if neg else value, ktype)

    def dynamic_value(self) -> Any:
        t = self.tok
        if t.is_op("["):
            self.advance()
            items = []
            while not self.tok.is_op("]"):
                items.append(self.dynamic_value())
                if not self.accept_op(","):
                    break
            self.expect_op("]")
            return items
        if t.is_op("{"):
            self.advance()
            obj: dict[str, Any] = {}
            while not self.tok.is_op("}"):
                kt = self.tok
                if kt.kind not in ("STRING", "IDENT"):
                    raise self.error("expected a property name in dynamic literal")
                self.advance()
                self.expect_op(":")
                obj[str(kt.value)] = self.dynamic_value()
                if not self.accept_op(","):
                    break
            self.expect_op("}")
            return obj
        neg = self.accept_op("-")
        t = self.advance()
        if t.kind == "STRING" and not neg:
            return t.value
        if t.kind in ("INT", "REAL"):
            return -t.value if neg else t.value  # type: ignore[operator]
        if t.kind == "IDENT" and t.value in ("true", "false") and not neg:
            return t.value == "true"
        if t.kind == "IDENT" and t.value == "null" and not neg:
            return None
        raise self.error(f"{self.describe(t)} is not supported inside a dynamic literal", t)


def _canonical_type(name: str) -> str:
    return {"double": "real", "boolean": "bool", "date": "datetime", "time": "timespan",
            "uniqueid": "guid"}.get(name, name)


_DT_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S.%f",
               "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H")


def _parse_datetime(raw: str, t: Token) -> _dt.datetime | None:
    if raw == "null":
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    # KQL keeps 7 fractional digits; Python parses at most 6 (microseconds).
    m = re.match(r"^(.*\.)(\d+)$", text)
    if m:
        text = m.group(1) + (m.group(2) + "000000")[:6]
    for fmt in _DT_FORMATS:
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise KqlError(f"datetime({raw}) is not a datetime format exhunt reads", t.line, t.column)


def _parse_timespan(raw: str, t: Token) -> int | None:
    if raw == "null":
        return None
    toks = tokenize(raw)
    if len(toks) == 2 and toks[0].kind in ("TIMESPAN",):
        return int(toks[0].value)  # type: ignore[arg-type]
    if len(toks) == 2 and toks[0].kind == "INT":
        return int(toks[0].value) * 86_400_000_000  # type: ignore[arg-type]
    m = re.match(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?$", raw)
    if m:
        days, hours, minutes, seconds, frac = m.groups()
        micros = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds or 0)
        micros *= 1_000_000
        if frac:
            micros += int((frac + "000000")[:6])
        return micros
    raise KqlError(f"timespan({raw}) is not a timespan format exhunt reads", t.line, t.column)
