"""Hunt rules: Sentinel hunting queries as YAML files, loaded and validated.

A rule file keeps the Sentinel metadata (id, name, description, tactics,
relevantTechniques, entityMappings, severity ...), the original KQL verbatim under
``query``, and exhunt's own keys:

- ``slug``: short name for the command line (``--rule owa-export``); default: the file
  stem, lower-cased, other characters turned to ``-``;
- ``sql``: hand-written DuckDB SQL returning exactly what the KQL returns. Without it the
  KQL is compiled at run time (``engine.kql.compile_kql``);
- ``parameters``: tunables with a type and a default, bound into the SQL as ``$name``
  (never formatted into the text);
- ``key_columns``: the output columns whose values identify a finding; default: the
  ``by`` columns of the KQL's last ``summarize``, else every output column that is not a
  list (KQL-only rules; a rule with ``sql`` must name them);
- ``columns``: the KQL output columns in KQL's order (checked against the SQL's output);
- ``coverage``: codes of the blind-spot checks to run with it: the ``CHECKS`` of the
  rule's own module (sibling ``<stem>.py``, or ``hunt.py`` next to ``hunt.yaml``) or
  ``engine.coverage``'s generic ones.

Every problem is reported as a :class:`RuleError` naming the file, the key and what is
wrong, so a broken user rule never hides which file to fix.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from engine.drilldown import GENERIC_DRILLDOWNS
from engine.presentation import (IDENTIFIER, DrilldownQuery, Presentation, PresentationError,
                                 check_references, parse_drilldowns, parse_presentation)
# Validates rules here, and others import it from this module too (hunts, spark).
from engine.sqltext import sql_placeholders

BUILTIN_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

PARAMETER_TYPES = ("string", "int", "bool", "list[string]", "list[int]")
SEVERITIES = ("Informational", "Low", "Medium", "High")


class RuleError(Exception):
    """A rule file (or a parameter override) is wrong; the message says where and how."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # one of PARAMETER_TYPES
    default: Any
    description: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    slug: str
    name: str
    description: str
    severity: str  # "" when the Sentinel original gives none
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    entity_mappings: tuple[Any, ...]
    query: str  # the original KQL, verbatim
    sql: str | None
    parameters: tuple[Parameter, ...]
    key_columns: tuple[str, ...]
    source_path: Path
    columns: tuple[str, ...] = ()  # KQL output columns; () when the file does not say
    coverage: tuple[str, ...] = ()  # engine.coverage check codes
    tags: tuple[str, ...] = ()
    # The hunt's own Python module (sibling `<stem>.py`, `hunt.py` in folder form), if any,
    # and the coverage checks it provides (its `CHECKS`).
    module_path: Path | None = None
    checks: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # How the console shows it (``console:``; None: derived from the output at run time)
    # and the drill-down queries its panes name (``drilldowns:``).
    console: Presentation | None = None
    drilldowns: Mapping[str, DrilldownQuery] = field(default_factory=dict)
    # Every other key of the file (requiredDataConnectors, version, metadata ...), as read.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise RuleError(f"rule {self.slug}: no parameter {name!r} (parameters: {known})")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}


# --- loading ----------------------------------------------------------------------------

def load_rules(extra_dirs: Sequence[Path] = ()) -> list[Rule]:
    """The built-in rules plus every ``*.yaml``/``*.yml`` under ``extra_dirs`` (``--rules``),
    folders searched recursively (a folder holding ``hunt.yaml`` is one hunt).

    Raises RuleError for the first bad file, or when two rules share an id or a slug.
    """
    paths = rule_files(BUILTIN_RULES_DIR)
    for d in extra_dirs:
        d = Path(d)
        if not d.is_dir():
            raise RuleError(f"{d}: rules folder not found")
        paths.extend(rule_files(d))
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for path in paths:
        rule = load_rule_file(path)
        for handle in (rule.id.lower(), rule.slug):
            other = seen.get(handle)
            if other is not None:
                raise RuleError(f"{path}: {'id' if handle == rule.id.lower() else 'slug'} "
                                f"{handle!r} is already used by {other.source_path}")
            seen[handle] = rule
        rules.append(rule)
    return rules


def rule_files(folder: Path) -> list[Path]:
    """Every rule file under ``folder``, at any depth, in path order."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.suffix.lower() in (".yaml", ".yml") and p.is_file())


def module_path_of(path: Path) -> Path | None:
    """A rule file's optional module: the sibling with the same stem (for ``hunt.yaml``
    that is ``hunt.py`` in its folder)."""
    module = path.with_suffix(".py")
    return module if module.is_file() else None


def load_module_checks(rule_path: Path, module: Path) -> dict[str, Any]:
    """The ``CHECKS`` of a hunt module, loaded by path (its file name need not be a
    Python identifier, e.g. ``owa-mailbox-export.py``)."""
    # A name unique per file, so two hunts' modules never replace each other.
    name = "exhunt_hunt_" + hashlib.sha1(str(module.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, module)
    if spec is None or spec.loader is None:
        raise RuleError(f"{module}: cannot load the module of {rule_path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:  # the module is user code: say which file broke
        raise RuleError(f"{module}: the module of {rule_path} failed to load: "
                        f"{type(exc).__name__}: {exc}") from exc
    checks = getattr(mod, "CHECKS", {})
    if not isinstance(checks, dict):
        raise RuleError(f"{module}: CHECKS must be a dict of code -> Check")
    return dict(checks)


@functools.lru_cache(maxsize=1)
def builtin_module_checks() -> dict[str, Any]:
    """Every ``CHECKS`` entry of the built-in hunts' modules, by code."""
    merged: dict[str, Any] = {}
    for rule_path in rule_files(BUILTIN_RULES_DIR):
        module = module_path_of(rule_path)
        if module is not None:
            for code, check in load_module_checks(rule_path, module).items():
                merged.setdefault(code, check)
    return merged


