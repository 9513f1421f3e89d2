"""No SQL text in engine/ or tui/ is built from values: every value is a bound parameter.

The scanner below reads the source with the ``ast`` module and looks at every call that runs
SQL (``execute``, ``executemany``, ``executescript``, ``sql``, ``query``, ``from_query``). The SQL
argument fails the check when it is, or flows from, text built at run time:

- an f-string with a ``{...}`` field,
- ``%``-formatting or ``.format(...)``/``.format_map(...)``,
- ``+`` concatenation with anything that is not a constant string,
- ``str.join`` over pieces that are themselves built that way,

whether written inline, assigned to a local variable first (``sql = f"..."``, ``sql += x``,
``parts.append(f"...")``), or returned by a function of the same module that the call uses.

Text the scanner cannot see into (a parameter, an attribute such as ``compiled.sql``) is not
flagged here: the KQL compiler's output and the hunts' hand-written SQL are checked by the
hostile-input tests in tests/hardening instead, which run them with SQL metacharacters.

A few places format *identifiers we own* into SQL, which the house rules allow. They are
listed in ``ALLOWED`` by file, function and the exact expressions formatted, each with the
reason, so that a new ``{value}`` in the same function still fails.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCANNED_PACKAGES = ("engine", "tui")
SQL_METHODS = frozenset({"execute", "executemany", "executescript", "sql", "query", "from_query"})


@dataclass(frozen=True)
class Violation:
    path: str  # relative to the repo, with forward slashes
    line: int
    function: str  # qualified name of the enclosing function ("<module>" at top level)
    how: str  # what kind of building was seen
    pieces: tuple[str, ...]  # source of the interpolated/concatenated expressions

    def __str__(self) -> str:
        shown = ", ".join(self.pieces) or "?"
        return f"{self.path}:{self.line} in {self.function}: SQL built by {self.how} from {shown}"


# (path, function) -> (expressions that may be formatted there, why that is safe).
ALLOWED: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("engine/kql_functions.py", "install_macros"): (
        frozenset({"name", "params", "body"}),
        "macro definitions: name, parameter list and body all come from the macro tables "
        "written in exhunt's source (kql_functions.MACROS, hunts.HUNT_MACROS, "
        "kql.macros.MACROS), never from evidence or user input",
    ),
    ("engine/tables.py", "Table.create_sql"): (
        frozenset({"name or self.name", "', '.join(cols)"}),
        "DDL from the W3CIISLOG/SECURITYALERT schema constants: table and column names and "
        "types are identifiers the project defines, never values",
    ),
    ("engine/evidence/exports.py", "_source_columns"): (
        frozenset({"columns", "', '.join(selects)", "keys"}),
        "positional names c0, c1 ... (the read_csv column map, the JSON select list, list "
        "indices v[1], v[2] ...) and placeholders $src_k0, $src_k1 ...: the export's own "
        "column names are bound as $src_k<i>, only their positions are formatted",
    ),
    ("engine/evidence/exports.py", "_copy_into_case"): (
        frozenset({"dash_src", "query", "source.sql"}),
        "`c{dash_src}` is a positional alias (an int); `source.sql` is _source_columns' "
        "query (see its entry: positions formatted, values bound in source.params); `query` "
        "is the select list of W3CIISLog/SecurityAlert columns from engine/tables.py over "
        "those aliases, with $file_id/$tenant/$time_formats bound",
    ),
    ("engine/evidence/w3c.py", "_copy"): (
        frozenset({"query"}),
        "`query` is built by _select_sql from the #Fields layout mapped to engine/tables.py "
        "column names, with every value (path, compression, dates) in sql.params",
    ),
    ("engine/spark.py", "register_tables"): (
        frozenset({"', '.join(selects)"}),
        "select list of engine/tables.py column names and Spark types (identifiers only)",
    ),
    ("engine/case.py", "Case.connect"): (
        frozenset({"name", "cols"}),
        "view name and CAST select list from engine/tables.py's TABLES (identifiers and "
        "types only)",
    ),
}


# ---------------------------------------------------------------------------------------
# The scanner
# ---------------------------------------------------------------------------------------
class _Scope:
    """Assignments to local names inside one function (or the module body)."""

    def __init__(self, node: ast.AST):
        self.assigned: dict[str, list[ast.expr]] = {}
        self.appended: dict[str, list[ast.expr]] = {}
        for child in _walk_same_scope(node):
            if isinstance(child, ast.Assign):
                for target in child.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(child.value)
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name):
                if child.value is not None:
                    self.assigned.setdefault(child.target.id, []).append(child.value)
            elif isinstance(child, ast.AugAssign) and isinstance(child.target, ast.Name):
                # `sql += x` is `sql = sql + x`
                self.assigned.setdefault(child.target.id, []).append(
                    ast.BinOp(left=ast.Name(child.target.id), op=child.op, right=child.value)
                )
            elif isinstance(child, ast.NamedExpr):
                self.assigned.setdefault(child.target.id, []).append(child.value)
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in ("append", "extend", "insert")
                and isinstance(child.func.value, ast.Name)
                and child.args
            ):
                self.appended.setdefault(child.func.value.id, []).append(child.args[-1])


def _walk_same_scope(node: ast.AST):
    """Every node under ``node`` that is not inside a nested function or class."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield child
        yield from _walk_same_scope(child)


