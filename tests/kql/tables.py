"""Empty exhunt tables on an in-memory DuckDB, for tests that fill their own rows."""
from __future__ import annotations

import duckdb

from engine.kql import install
from engine.tables import TABLES


def null_db() -> duckdb.DuckDBPyConnection:
    """The two tables without NOT NULL, so that string columns can hold nulls as a view over a
    case's Parquet files can, with the macros installed."""
    con = duckdb.connect()
    for table in TABLES.values():
        cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in table.columns)
        con.execute(f'CREATE TABLE "{table.name}" ({cols})')
    install(con)
    return con