def nameable_checks(own: Mapping[str, Any]) -> dict[str, Any]:
    """The checks a rule may name: its module's own first, then the built-in hunts' (a
    shared vocabulary, so a copy of a seed rule edited in another folder keeps its checks)."""
    return {**builtin_module_checks(), **own}


def find_rule(rules: Sequence[Rule], id_or_slug: str) -> Rule:
    """The rule whose id (case-insensitive) or slug is ``id_or_slug``."""
    wanted = id_or_slug.strip().lower()
    for rule in rules:
        if rule.id.lower() == wanted or rule.slug == wanted:
            return rule
    known = ", ".join(f"{r.slug} ({r.id})" for r in rules) or "none loaded"
    raise RuleError(f"no rule with id or slug {id_or_slug!r}; rules: {known}")


# libyaml's safe loader where PyYAML was built with it: the pure-Python one took 0.12 s of
# a cached `exhunt hunt`'s 0.55 s to read the twelve built-in rule files.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_rule_file(path: Path) -> Rule:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" line {mark.line + 1}"
        raise RuleError(f"{path}:{where} not valid YAML: "
                        f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise RuleError(f"{path}: a rule file must be a mapping of keys, not "
                        f"{type(data).__name__}")
    return _rule_from_mapping(path, data)


def _rule_from_mapping(path: Path, data: dict[str, Any]) -> Rule:
    def err(key: str, what: str) -> RuleError:
        return RuleError(f"{path}: key {key!r}: {what}")

    def text(key: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise err(key, "missing")
            return ""
        if not isinstance(value, str):
            raise err(key, f"must be text, not {type(value).__name__}")
        if required and not value.strip():
            raise err(key, "is empty")
        return value

    def names(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise err(key, "must be a list of text values")
        return tuple(value)

    rule_id = text("id").strip()
    # A plain Sentinel file has no slug: its file stem (folder name for `hunt.yaml`) is one.
    slug = text("slug", required=False).strip() or default_slug(path)
    if not IDENTIFIER.match(slug):
        raise err("slug", f"{slug!r} must be lower-case letters, digits and '-'")
    name = text("name").strip()
    query = text("query", required=False)
    sql = data.get("sql")
    if sql is not None and (not isinstance(sql, str) or not sql.strip()):
        raise err("sql", "must be non-empty text when present")
    if not query.strip() and sql is None:
        raise err("query", "missing: a rule needs `query` (KQL) or `sql`")
    severity = text("severity", required=False).strip()
    if severity and severity not in SEVERITIES:
        raise err("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
    entity_mappings = data.get("entityMappings", [])
    if entity_mappings is None:
        entity_mappings = []
    if not isinstance(entity_mappings, list):
        raise err("entityMappings", "must be a list")

    parameters = _parameters(path, data.get("parameters"))
    if sql is None and parameters:
        raise err("parameters", "need `sql` to bind into; a KQL-only rule takes none "
                                "(edit its `let` statements instead)")
    if sql is not None:
        declared = {p.name for p in parameters}
        for used in sql_placeholders(sql):
            if used not in declared:
                raise err("sql", f"uses ${used}, which is not declared under `parameters`")

    columns = names("columns")
    # A KQL-only (plain Sentinel) rule may leave them out: derived from the compiled query
    # when it runs (engine.hunts.derive_key_columns). Hand-written SQL carries no such
    # knowledge, so a rule with `sql` must name them.
    key_columns = names("key_columns")
    if not key_columns and (sql is not None or "key_columns" in data):
        raise err("key_columns", "missing: name the output columns that identify a finding")
    if columns:
        for k in key_columns:
            if k not in columns:
                raise err("key_columns", f"{k!r} is not one of `columns`")

    coverage = names("coverage")
    module = module_path_of(path)
    checks = load_module_checks(path, module) if module is not None else {}
    nameable = nameable_checks(checks) if coverage else checks
    # Imported here: engine.coverage needs Rule, and this keeps the import graph acyclic.
    from engine import coverage as _coverage
    for code in coverage:
        check = _coverage.find_check(code, nameable)
        if check is None:
            raise err("coverage", f"unknown check {code!r}; known: "
                                  f"{', '.join(sorted({*nameable, *_coverage.CHECKS})) or 'none'}")
        for pname, ptype in check.parameters.items():
            match = [p for p in parameters if p.name == pname]
            if not match or match[0].type != ptype:
                raise err("coverage", f"check {code!r} needs parameter {pname!r} of type "
                                      f"{ptype}")

    try:
        drilldowns = parse_drilldowns(data.get("drilldowns"))
        console = parse_presentation(data["console"]) if data.get("console") is not None \
            else None
        if console is not None:
            check_references(console, drilldowns, GENERIC_DRILLDOWNS)
    except PresentationError as exc:  # its text starts with the key path
        raise RuleError(f"{path}: key {exc}") from None

    known = {"id", "slug", "name", "description", "severity", "tactics",
             "relevantTechniques", "entityMappings", "query", "sql", "parameters",
             "key_columns", "columns", "coverage", "tags", "console", "drilldowns"}
    return Rule(
        id=rule_id, slug=slug, name=name,
        description=text("description", required=False).strip(),
        severity=severity, tactics=names("tactics"), techniques=names("relevantTechniques"),
        entity_mappings=tuple(entity_mappings), query=query, sql=sql,
        parameters=parameters, key_columns=key_columns, source_path=path,
        columns=columns, coverage=coverage, tags=names("tags"),
        module_path=module, checks=checks, console=console, drilldowns=drilldowns,
        extra={k: v for k, v in data.items() if k not in known},
    )


def default_slug(path: Path) -> str:
    """``ClientIPwithManyUserAgents.yaml`` -> ``clientipwithmanyuseragents``: the stem
    lower-cased, every run of other characters one ``-`` (``hunt.yaml``: the folder's name)."""
    stem = path.parent.name if path.stem.lower() == "hunt" else path.stem
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "rule"


def _parameters(path: Path, raw: Any) -> tuple[Parameter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RuleError(f"{path}: key 'parameters': must be a list")
    out: list[Parameter] = []
    for i, item in enumerate(raw):
        where = f"{path}: key 'parameters[{i}]'"
        if not isinstance(item, dict):
            raise RuleError(f"{where}: must be a mapping with name, type, default")
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise RuleError(f"{where}: 'name' must be an identifier, got {name!r}")
        where = f"{path}: key 'parameters[{i}]' ({name})"
        ptype = item.get("type")
        if ptype not in PARAMETER_TYPES:
            raise RuleError(f"{where}: 'type' must be one of {', '.join(PARAMETER_TYPES)}, "
                            f"got {ptype!r}")
        if "default" not in item:
            raise RuleError(f"{where}: 'default' missing")
        try:
            default = check_value(ptype, item["default"])
        except ValueError as exc:
            raise RuleError(f"{where}: 'default': {exc}") from None
        description = item.get("description", "") or ""
        if not isinstance(description, str):
            raise RuleError(f"{where}: 'description' must be text")
        if any(p.name == name for p in out):
            raise RuleError(f"{where}: declared twice")
        out.append(Parameter(name, ptype, default, description.strip()))
    return tuple(out)


# --- parameter values -------------------------------------------------------------------

def check_value(ptype: str, value: Any) -> Any:
    """``value`` (from YAML) if it has type ``ptype``, as an immutable-friendly Python value."""
    if ptype == "string":
        if not isinstance(value, str):
            raise ValueError(f"must be text, not {value!r}")
        return value
    if ptype == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {value!r}")
        return value
    if ptype == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {value!r}")
        return value
    item_type = ptype[len("list["):-1]
    if not isinstance(value, list):
        raise ValueError(f"must be a list, not {value!r}")
    return [check_value(item_type, v) for v in value]


def parse_value(ptype: str, text: str) -> Any:
    """A ``--set NAME=VALUE`` text as a value of ``ptype``.

    Lists are a JSON array (``["a","b"]``) or comma-separated (``a,b``; empty text is the
    empty list); ints are decimal; bools are true/false/yes/no/1/0.
    """
    if ptype == "string":
        return text
    if ptype == "int":
        try:
            return int(text.strip(), 10)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if ptype == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    item_type = ptype[len("list["):-1]
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{text!r} is not a JSON array: {exc.msg}") from None
        return check_value(ptype, value)
    if not stripped:
        return []
    return [parse_value(item_type, piece.strip()) for piece in text.split(",")]


def resolve_parameters(rule: Rule, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's defaults with ``overrides`` applied. Override values may be text (from
    ``--set``, parsed by type) or already-typed values (checked)."""
    values = rule.defaults()
    for name, raw in (overrides or {}).items():
        param = rule.parameter(name)
        try:
            if isinstance(raw, str) and param.type != "string":
                values[name] = parse_value(param.type, raw)
            else:
                values[name] = check_value(param.type, raw)
        except ValueError as exc:
            raise RuleError(f"rule {rule.slug}: parameter {name} ({param.type}): {exc}") \
                from None
    return values


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` (from ``--set``) as a mapping; RuleError on a bad item."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise RuleError(f"--set {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out
