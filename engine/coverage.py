"""Coverage notes: what a hunt, run faithfully, could not see in this evidence.

Each check has a stable code, declares the rule parameters it reads, and counts requests
or alerts the query as written drops for a reason an analyst would want to know (SPEC,
"Beyond fidelity"). Rules name their checks under ``coverage:``; a check is looked
up first in the hunt's own module (``CHECKS`` of ``rules/<stem>.py`` or ``hunt.py``, which
holds the hunt's SQL), then in the generic registry ``CHECKS`` here. Every check always
returns a note, also when its count is 0: "0 IPv6 clients dropped" is information too;
the command line prints only the non-zero ones, ``--format json`` carries all.

All SQL here is fixed text; parameter values are bound (``$name``), never formatted.
"""
from __future__ import annotations

import contextvars
import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import duckdb

from engine.findings import CoverageNote


@dataclass(frozen=True)
class Check:
    code: str
    parameters: Mapping[str, str]  # parameter name -> type the check needs from the rule
    run: Callable[[duckdb.DuckDBPyConnection, Mapping[str, Any]], CoverageNote]


def bind(params: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {n: params[n] for n in names}


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def public_ipv6(text: str) -> bool:
    """True for a globally routable IPv6 address (IPv4-mapped ones judged by their IPv4
    part). Link-local, unique-local, loopback, documentation ranges are not public."""
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return mapped.is_global
    return addr.is_global


def is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# Hunt-independent checks any rule may name (none yet: the seed hunts' checks live in
# their modules).
CHECKS: dict[str, Check] = {}


# The rows of queries the checks of one run share, by query text and bound values: two
# checks of one hunt often need the same scan (hunt B's IPv6 and unparsable-client notes
# read the same non-IPv4 clients), and each scan of a 10 GB case costs 0.6 s.
_RUN_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("coverage_memo",
                                                                       default=None)


def shared_rows(con: duckdb.DuckDBPyConnection, sql: str,
                params: Mapping[str, Any]) -> list[tuple]:
    """``con.execute(sql, params).fetchall()``, computed once per run_checks call for the
    same text and values (every call outside a run queries)."""
    memo = _RUN_MEMO.get()
    key = (sql, json.dumps(dict(params), sort_keys=True, default=str))
    if memo is not None and key in memo:
        return memo[key]
    rows = con.execute(sql, dict(params)).fetchall()
    if memo is not None:
        memo[key] = rows
    return rows


def find_check(code: str, module_checks: Mapping[str, Check] | None = None) -> Check | None:
    """The check ``code``: the hunt module's own first, then the generic registry."""
    if module_checks and code in module_checks:
        return module_checks[code]
    return CHECKS.get(code)


def run_checks(con: duckdb.DuckDBPyConnection, codes: tuple[str, ...],
               params: Mapping[str, Any],
               module_checks: Mapping[str, Check] | None = None) -> list[CoverageNote]:
    """One note per check code, in the rule's order (codes were checked at load time)."""
    notes = []
    token = _RUN_MEMO.set({})
    try:
        for code in codes:
            check = find_check(code, module_checks)
            if check is None:
                raise KeyError(f"unknown coverage check {code!r}")
            notes.append(check.run(con, params))
    finally:
        _RUN_MEMO.reset(token)
    return notes
