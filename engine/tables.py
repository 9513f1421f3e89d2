"""The two Sentinel table shapes exhunt produces, defined once.

Column names and types follow the Azure Monitor table reference for ``W3CIISLog`` and
``SecurityAlert``. KQL strings are never null, so every VARCHAR column is created
``NOT NULL DEFAULT ''``: a reader that forgets a column still produces KQL's ``""``.

Besides Sentinel's columns each table carries provenance columns whose names start with
``_`` (``_file_id``, ``_line``): KQL queries never see them (``Table.kql_columns``) but the
console uses them to show where a row came from, and the case uses ``_file_id`` to replace
only the rows of a file that changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # DuckDB type
    kql_type: str  # string | datetime | int | long | bool | real | dynamic | guid

    @property
    def is_string(self) -> bool:
        return self.sql_type == "VARCHAR"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def kql_columns(self) -> tuple[Column, ...]:
        """The columns a KQL query can see (provenance columns hidden)."""
        return tuple(c for c in self.columns if not c.name.startswith("_"))

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def create_sql(self, name: str | None = None) -> str:
        """DDL for this table. Identifiers are ours (never evidence), so formatting is safe."""
        cols = []
        for c in self.columns:
            if c.is_string:
                cols.append(f'"{c.name}" VARCHAR NOT NULL DEFAULT \'\'')
            else:
                cols.append(f'"{c.name}" {c.sql_type}')
        return f'CREATE TABLE IF NOT EXISTS "{name or self.name}" ({", ".join(cols)})'


def _s(name: str) -> Column:
    return Column(name, "VARCHAR", "string")


_PROVENANCE = (
    Column("_file_id", "INTEGER", "int"),  # row of the case's evidence manifest
    Column("_line", "BIGINT", "long"),  # 1-based line (raw W3C) or record number (exports)
)

W3CIISLOG = Table(
    "W3CIISLog",
    (
        _s("TenantId"),
        Column("TimeGenerated", "TIMESTAMP", "datetime"),  # UTC, microseconds
        _s("SourceSystem"),
        _s("Computer"),
        _s("sSiteName"),
        _s("sComputerName"),
        _s("sIP"),
        _s("csMethod"),
        _s("csUriStem"),
        _s("csUriQuery"),
        Column("sPort", "INTEGER", "int"),
        _s("csUserName"),
        _s("cIP"),
        _s("csVersion"),
        _s("csUserAgent"),
        _s("csCookie"),
        _s("csReferer"),
        _s("csHost"),
        _s("scStatus"),
        _s("scSubStatus"),
        _s("scWin32Status"),
        Column("scBytes", "BIGINT", "long"),
        Column("csBytes", "BIGINT", "long"),
        Column("TimeTaken", "BIGINT", "long"),
        _s("FileUri"),
        _s("Type"),
        *_PROVENANCE,
    ),
)

SECURITYALERT = Table(
    "SecurityAlert",
    (
        _s("TenantId"),
        Column("TimeGenerated", "TIMESTAMP", "datetime"),
        _s("DisplayName"),
        _s("AlertName"),
        _s("AlertSeverity"),
        _s("Description"),
        _s("ProviderName"),
        _s("VendorName"),
        _s("VendorOriginalId"),
        _s("SystemAlertId"),
        _s("ResourceId"),
        _s("SourceComputerId"),
        _s("AlertType"),
        _s("ConfidenceLevel"),
        Column("ConfidenceScore", "DOUBLE", "real"),
        Column("IsIncident", "BOOLEAN", "bool"),
        Column("StartTime", "TIMESTAMP", "datetime"),
        Column("EndTime", "TIMESTAMP", "datetime"),
        Column("ProcessingEndTime", "TIMESTAMP", "datetime"),
        _s("RemediationSteps"),
        _s("ExtendedProperties"),  # JSON text, as Log Analytics stores it
        _s("Entities"),  # JSON text, as Log Analytics stores it
        _s("SourceSystem"),
        _s("WorkspaceSubscriptionId"),
        _s("WorkspaceResourceGroup"),
        _s("ExtendedLinks"),
        _s("ProductName"),
        _s("ProductComponentName"),
        _s("AlertLink"),
        _s("Status"),
        _s("CompromisedEntity"),
        _s("Tactics"),
        _s("Techniques"),
        _s("SubTechniques"),
        _s("Type"),
        *_PROVENANCE,
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (W3CIISLOG, SECURITYALERT)}


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create both tables (empty) if they do not exist yet."""
    for table in TABLES.values():
        con.execute(table.create_sql())
