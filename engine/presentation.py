"""How the console presents one hunt: its findings list, the roles of its columns, and the
panes that open under a finding. Declared by the hunt (its YAML ``console:`` key), or derived
from the output columns and the Sentinel ``entityMappings`` when the YAML has none, so a
plain Sentinel rule is triageable with no code.

Pure data: no Textual, no SQL text reaches the console through here. A pane that needs a
query names a drill-down (``Pane.drilldown``): one the hunt declares under ``drilldowns:``
or one of the engine's generic ones (engine/drilldown.py). The engine runs it with values
taken from the finding's row, bound as parameters.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

# What a cell shows of a value (lists are sorted first, nulls dropped, for first/last).
PICKS = ("value", "first", "last", "count", "join")

# Column roles the console understands. A role says what the value *is*, so the console can
# offer it in the jump palette, pivot on it and name it in the status line.
ROLES = ("server", "file", "ip", "time", "account", "alert", "url", "tenant")

# Pane kinds:
#   "rows"      rows of a drill-down query, bound from the finding's row;
#   "timeline"  the same, with a histogram of ``Pane.time_column`` drawn above the rows;
#   "findings"  findings of another hunt (``Pane.hunt``) whose ``Pane.match`` columns equal
#               this finding's (ASCII case-insensitively), computed from results in memory.
PANE_KINDS = ("rows", "timeline", "findings")

DEFAULT_ORDER = 100  # hunts that do not say come after the ones that do, in load order

# Slugs, view names, drilldown and pane ids: lower-case words joined by "-".
IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ListColumn:
    """One column of a list (findings list or pane)."""
    source: str  # column of the finding row (or of the pane's rows)
    title: str
    width: int = 12  # minimum width in cells
    flex: bool = False  # takes a share of spare width
    right: bool = False  # right-aligned (numbers)
    optional: bool = False  # dropped first when the terminal is narrow
    pick: str = "value"  # one of PICKS
    empty: str = ""  # text shown for null / missing / empty list
    plus_as_space: bool = False  # IIS writes spaces in user agents as '+'


@dataclass(frozen=True)
class Pane:
    """Something shown under the findings list for the finding under the cursor."""
    id: str  # unique within the hunt
    title: str
    kind: str  # one of PANE_KINDS
    columns: tuple[ListColumn, ...]
    empty_text: str = ""
    drilldown: str | None = None  # kinds rows/timeline: id of the drill-down query
    time_column: str | None = None  # kind timeline: column of the pane rows to histogram
    hunt: str | None = None  # kind findings: slug or id of the other hunt
    # kind findings: other hunt's column -> this finding's column (equal when ASCII-folded)
    match: Mapping[str, str] = field(default_factory=dict)
    height: int = 1  # share of the screen's height (the findings list has 2)
    # str.format template for the pane's subtitle, filled from the drill-down's summary row
    summary: str = ""


@dataclass(frozen=True)
class Presentation:
    """The console's view of one hunt."""
    title: str  # list / screen title, e.g. "Exchange servers"
    noun: str  # plural for counts in the status line, e.g. "servers"
    columns: tuple[ListColumn, ...]  # the findings list (the disposition column is added)
    roles: Mapping[str, str] = field(default_factory=dict)  # role -> column of the row
    panes: tuple[Pane, ...] = ()
    empty_text: str = "No findings."
    order: int = DEFAULT_ORDER  # position among the hunts (number keys follow it)
    view: str = ""  # stable id of the hunt's screen ("" -> "hunt-<slug>")

    def role_column(self, role: str) -> str | None:
        return self.roles.get(role)


@dataclass(frozen=True)
class DrilldownQuery:
    """A query the console may run for the finding under the cursor.

    ``sql`` is fixed text from the hunt's file with ``$name`` placeholders; ``bind`` says
    where each value comes from: a column of the finding's row, or ``role:NAME`` (the column
    the presentation gives that role). A list value binds its first element (hunt B's
    AccessingIPs holds the one client). ``$limit`` is bound to ``limit``; ``count_sql``
    (same placeholders, one row, one number) counts every matching row when the page is
    full; ``summary_sql`` (one row) fills the pane's subtitle template.
    """
    id: str
    sql: str
    bind: Mapping[str, str] = field(default_factory=dict)
    limit: int = 5_000
    count_sql: str | None = None
    summary_sql: str | None = None


