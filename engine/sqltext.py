"""What a fixed SQL text of exhunt's (a rule's, a drill-down's) asks to be bound."""
from __future__ import annotations

import re
from typing import Any, Mapping

# `$name` placeholders, looked for outside SQL string literals and comments.
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_SQL_LITERALS_AND_COMMENTS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/",
                                        re.S)


def sql_placeholders(sql: str) -> list[str]:
    """The ``$name`` placeholders of ``sql`` in first-use order (literals/comments skipped:
    JSON paths such as ``'$.Type'`` are not placeholders)."""
    code = _SQL_LITERALS_AND_COMMENTS.sub(" ", sql)
    seen: list[str] = []
    for m in _PLACEHOLDER.finditer(code):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


def bound_for(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values ``sql`` uses, by name (DuckDB refuses named values a statement lacks)."""
    return {name: values[name] for name in sql_placeholders(sql)}
