"""Every query the console runs besides the hunts: the rows behind a finding.

The console never writes SQL; it asks this module. Values always travel as bound parameters.
One :class:`Drilldown` wraps one DuckDB connection with a lock: the console calls it from
background workers (one pane query at a time per connection is plenty for a person, and a
DuckDB connection must not run two statements at once).

A pane of a hunt names a drill-down query: one the hunt declares in its file
(``drilldowns:``, e.g. hunt B's requests for a path and its client-IP pivot) or one of the
generic ones here, which any hunt may name and which the engine's default presentation uses
for hunts that declare none:

* ``host-alerts``: the SecurityAlert rows with a host entity naming the server the way hunt
  A does (first 128 top-level entities, ``Type == "host"``, ``HostName.DnsDomain``
  lower-cased, or ``HostName`` alone when the domain is empty). Each row is one alert update.
* ``client-requests`` / ``client-requests-on-server``: what one client IP requested
  (on one server), newest first.
"""
from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import duckdb

from engine.findings import HuntRun
from engine.presentation import DrilldownQuery, Pane
from engine.sqltext import bound_for

# Hunt A's server name of one host entity ``e`` (JSON), compared with the bound server.
_HOST_ALERTS_SQL = """
WITH expanded AS (
    SELECT a.TimeGenerated, a.AlertName, a.SystemAlertId, a.AlertSeverity, a.ProviderName,
           a.Status, a.Description, a.CompromisedEntity, a._file_id, a._line,
           unnest(CASE WHEN json_valid(a.Entities) AND json_type(a.Entities) = 'ARRAY'
                       THEN (json_extract(a.Entities, '$[*]'))[1:128]
                       ELSE []::JSON[] END) AS e
    FROM SecurityAlert AS a
)
SELECT DISTINCT TimeGenerated, AlertName, SystemAlertId, AlertSeverity, ProviderName, Status,
       Description, CompromisedEntity, _file_id, _line
FROM expanded
WHERE json_extract_string(e, '$.Type') = 'host'
  AND lower(CASE WHEN coalesce(json_extract_string(e, '$.DnsDomain'), '') <> ''
                 THEN coalesce(json_extract_string(e, '$.HostName'), '') || '.'
                      || json_extract_string(e, '$.DnsDomain')
                 ELSE coalesce(json_extract_string(e, '$.HostName'), '') END) = lower($server)
ORDER BY TimeGenerated, SystemAlertId, _file_id, _line
LIMIT $limit
"""

_CLIENT_REQUESTS_SQL = """
SELECT TimeGenerated, Computer, csMethod, csUriStem, csUriQuery, scStatus, scBytes, TimeTaken,
       csUserAgent, cIP, sSiteName, TenantId, _file_id, _line
FROM W3CIISLog WHERE cIP = $ip
ORDER BY TimeGenerated DESC, _file_id, _line LIMIT $limit
"""
_CLIENT_REQUESTS_COUNT_SQL = "SELECT count(*) FROM W3CIISLog WHERE cIP = $ip"
_CLIENT_SERVER_REQUESTS_SQL = """
SELECT TimeGenerated, Computer, csMethod, csUriStem, csUriQuery, scStatus, scBytes, TimeTaken,
       csUserAgent, cIP, sSiteName, TenantId, _file_id, _line
FROM W3CIISLog WHERE lower(Computer) = lower($server) AND cIP = $ip
ORDER BY TimeGenerated DESC, _file_id, _line LIMIT $limit
"""
_CLIENT_SERVER_REQUESTS_COUNT_SQL = (
    "SELECT count(*) FROM W3CIISLog WHERE lower(Computer) = lower($server) AND cIP = $ip")

GENERIC_DRILLDOWNS: dict[str, DrilldownQuery] = {
    q.id: q for q in (
        DrilldownQuery("host-alerts", _HOST_ALERTS_SQL, {"server": "role:server"},
                       limit=10_000),
        DrilldownQuery("client-requests", _CLIENT_REQUESTS_SQL, {"ip": "role:ip"},
                       count_sql=_CLIENT_REQUESTS_COUNT_SQL),
        DrilldownQuery("client-requests-on-server", _CLIENT_SERVER_REQUESTS_SQL,
                       {"server": "role:server", "ip": "role:ip"},
                       count_sql=_CLIENT_SERVER_REQUESTS_COUNT_SQL),
    )
}