class _Module:
    def __init__(self, path: str, tree: ast.Module):
        self.path = path
        self.tree = tree
        self.module_scope = _Scope(tree)
        # function name (plain and qualified) -> its return expressions
        self.returns: dict[str, list[ast.expr]] = {}
        self.functions: list[tuple[str, ast.AST]] = []
        self._collect(tree, prefix="")

    def _collect(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{prefix}{child.name}"
                self.functions.append((qual, child))
                rets = [
                    n.value
                    for n in _walk_same_scope(child)
                    if isinstance(n, ast.Return) and n.value is not None
                ]
                self.returns.setdefault(child.name, []).extend(rets)
                self.returns.setdefault(qual, []).extend(rets)
                self._collect(child, prefix=f"{qual}.")
            elif isinstance(child, ast.ClassDef):
                self._collect(child, prefix=f"{prefix}{child.name}.")
            else:
                self._collect(child, prefix)


class _Analysis:
    """Decides whether an expression is SQL text built from run-time pieces."""

    def __init__(self, module: _Module, scope: _Scope):
        self.module = module
        self.scope = scope
        self.how: set[str] = set()
        self.pieces: list[str] = []
        self._seen: set[int] = set()

    def built(self, node: ast.expr, depth: int = 0) -> bool:
        if depth > 12 or id(node) in self._seen:
            return False
        self._seen.add(id(node))
        try:
            return self._built(node, depth)
        finally:
            self._seen.discard(id(node))

    def _note(self, how: str, *exprs: ast.expr) -> bool:
        self.how.add(how)
        self.pieces.extend(ast.unparse(e) for e in exprs)
        return True

    def _built(self, node: ast.expr, depth: int) -> bool:
        if isinstance(node, ast.JoinedStr):
            fields = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
            fields = [f for f in fields if not self.constant(f)]
            return self._note("an f-string", *fields) if fields else False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if _looks_like_text(node.left) or self.built(node.left, depth + 1):
                return self._note("%-formatting", node.right)
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left_const, right_const = self.constant(node.left), self.constant(node.right)
            if left_const and right_const:
                return False
            if self.built(node.left, depth + 1) or self.built(node.right, depth + 1):
                return True
            if left_const or right_const or _looks_like_text(node.left) or _looks_like_text(
                node.right
            ):
                variable = [e for e in (node.left, node.right) if not self.constant(e)]
                return self._note("+ concatenation", *variable)
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("format", "format_map"):
                return self._note(".format()", *node.args, *(k.value for k in node.keywords))
            if node.func.attr == "join" and node.args:
                return self._built_pieces(node.args[0], depth)
        if isinstance(node, ast.Call):
            callee = _callee_name(node.func)
            if callee and callee in self.module.returns:
                return any(self.built(r, depth + 1) for r in self.module.returns[callee])
            return False
        if isinstance(node, ast.IfExp):
            return self.built(node.body, depth + 1) | self.built(node.orelse, depth + 1)
        if isinstance(node, ast.Name):
            values = self.scope.assigned.get(node.id) or self.module.module_scope.assigned.get(
                node.id, []
            )
            return any([self.built(v, depth + 1) for v in values])
        return False

    def constant(self, node: ast.expr, depth: int = 0) -> bool:
        """Text fixed in the source, such as a run of ``?`` placeholders built for a list."""
        if depth > 12:
            return False
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(
                isinstance(v, ast.Constant) or self.constant(v.value, depth + 1)
                for v in node.values
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.constant(node.left, depth + 1) and self.constant(node.right, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            # "?" * n, ["?"] * n: the repeated part is fixed, the count is not text.
            return self.constant(node.left, depth + 1) or self.constant(node.right, depth + 1)
        if isinstance(node, (ast.List, ast.Tuple)):
            return all(self.constant(e, depth + 1) for e in node.elts)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.constant(node.elt, depth + 1)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and node.args
        ):
            return self.constant(node.func.value, depth + 1) and self.constant(
                node.args[0], depth + 1
            )
        if isinstance(node, ast.Name):
            values = self.scope.assigned.get(node.id) or self.module.module_scope.assigned.get(
                node.id, []
            )
            appended = self.scope.appended.get(node.id, [])
            return (
                bool(values)
                and all(self.constant(v, depth + 1) for v in values)
                and all(self.constant(v, depth + 1) for v in appended)
            )
        return False

    def _built_pieces(self, node: ast.expr, depth: int) -> bool:
        """``sep.join(node)``: built when any piece that goes in is built."""
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return any([self.built(e, depth + 1) for e in node.elts])
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            return self.built(node.elt, depth + 1)
        if isinstance(node, ast.Name):
            pieces = list(self.scope.appended.get(node.id, []))
            for value in self.scope.assigned.get(node.id, []):
                if self._built_pieces(value, depth + 1):
                    return True
            return any([self.built(p, depth + 1) for p in pieces])
        return False


def _is_constant_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_constant_text(node.left) and _is_constant_text(node.right)
    return False


def _looks_like_text(node: ast.expr) -> bool:
    return isinstance(node, (ast.Constant, ast.JoinedStr)) and (
        not isinstance(node, ast.Constant) or isinstance(node.value, str)
    )


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        # A method defined in the same module (self._sql(), table.create_sql()).
        return func.attr
    return None


def _sql_argument(call: ast.Call) -> ast.expr | None:
    if not (isinstance(call.func, ast.Attribute) and call.func.attr in SQL_METHODS):
        return None
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in ("query", "sql", "sql_query"):
            return keyword.value
    return None


def scan_source(source: str, path: str) -> list[Violation]:
    """Every SQL-running call in ``source`` whose SQL text is built from run-time pieces."""
    tree = ast.parse(source, filename=path)
    module = _Module(path, tree)
    found: list[Violation] = []
    scopes: list[tuple[str, ast.AST]] = [("<module>", tree), *module.functions]
    for qualname, scope_node in scopes:
        scope = _Scope(scope_node)
        for node in _walk_same_scope(scope_node):
            if not isinstance(node, ast.Call):
                continue
            argument = _sql_argument(node)
            if argument is None:
                continue
            analysis = _Analysis(module, scope)
            if analysis.built(argument):
                found.append(
                    Violation(
                        path,
                        node.lineno,
                        qualname,
                        " and ".join(sorted(analysis.how)),
                        tuple(dict.fromkeys(analysis.pieces)),
                    )
                )
    return found


def _violation_is_allowed(v: Violation) -> bool:
    entry = ALLOWED.get((v.path, v.function))
    if entry is None:
        # SQL returned by an allowed function and run elsewhere is attributed to the caller;
        # the pieces then are the allowed function's own, checked below by name.
        return False
    allowed_pieces, _reason = entry
    return set(v.pieces) <= allowed_pieces


def _allowed_via_callee(v: Violation) -> bool:
    """A call site whose only built SQL comes from an allowed function it calls."""
    for (path, function), (pieces, _reason) in ALLOWED.items():
        if path == v.path and set(v.pieces) <= pieces:
            return True
    return False


# ---------------------------------------------------------------------------------------
# The check on the project
# ---------------------------------------------------------------------------------------
def _scanned_files() -> list[str]:
    return sorted(
        f.relative_to(REPO).as_posix()
        for package in SCANNED_PACKAGES
        for f in (REPO / package).rglob("*.py")
    )


# Files with SQL built from a value that the hardening suite found; each entry is a bug
# report (file, function, what is formatted). strict: a fix makes the test pass, and the
# then-unexpected pass fails until the entry is removed here.
KNOWN_BUGS: dict[str, str] = {
    "engine/case.py": (
        "bug: Case.connect formats the Parquet file list (listing) into CREATE VIEW; "
        "con.read_parquet(files).select(...).create_view(name) takes the list as a value"
    ),
}


def _params():
    for path in _scanned_files():
        marks = ()
        if path in KNOWN_BUGS:
            marks = (pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path]),)
        yield pytest.param(path, marks=marks, id=path)