class PresentationError(ValueError):
    """A ``console:`` or ``drilldowns:`` key is wrong; the message names the key."""


# --- reading a hunt's declaration -----------------------------------------------------------

def parse_presentation(raw: Any) -> Presentation:
    """The ``console:`` mapping of a rule file as a Presentation (PresentationError names
    the sub-key that is wrong)."""
    m = _mapping(raw, "console")
    title = _text(m, "title", "console", required=True)
    roles = _string_map(m.get("roles"), "console.roles")
    for role in roles:
        if role not in ROLES:
            raise PresentationError(f"console.roles: unknown role {role!r}; roles: "
                                    f"{', '.join(ROLES)}")
    columns = _columns(m.get("columns"), "console.columns", required=True)
    panes = []
    for i, item in enumerate(_list(m.get("panes"), "console.panes")):
        panes.append(_pane(item, f"console.panes[{i}]"))
    ids = [p.id for p in panes]
    if len(set(ids)) != len(ids):
        raise PresentationError("console.panes: two panes share an id")
    order = m.get("order", DEFAULT_ORDER)
    if isinstance(order, bool) or not isinstance(order, int):
        raise PresentationError("console.order: must be a whole number")
    view = _text(m, "view", "console")
    if view and not IDENTIFIER.match(view):
        raise PresentationError(f"console.view: {view!r} must be lower-case letters, digits "
                                f"and '-'")
    return Presentation(title=title, noun=_text(m, "noun", "console") or "findings",
                        columns=columns, roles=roles, panes=tuple(panes),
                        empty_text=_text(m, "empty", "console") or "No findings.",
                        order=order, view=view)


def parse_drilldowns(raw: Any) -> dict[str, DrilldownQuery]:
    """The ``drilldowns:`` mapping of a rule file (id -> sql, bind, limit ...)."""
    if raw is None:
        return {}
    out: dict[str, DrilldownQuery] = {}
    for qid, item in _mapping(raw, "drilldowns").items():
        where = f"drilldowns.{qid}"
        if not isinstance(qid, str) or not IDENTIFIER.match(qid):
            raise PresentationError(f"{where}: the id must be lower-case letters, digits, '-'")
        m = _mapping(item, where)
        bind = _string_map(m.get("bind"), f"{where}.bind")
        for name in bind:
            if not _PLACEHOLDER.match(name) or name == "limit":
                raise PresentationError(f"{where}.bind: {name!r} is not a placeholder name "
                                        f"($limit is bound from `limit`)")
        limit = m.get("limit", 5_000)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise PresentationError(f"{where}.limit: must be a positive whole number")
        out[qid] = DrilldownQuery(
            id=qid, sql=_text(m, "sql", where, required=True), bind=bind, limit=limit,
            count_sql=_text(m, "count_sql", where) or None,
            summary_sql=_text(m, "summary_sql", where) or None)
    return out


def check_references(presentation: Presentation, drilldowns: Mapping[str, DrilldownQuery],
                     generic: Mapping[str, DrilldownQuery]) -> None:
    """Every pane names a drill-down that exists (PresentationError otherwise)."""
    for pane in presentation.panes:
        if pane.kind == "findings":
            continue
        if pane.drilldown not in drilldowns and pane.drilldown not in generic:
            known = sorted({*drilldowns, *generic})
            raise PresentationError(f"console.panes ({pane.id}): drill-down "
                                    f"{pane.drilldown!r} is not declared under `drilldowns:` "
                                    f"nor generic; known: {', '.join(known)}")


