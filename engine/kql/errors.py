"""The one error the KQL compiler raises: what went wrong and where in the query text."""
from __future__ import annotations


class KqlError(Exception):
    """A query exhunt cannot run faithfully: a syntax error, an unknown name or table, a type
    mismatch, or a construct exhunt does not implement. ``line`` and ``column`` are 1-based
    positions in the query text (0 when the error is not tied to one place)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line else ""
        super().__init__(f"{message}{where}")


class UnknownTable(KqlError):
    """A table exhunt's evidence does not have (``union isfuzzy=true`` skips such a leg)."""


class QueryFailed(Exception):
    """A compiled query failed while running (DuckDB's first line says why)."""