@pytest.mark.parametrize("path", list(_params()))
def test_sql_text_is_never_built_from_values(path):
    source = (REPO / path).read_text(encoding="utf-8")
    offending = [
        v for v in scan_source(source, path)
        if not (_violation_is_allowed(v) or _allowed_via_callee(v))
    ]
    assert not offending, "SQL built from values (bind them with ? or $name instead):\n" + (
        "\n".join(map(str, offending))
    )


def test_every_allow_list_entry_still_matches_code_that_exists():
    # An entry left behind after a refactor would silently widen the exception.
    for (path, function), (_pieces, reason) in ALLOWED.items():
        file = REPO / path
        assert file.is_file(), f"allow-listed file {path} is gone"
        module = _Module(path, ast.parse(file.read_text(encoding="utf-8")))
        names = {qual for qual, _node in module.functions}
        assert function in names, f"allow-listed function {path}:{function} is gone"
        assert reason.strip(), f"allow-list entry {path}:{function} must say why"


# ---------------------------------------------------------------------------------------
# The scanner itself is tested on planted examples, so a scanner that finds nothing fails.
# ---------------------------------------------------------------------------------------
def _scan(code: str) -> list[Violation]:
    return scan_source(textwrap.dedent(code), "planted.py")


@pytest.mark.parametrize(
    "code, how",
    [
        ('def f(con, ip):\n    con.execute(f"SELECT * FROM t WHERE cIP = \'{ip}\'")\n', "f-string"),
        ('def f(con, ip):\n    con.execute("SELECT * FROM t WHERE cIP = \'%s\'" % ip)\n', "%"),
        ('def f(con, ip):\n    con.sql("SELECT * FROM t WHERE cIP = \'{}\'".format(ip))\n', ".format"),
        ('def f(con, ip):\n    con.query("SELECT * FROM t WHERE cIP = \'" + ip + "\'")\n', "+"),
        (
            'def f(con, ip):\n    sql = "SELECT * FROM t"\n    sql += " WHERE cIP = \'" + ip + "\'"\n'
            "    con.execute(sql)\n",
            "+",
        ),
        (
            'def f(cur, ip):\n    q = f"DELETE FROM t WHERE x = {ip}"\n    cur.executemany(q, [])\n',
            "f-string",
        ),
        (
            "def f(con, ips):\n    parts = []\n    for ip in ips:\n"
            "        parts.append(f\"cIP = '{ip}'\")\n"
            '    con.execute("SELECT * FROM t WHERE " + " OR ".join(parts))\n',
            "f-string",
        ),
        (
            "def build(ip):\n    return f\"SELECT * FROM t WHERE cIP = '{ip}'\"\n\n"
            "def run(con, ip):\n    return con.execute(build(ip)).fetchall()\n",
            "f-string",
        ),
        (
            "class Store:\n    def _sql(self, note):\n        return 'UPDATE m SET note = ' + note\n"
            "    def mark(self, note):\n        self.db.execute(self._sql(note))\n",
            "+",
        ),
        ('def f(con, ip):\n    con.execute(query=f"SELECT {ip}")\n', "f-string"),
    ],
    ids=[
        "f-string",
        "percent",
        "format",
        "plus",
        "augmented-assignment",
        "executemany-via-variable",
        "join-of-appended-pieces",
        "module-helper-returns-sql",
        "method-helper-returns-sql",
        "keyword-argument",
    ],
)
def test_scanner_flags_sql_built_from_a_value(code, how):
    found = _scan(code)
    assert found, f"planted {how} example was not flagged:\n{code}"
    assert all(v.path == "planted.py" for v in found)