def _pane(raw: Any, where: str) -> Pane:
    m = _mapping(raw, where)
    pid = _text(m, "id", where, required=True)
    if not IDENTIFIER.match(pid):
        raise PresentationError(f"{where}.id: {pid!r} must be lower-case letters, digits, '-'")
    kind = _text(m, "kind", where) or "rows"
    if kind not in PANE_KINDS:
        raise PresentationError(f"{where}.kind: {kind!r} is not one of {', '.join(PANE_KINDS)}")
    drilldown = _text(m, "drilldown", where) or None
    hunt = _text(m, "hunt", where) or None
    time_column = _text(m, "time_column", where) or None
    if kind in ("rows", "timeline") and drilldown is None:
        raise PresentationError(f"{where}.drilldown: missing (a {kind} pane shows a query)")
    if kind == "timeline" and time_column is None:
        raise PresentationError(f"{where}.time_column: missing (the histogram's column)")
    if kind == "findings" and hunt is None:
        raise PresentationError(f"{where}.hunt: missing (whose findings to show)")
    height = m.get("height", 1)
    if isinstance(height, bool) or not isinstance(height, int) or height < 1:
        raise PresentationError(f"{where}.height: must be a positive whole number")
    return Pane(id=pid, title=_text(m, "title", where, required=True), kind=kind,
                columns=_columns(m.get("columns"), f"{where}.columns", required=True),
                empty_text=_text(m, "empty", where), drilldown=drilldown,
                time_column=time_column, hunt=hunt,
                match=_string_map(m.get("match"), f"{where}.match"), height=height,
                summary=_text(m, "summary", where))


def _columns(raw: Any, where: str, *, required: bool = False) -> tuple[ListColumn, ...]:
    items = _list(raw, where)
    if required and not items:
        raise PresentationError(f"{where}: missing (at least one column)")
    out = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        m = _mapping(item, here)
        unknown = set(m) - {"source", "title", "width", "flex", "right", "optional", "pick",
                            "empty", "plus_as_space"}
        if unknown:
            raise PresentationError(f"{here}: unknown keys {sorted(unknown)}")
        width = m.get("width", 12)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise PresentationError(f"{here}.width: must be a positive whole number")
        pick = _text(m, "pick", here) or "value"
        if pick not in PICKS:
            raise PresentationError(f"{here}.pick: {pick!r} is not one of {', '.join(PICKS)}")
        flags = {}
        for flag in ("flex", "right", "optional", "plus_as_space"):
            value = m.get(flag, False)
            if not isinstance(value, bool):
                raise PresentationError(f"{here}.{flag}: must be true or false")
            flags[flag] = value
        source = _text(m, "source", here, required=True)
        out.append(ListColumn(source=source, title=_text(m, "title", here) or source,
                              width=width, pick=pick, empty=_text(m, "empty", here), **flags))
    return tuple(out)


def _mapping(raw: Any, where: str) -> dict:
    if not isinstance(raw, dict):
        raise PresentationError(f"{where}: must be a mapping of keys")
    return raw


def _list(raw: Any, where: str) -> list:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PresentationError(f"{where}: must be a list")
    return raw


