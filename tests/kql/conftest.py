"""Small in-memory tables for the compiler tests, and a way to run KQL on them."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pytest

from engine import tables
from engine.kql import compile_kql, install

T0 = datetime(2021, 3, 2, 8, 1, 0)


def new_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    tables.create_tables(con)
    install(con)
    return con


@pytest.fixture(scope="session")
def _session_db() -> duckdb.DuckDBPyConnection:
    return new_db()


@pytest.fixture
def db(_session_db) -> duckdb.DuckDBPyConnection:
    """Empty tables with every macro installed (one connection, emptied per test: creating
    the macros costs more than most queries)."""
    _session_db.execute('DELETE FROM "W3CIISLog"')
    _session_db.execute('DELETE FROM "SecurityAlert"')
    return _session_db


def add(con: duckdb.DuckDBPyConnection, table: str, *rows: dict[str, Any]) -> None:
    """Insert rows (bound parameters); unnamed columns keep their defaults ('' / NULL)."""
    for row in rows:
        names = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        con.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(row.values()))


def iis(con, *rows: dict[str, Any]) -> None:
    add(con, "W3CIISLog", *({"TimeGenerated": T0, **r} for r in rows))


def alerts(con, *rows: dict[str, Any]) -> None:
    add(con, "SecurityAlert", *({"TimeGenerated": T0, **r} for r in rows))


def kql(con, text: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Run KQL; rows as dicts, dynamic columns decoded from JSON text."""
    compiled = compile_kql(text, now=now)
    cursor = compiled.execute(con)
    out = []
    for values in cursor.fetchall():
        row = {}
        for name, ktype, v in zip(compiled.columns, compiled.types, values):
            row[name] = json.loads(v) if ktype == "dynamic" and v is not None else v
        out.append(row)
    return out


def one_column(con, text: str, column: str | None = None, now=None) -> list[Any]:
    rows = kql(con, text, now)
    return [r[column] if column else next(iter(r.values())) for r in rows]