@pytest.mark.parametrize(
    "code",
    [
        'def f(con, ip):\n    con.execute("SELECT * FROM t WHERE cIP = ?", [ip])\n',
        'def f(con, ip):\n    con.execute("SELECT * FROM t " "WHERE cIP = ?", [ip])\n',
        'def f(con, ip):\n    sql = "SELECT * FROM t" + " WHERE cIP = $ip"\n    con.execute(sql, {"ip": ip})\n',
        "def f(con, ips):\n    marks = ', '.join('?' for _ in ips)\n"
        '    con.execute(f"SELECT 1")\n',
        "def f(con, compiled):\n    con.execute(compiled.sql, compiled.params)\n",
        "def f(con, ips):\n    marks = ', '.join('?' for _ in ips)\n"
        '    con.execute(f"SELECT * FROM t WHERE cIP IN ({marks})", ips)\n',
        "def f(text):\n    return f'{text}'.upper()\n",
    ],
    ids=[
        "bound",
        "implicit-concatenation",
        "named-parameter",
        "constant-fstring",
        "opaque",
        "placeholder-list",
        "no-sql",
    ],
)
def test_scanner_accepts_bound_parameters(code):
    assert _scan(code) == []


def test_allow_list_is_narrow_a_new_value_in_an_allowed_function_still_fails():
    planted = Violation("engine/kql_functions.py", 1, "install_macros", "an f-string", ("value",))
    assert not _violation_is_allowed(planted)
    allowed = Violation("engine/kql_functions.py", 1, "install_macros", "an f-string",
                        ("name", "body"))
    assert _violation_is_allowed(allowed)