def _text(m: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = m.get(key)
    if value is None:
        if required:
            raise PresentationError(f"{where}.{key}: missing")
        return ""
    if not isinstance(value, str):
        raise PresentationError(f"{where}.{key}: must be text")
    return value


def _string_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    m = _mapping(raw, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in m.items()):
        raise PresentationError(f"{where}: must map text to text")
    return dict(m)


# --- deriving one for a plain Sentinel rule ----------------------------------------------

# Sentinel entity types (entityMappings) and what the console calls them.
_ENTITY_ROLES = {"host": "server", "ip": "ip", "account": "account", "url": "url",
                 "file": "file", "filehash": "file"}
# The legacy custom-entity columns Sentinel hunting queries extend their rows with.
_ALIAS_ROLES = {"hostcustomentity": "server", "ipcustomentity": "ip",
                "accountcustomentity": "account", "urlcustomentity": "url",
                "filecustomentity": "file", "timestamp": "time"}
# Column names that say their role in W3CIISLog / SecurityAlert vocabulary.
_NAME_ROLES = {"computer": "server", "exchangeserver": "server", "hostname": "server",
               "cip": "ip", "clientip": "ip", "sourceip": "ip", "attackerip": "ip",
               "csusername": "account", "csuristem": "url", "alertname": "alert",
               "tenantid": "tenant", "timegenerated": "time", "starttime": "time"}
# Bookkeeping columns of Sentinel's tables: where a row was logged from, not something to
# investigate (FileUri is the evidence file itself), so they take no role even when a query
# maps an entity to them (ProxyShellPwn2Own's FileCustomEntity = FileUri).
_NO_ROLE = {"fileuri", "_resourceid", "_subscriptionid", "sourcesystem", "type", "mg",
            "managementgroupname"}
MAX_DEFAULT_COLUMNS = 7


def default_presentation(title: str, columns: Sequence[str],
                         rows: Sequence[Mapping[str, Any]],
                         entity_mappings: Sequence[Any] = ()) -> Presentation:
    """A console view for a hunt that declares none: roles from its entity mappings and
    column names, the list from its output columns (Sentinel's alias columns such as
    ``HostCustomEntity = Computer`` left out when they repeat another column: the detail
    view shows every column), and panes from the engine's generic drill-downs for the
    roles it has (requests of the client, alerts naming the server)."""
    aliases = _repeated_aliases(columns, rows)
    roles: dict[str, str] = {}

    def give(role: str, column: str) -> None:
        target = aliases.get(column, column)
        if column in columns and role not in roles and target.lower() not in _NO_ROLE:
            roles[role] = target

    for mapping in entity_mappings or ():
        if not isinstance(mapping, dict):
            continue
        role = _ENTITY_ROLES.get(str(mapping.get("entityType", "")).lower())
        for fm in mapping.get("fieldMappings") or ():
            if isinstance(fm, dict) and isinstance(fm.get("columnName"), str):
                ident = str(fm.get("identifier", "")).lower()
                if str(mapping.get("entityType", "")).lower() == "networkconnection":
                    if ident == "sourceaddress":
                        give("ip", fm["columnName"])
                elif role is not None:
                    give(role, fm["columnName"])
    for column in columns:
        role = _ALIAS_ROLES.get(column.lower()) or _NAME_ROLES.get(column.lower())
        if role is not None:
            give(role, column)

    shown = [c for c in columns if c not in aliases]
    list_columns = []
    for i, column in enumerate(shown[:MAX_DEFAULT_COLUMNS]):
        list_columns.append(_default_column(column, [r.get(column) for r in rows],
                                            optional=i >= 3))
    panes = []
    if "ip" in roles:
        on_server = "server" in roles
        panes.append(Pane(
            id="client-requests",
            title="Requests from this client" + (" on this server" if on_server else ""),
            kind="rows", columns=CLIENT_REQUEST_COLUMNS, empty_text="No requests.",
            drilldown="client-requests-on-server" if on_server else "client-requests"))
    if "server" in roles:
        panes.append(Pane(id="host-alerts", title="Alerts naming this server", kind="timeline",
                          columns=ALERT_COLUMNS, empty_text="No alerts name this server.",
                          drilldown="host-alerts", time_column="TimeGenerated"))
    return Presentation(title=title, noun="findings", columns=tuple(list_columns),
                        roles=roles, panes=tuple(panes))


def _repeated_aliases(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
                      ) -> dict[str, str]:
    """Alias column -> the earlier column holding the same value in every row."""
    out = {}
    for alias in columns:
        if alias.lower() not in _ALIAS_ROLES and alias.lower() != "ip_0_address":
            continue
        for other in columns:
            if other == alias or other in out or other.lower() in _ALIAS_ROLES:
                continue
            if rows and all(r.get(other) == r.get(alias) for r in rows):
                out[alias] = other
                break
    return out


def _default_column(name: str, values: Sequence[Any], *, optional: bool) -> ListColumn:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, _dt.datetime):
        return ListColumn(name, name, width=19, optional=optional)
    if isinstance(sample, (list, tuple, dict)):
        return ListColumn(name, name, width=max(len(name), 12), flex=True, optional=optional,
                          pick="join")
    if isinstance(sample, (int, float)) and not isinstance(sample, bool):
        return ListColumn(name, name, width=max(len(name), 5), right=True, optional=optional)
    return ListColumn(name, name, width=max(min(len(name), 16), 10), flex=True,
                      optional=optional)


# The generic panes' columns (the engine's generic drill-downs return these names).
CLIENT_REQUEST_COLUMNS = (
    ListColumn("TimeGenerated", "Time (UTC)", 19),
    ListColumn("Computer", "Server", 12, optional=True),
    ListColumn("csMethod", "Method", 6),
    ListColumn("csUriStem", "Path", 14, flex=True),
    ListColumn("scStatus", "Status", 6),
    ListColumn("csUserAgent", "User agent", 10, flex=True, optional=True, plus_as_space=True),
)
ALERT_COLUMNS = (
    ListColumn("TimeGenerated", "Time (UTC)", 19),
    ListColumn("AlertName", "Alert", 16, flex=True),
    ListColumn("AlertSeverity", "Severity", 8, optional=True),
    ListColumn("SystemAlertId", "Alert id", 16, flex=True),
)
