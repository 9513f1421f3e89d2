"""Every query the console runs besides the hunts: the rows behind a finding.

The console never writes SQL; it asks this module. Values always travel as bound parameters.
One :class:`Drilldown` wraps one DuckDB connection with a lock: the console calls it from
background workers (one pane query at a time per connection is plenty for a person, and a
DuckDB connection must not run two statements at once).

What "behind a finding" means here:
* Hunt A (a server): the SecurityAlert rows with a host entity that names the server the way
  the hunt does (first 128 top-level entities, ``Type == "host"``, ``HostName.DnsDomain``
  lower-cased, or ``HostName`` alone when the domain is empty). Each row is one alert update.
* Hunt B (a file): every request for that exact path on that server and tenant, so the
  analyst also sees requests the hunt's filters set aside (a query string, a private client).
* The client-IP pivot: what that client did on that server, by path and status.
"""
from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass
from typing import Any

import duckdb

# Shared by the alert query: the hunt's server name of one entity ``e`` (JSON).
_ENTITY_COMPUTER = (
    "lower(CASE WHEN coalesce(json_extract_string(e, '$.DnsDomain'), '') <> '' "
    "THEN coalesce(json_extract_string(e, '$.HostName'), '') || '.' || "
    "json_extract_string(e, '$.DnsDomain') "
    "ELSE coalesce(json_extract_string(e, '$.HostName'), '') END)"
)

_SERVER_ALERTS_SQL = f"""
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
WHERE json_extract_string(e, '$.Type') = 'host' AND {_ENTITY_COMPUTER} = ?
ORDER BY TimeGenerated, SystemAlertId, _file_id, _line
LIMIT ?
"""

_REQUEST_COLUMNS = (
    "TimeGenerated", "cIP", "csMethod", "scStatus", "scSubStatus", "scWin32Status", "scBytes",
    "csBytes", "TimeTaken", "csUserAgent", "csUriStem", "csUriQuery", "csUserName", "csReferer",
    "csHost", "csCookie", "sIP", "sPort", "sSiteName", "sComputerName", "csVersion", "Computer",
    "TenantId", "_file_id", "_line",
)

_FILE_REQUESTS_SQL = (
    "SELECT " + ", ".join(f'"{c}"' for c in _REQUEST_COLUMNS) + " FROM W3CIISLog "
    "WHERE TenantId = ? AND Computer = ? AND csUriStem = ? "
    "ORDER BY TimeGenerated, _file_id, _line LIMIT ?"
)
_FILE_REQUESTS_COUNT_SQL = (
    "SELECT count(*) FROM W3CIISLog WHERE TenantId = ? AND Computer = ? AND csUriStem = ?"
)

_IP_PIVOT_SQL = """
SELECT csUriStem, scStatus, count(*) AS requests, min(TimeGenerated) AS first_seen,
       max(TimeGenerated) AS last_seen
FROM W3CIISLog
WHERE Computer = ? AND cIP = ?
GROUP BY csUriStem, scStatus
ORDER BY requests DESC, csUriStem, scStatus
LIMIT ?
"""
_IP_TOTALS_SQL = """
SELECT count(*), count(DISTINCT csUriStem), min(TimeGenerated), max(TimeGenerated)
FROM W3CIISLog WHERE Computer = ? AND cIP = ?
"""

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
class AlertRow:
    time: _dt.datetime | None
    name: str
    alert_id: str
    severity: str
    provider: str
    status: str
    description: str
    compromised_entity: str
    file_id: int | None
    line: int | None


@dataclass(frozen=True)
class RequestPage:
    rows: list[dict[str, Any]]  # column -> value, in _REQUEST_COLUMNS order
    total: int  # all matching requests (rows holds at most the limit)


@dataclass(frozen=True)
class PivotRow:
    path: str
    status: str
    requests: int
    first_seen: _dt.datetime | None
    last_seen: _dt.datetime | None


@dataclass(frozen=True)
class IpPivot:
    client_ip: str
    computer: str
    rows: list[PivotRow]
    requests: int
    paths: int
    first_seen: _dt.datetime | None
    last_seen: _dt.datetime | None


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

    def _all(self, sql: str, params: list[Any]) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def _one(self, sql: str, params: list[Any]) -> tuple:
        with self._lock:
            return self._con.execute(sql, params).fetchone()

    def server_alerts(self, server: str, limit: int = 10_000) -> list[AlertRow]:
        """Alert rows (updates included) whose host entities name ``server`` as hunt A does."""
        return [AlertRow(*r) for r in self._all(_SERVER_ALERTS_SQL, [server, limit])]

    def file_requests(self, tenant_id: str, computer: str, uri_stem: str,
                      limit: int = 5_000) -> RequestPage:
        """Every request for one path on one server, oldest first."""
        params = [tenant_id, computer, uri_stem]
        rows = [dict(zip(_REQUEST_COLUMNS, r))
                for r in self._all(_FILE_REQUESTS_SQL, [*params, limit])]
        # Count separately only when the page is full: most files have a handful of requests.
        total = len(rows) if len(rows) < limit else self._one(_FILE_REQUESTS_COUNT_SQL, params)[0]
        return RequestPage(rows, int(total))

    def ip_pivot(self, computer: str, client_ip: str, limit: int = 1_000) -> IpPivot:
        """What ``client_ip`` requested on ``computer``: counts by path and status."""
        rows = [PivotRow(*r) for r in self._all(_IP_PIVOT_SQL, [computer, client_ip, limit])]
        requests, paths, first, last = self._one(_IP_TOTALS_SQL, [computer, client_ip])
        return IpPivot(client_ip, computer, rows, int(requests), int(paths), first, last)

    def evidence_stats(self) -> EvidenceStats:
        """Row counts, hosts and time ranges of both tables."""
        iis = self._one(_IIS_STATS_SQL, [])
        alerts = self._one(_ALERT_STATS_SQL, [])
        return EvidenceStats(int(iis[0]), int(iis[1]), int(iis[2]), iis[3], iis[4],
                             int(alerts[0]), int(alerts[1]), alerts[2], alerts[3])


REQUEST_COLUMNS = _REQUEST_COLUMNS