_IIS_STATS_SQL = """
SELECT count(*), count(DISTINCT Computer), count(DISTINCT cIP), min(TimeGenerated),
       max(TimeGenerated)
FROM W3CIISLog
"""
_ALERT_STATS_SQL = """
SELECT count(*), count(DISTINCT SystemAlertId), min(TimeGenerated), max(TimeGenerated)
FROM SecurityAlert
"""


@dataclass(frozen=True)
class PaneRows:
    """What a pane shows for one finding."""
    columns: list[str]
    rows: list[dict[str, Any]]  # column -> value, at most the query's limit
    total: int  # every matching row (rows holds at most the limit)
    summary: dict[str, Any] | None = None  # the summary query's row, for the pane subtitle


class DrilldownError(ValueError):
    """A pane cannot be filled for this finding (no such query, a value it needs is
    missing); the message says which."""


@dataclass(frozen=True)
class EvidenceStats:
    iis_rows: int
    iis_hosts: int
    iis_clients: int
    iis_first: _dt.datetime | None
    iis_last: _dt.datetime | None
    alert_rows: int
    alerts: int
    alert_first: _dt.datetime | None
    alert_last: _dt.datetime | None


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Stop DuckDB drawing its progress bar: it writes straight to the terminal (file
    descriptor 1), which tears the console's screen during a slow hunt."""
    con.execute("SET enable_progress_bar = false")
    return con


class Drilldown:
    """Pane queries over one case connection (thread-safe: one statement at a time)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = quiet(con)
        self._lock = threading.Lock()

    def _one(self, sql: str, params: list[Any]) -> tuple:
        with self._lock:
            return self._con.execute(sql, params).fetchone()

    def pane_rows(self, run: HuntRun, pane: Pane, row: Mapping[str, Any]) -> PaneRows:
        """The rows of ``pane`` (a rows or timeline pane of ``run``'s hunt) for the finding
        whose row is ``row``: the pane's drill-down query with its values bound from it."""
        query = find_drilldown(run, pane.drilldown)
        values = {**bind_values(run, query, row), "limit": query.limit}
        with self._lock:
            cursor = self._con.execute(query.sql, bound_for(query.sql, values))
            columns = [d[0] for d in cursor.description]
            rows = [dict(zip(columns, r)) for r in cursor.fetchall()]
            total = len(rows)
            # Count separately only when the page is full: most findings have a handful.
            if query.count_sql is not None and total >= query.limit:
                total = int(self._con.execute(query.count_sql,
                                              bound_for(query.count_sql, values)).fetchone()[0])
            summary = None
            if query.summary_sql is not None:
                cursor = self._con.execute(query.summary_sql,
                                           bound_for(query.summary_sql, values))
                names = [d[0] for d in cursor.description]
                first = cursor.fetchone()
                summary = None if first is None else dict(zip(names, first))
        return PaneRows(columns, rows, total, summary)

    def evidence_stats(self) -> EvidenceStats:
        """Row counts, hosts and time ranges of both tables."""
        iis = self._one(_IIS_STATS_SQL, [])
        alerts = self._one(_ALERT_STATS_SQL, [])
        return EvidenceStats(int(iis[0]), int(iis[1]), int(iis[2]), iis[3], iis[4],
                             int(alerts[0]), int(alerts[1]), alerts[2], alerts[3])

def find_drilldown(run: HuntRun, query_id: str | None) -> DrilldownQuery:
    """The hunt's own drill-down ``query_id``, else the generic one of that id."""
    own = getattr(run.rule, "drilldowns", None) or {}
    query = own.get(query_id) or GENERIC_DRILLDOWNS.get(query_id or "")
    if query is None:
        raise DrilldownError(f"hunt {run.rule_slug}: no drill-down query {query_id!r}")
    return query


def bind_values(run: HuntRun, query: DrilldownQuery, row: Mapping[str, Any]
                ) -> dict[str, Any]:
    """The query's placeholder values from the finding's row (``role:NAME`` through the
    hunt's presentation; a list gives its first element; null binds as "" since KQL strings
    are never null)."""
    roles = run.presentation.roles if run.presentation is not None else {}
    values: dict[str, Any] = {}
    for name, source in query.bind.items():
        column = roles.get(source[len("role:"):]) if source.startswith("role:") else source
        if column is None or column not in row:
            raise DrilldownError(f"hunt {run.rule_slug}: drill-down {query.id} needs "
                                 f"{source!r}, which this finding does not have")
        value = row[column]
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        values[name] = "" if value is None else value
    return values
