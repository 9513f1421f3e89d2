"""Helpers for the hunt tests: an in-memory case with both tables and every macro, and
insert functions that fill the columns a test does not care about with KQL's defaults."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pytest

from engine import hunts, rules, tables

T0 = datetime(2021, 3, 2, 8, 1, 0)

REQUEST_DEFAULTS: dict[str, Any] = {
    "TenantId": "", "TimeGenerated": T0, "Computer": "EXCH01.contoso.com",
    "csUriStem": "/owa/auth/logon.aspx", "csUriQuery": "", "cIP": "203.0.113.7",
}
ALERT_DEFAULTS: dict[str, Any] = {
    "TimeGenerated": T0, "AlertName": "Suspicious web shell", "SystemAlertId": "alert-1",
    "Entities": "[]",
}


def new_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    tables.create_tables(con)
    hunts.install(con)
    return con


def clear(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM W3CIISLog")
    con.execute("DELETE FROM SecurityAlert")


def _insert(con, table: str, defaults: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    for row in rows:
        unknown = set(row) - set(defaults)
        assert not unknown, f"test helper does not fill {unknown}"
    cols = list(defaults)
    placeholders = ", ".join("?" for _ in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    if rows:
        con.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({placeholders})',
                        [[{**defaults, **row}[c] for c in cols] for row in rows])


def add_requests(con, *rows: dict[str, Any]) -> None:
    _insert(con, "W3CIISLog", REQUEST_DEFAULTS, list(rows))


def add_alerts(con, *rows: dict[str, Any]) -> None:
    _insert(con, "SecurityAlert", ALERT_DEFAULTS, list(rows))


RULES = {r.slug: r for r in rules.load_rules()}


def run(con, slug: str, **overrides: Any):
    return hunts.run_rule(con, RULES[slug], overrides)


def rows(con, slug: str, **overrides: Any) -> list[dict[str, Any]]:
    return [f.row for f in run(con, slug, **overrides).findings]


@pytest.fixture
def db():
    con = new_db()
    yield con
    con.close()
