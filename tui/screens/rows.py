"""How each kind of record becomes a table row: columns and cell text in one place."""
from __future__ import annotations

from typing import Any

from engine.findings import Finding
from tui.search import SearchIndex
from tui.screens.state import (DISPOSITION_STYLE, HUNT_A, HUNT_B, SHORT_DISPOSITION, CaseData,
                               short_time)
from tui.widgets.table import Column, Row

DISPOSITION_COLUMN = Column("disposition", "Disposition", 11)

SERVER_COLUMNS = [
    Column("server", "Exchange server", 14, flex=True),
    Column("alerts", "Alerts", 6, right=True),
    Column("first", "First alert", 19),
    Column("last", "Last alert", 19, optional=True),
    DISPOSITION_COLUMN,
]

FILE_COLUMNS = [
    Column("file", "File", 12, flex=True),
    Column("server", "Server", 12, flex=True),
    Column("ip", "Client IP", 15),
    Column("access", "Acc", 3, right=True),
    Column("first", "First access", 19),
    Column("last", "Last access", 19, optional=True),
    DISPOSITION_COLUMN,
]

SERVER_FILE_COLUMNS = [
    Column("file", "Path", 14, flex=True),
    Column("ip", "Client IP", 15),
    Column("access", "Acc", 3, right=True),
    Column("first", "First access", 19),
    DISPOSITION_COLUMN,
]

ALERT_COLUMNS = [
    Column("time", "Time (UTC)", 19),
    Column("name", "Alert", 16, flex=True),
    Column("severity", "Severity", 8, optional=True),
    Column("id", "Alert id", 16, flex=True),
]

REQUEST_COLUMNS = [
    Column("time", "Time (UTC)", 19),
    Column("ip", "Client IP", 15),
    Column("method", "Method", 6),
    Column("status", "Status", 6),
    Column("bytes", "Bytes", 8, right=True),
    Column("taken", "ms", 6, right=True),
    Column("agent", "User agent", 10, flex=True),
]

PIVOT_COLUMNS = [
    Column("path", "Path", 14, flex=True),
    Column("status", "Status", 6),
    Column("requests", "Requests", 8, right=True),
    Column("first", "First seen", 19),
    Column("last", "Last seen", 19, optional=True),
]


def _disposition_cells(data: CaseData, finding: Finding) -> tuple[str, str]:
    disposition = data.disposition(finding.finding_id)
    return SHORT_DISPOSITION[disposition], DISPOSITION_STYLE[disposition]


def _times(values: Any) -> list[Any]:
    return sorted(v for v in (values or []) if v is not None)


def server_row(data: CaseData, finding: Finding) -> Row:
    row = finding.row
    times = _times(row.get("AlertTimes"))
    short, style = _disposition_cells(data, finding)
    alerts = row.get("Alerts")
    return Row(finding.finding_id, [
        row.get("ExchangeServer", ""),
        "none" if alerts is None else str(alerts),
        short_time(times[0]) if times else "",
        short_time(times[-1]) if times else "",
        short,
    ], data=finding, style=style)


def _first_ip(row: dict[str, Any]) -> str:
    ips = row.get("AccessingIPs") or []
    if isinstance(ips, str):
        return ips
    return ", ".join(str(ip) for ip in ips)


def file_row(data: CaseData, finding: Finding) -> Row:
    row = finding.row
    short, style = _disposition_cells(data, finding)
    return Row(finding.finding_id, [
        row.get("file_name", ""),
        row.get("Computer", ""),
        _first_ip(row),
        str(row.get("Access", "")),
        short_time(row.get("StartTime")),
        short_time(row.get("EndTime")),
        short,
    ], data=finding, style=style)


def server_file_row(data: CaseData, finding: Finding) -> Row:
    row = finding.row
    short, style = _disposition_cells(data, finding)
    return Row(finding.finding_id, [
        row.get("csUriStem", ""),
        _first_ip(row),
        str(row.get("Access", "")),
        short_time(row.get("StartTime")),
        short,
    ], data=finding, style=style)


def alert_row(alert: dict[str, Any], index: int) -> Row:
    return Row(f"alert-{index}", [short_time(alert.get("TimeGenerated")),
                                  alert.get("AlertName", ""), alert.get("AlertSeverity", ""),
                                  alert.get("SystemAlertId", "")], data=alert, markable=False)


def request_row(request: dict[str, Any], index: int) -> Row:
    agent = request.get("csUserAgent") or ""
    return Row(f"request-{index}", [
        short_time(request.get("TimeGenerated")),
        request.get("cIP", ""),
        request.get("csMethod", ""),
        request.get("scStatus", ""),
        "" if request.get("scBytes") is None else str(request["scBytes"]),
        "" if request.get("TimeTaken") is None else str(request["TimeTaken"]),
        # IIS writes spaces in user agents as '+'; people read them with spaces.
        agent.replace("+", " "),
    ], data=request, markable=False)


def pivot_row(pivot: dict[str, Any], index: int) -> Row:
    return Row(f"pivot-{index}", [pivot["csUriStem"], pivot["scStatus"], str(pivot["requests"]),
                                  short_time(pivot["first_seen"]), short_time(pivot["last_seen"])],
               data=pivot, markable=False)


def finding_ip(finding: Finding) -> str:
    ips = finding.row.get("AccessingIPs") or []
    if isinstance(ips, str):
        return ips
    return str(ips[0]) if ips else ""


def finding_tables(data: CaseData) -> dict[str, Any]:
    """The two big lists with their filter index, built in the loading worker so that the
    UI thread only swaps them in (100,000 findings cost seconds to prepare)."""
    tables = {}
    for name, rule_id, build in (("servers", HUNT_A, server_row), ("files", HUNT_B, file_row)):
        rows = [build(data, f) for f in data.findings(rule_id)]
        tables[name] = (rows, SearchIndex([r.searchable() for r in rows]).build_words())
    by_server: dict[str, list[Finding]] = {}
    for f in data.findings(HUNT_B):
        # Hunt A names servers tolower(Computer): group hunt B findings the same way.
        by_server.setdefault(str(f.row.get("Computer", "")).lower(), []).append(f)
    tables["files_by_server"] = by_server
    return tables
