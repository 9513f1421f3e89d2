"""Coverage notes: what a hunt, run faithfully, could not see in this evidence.

Each check has a stable code, declares the rule parameters it reads, and counts requests
or alerts the query as written drops for a reason an analyst would want to know (SPEC,
"Beyond fidelity"). Rules name their checks under ``coverage:``. Every check always
returns a note, also when its count is 0: "0 IPv6 clients dropped" is information too;
the command line prints only the non-zero ones, ``--format json`` carries all.

All SQL here is fixed text; parameter values are bound (``$name``), never formatted.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import duckdb

from engine.findings import CoverageNote

# Hunt B's filters on csUriStem and on cIP, as rules/owa-mailbox-export.yaml writes them:
# evaluated once per distinct value (min() keeps DuckDB from pushing them below the
# grouping, where they would run once per request).
_HUNT_B_STEMS = """
    SELECT stem AS csUriStem
    FROM (SELECT min(csUriStem) AS stem FROM W3CIISLog
          WHERE contains(lower(csUriStem), '/owa/') GROUP BY csUriStem)
    WHERE kql_contains(stem, '/owa/')
      AND NOT kql_in_ci(kql_split_last(stem, '.'), $scripting_extensions::VARCHAR[])
      AND kql_split_last(stem, '/') <> ''
"""
_HUNT_B_CLIENTS = """
    SELECT ip AS cIP
    FROM (SELECT min(cIP) AS ip FROM W3CIISLog GROUP BY cIP)
    WHERE NOT kql_in_ci(ip, $excluded_ips::VARCHAR[])
      AND kql_ipv4_is_private(ip) = false
      AND NOT kql_startswith(ip, 'fe80')
      AND NOT kql_startswith(ip, '::')
      AND NOT kql_startswith(ip, '127.')
"""
# Client addresses (with request counts) of the requests hunt B keeps up to its client
# filters, that `ipv4_is_private(cIP) == false` drops because the function is null for
# them (not IPv4), leaving out those the user excluded anyway.
_HUNT_B_NON_IPV4_CLIENTS = f"""
    SELECT ip, n FROM (
        SELECT min(r.cIP) AS ip, count(*) AS n
        FROM W3CIISLog AS r JOIN ({_HUNT_B_STEMS}) AS s ON r.csUriStem = s.csUriStem
        WHERE kql_isempty(r.csUriQuery)
        GROUP BY r.cIP)
    WHERE NOT kql_in_ci(ip, $excluded_ips::VARCHAR[]) AND kql_ipv4_is_private(ip) IS NULL
"""
# Hunt A's left side: the lower-cased computers that served an Exchange path.
_HUNT_A_SERVERS = """
    SELECT DISTINCT lower(Computer) AS computer FROM W3CIISLog
    WHERE csUriStem IN (
        SELECT stem FROM (SELECT min(csUriStem) AS stem FROM W3CIISLog GROUP BY csUriStem)
        WHERE kql_has_any(stem, $exchange_paths::VARCHAR[]))
"""

# Hunt A's right side up to the computer name, over every top-level element (no 128 cap):
# `pos` is the 1-based element position, so callers can look past mvexpand's limit.
_HOST_ENTITIES = """
    WITH alerts AS (
        SELECT SystemAlertId, Entities FROM SecurityAlert
        WHERE kql_json_is_valid(Entities) AND json_type(Entities) = 'ARRAY'
    ),
    expanded AS (
        SELECT SystemAlertId, unnest(json_extract(Entities, '$[*]')) AS alertData,
               unnest(range(1, CAST(json_array_length(Entities) AS BIGINT) + 1)) AS pos
        FROM alerts
    )
    SELECT SystemAlertId, pos,
           lower(CASE WHEN kql_json_isnotempty(alertData, '$.DnsDomain')
                      THEN kql_json_tostring(alertData, '$.HostName') || '.'
                           || kql_json_tostring(alertData, '$.DnsDomain')
                      ELSE kql_json_tostring(alertData, '$.HostName') END) AS computer
    FROM expanded
    WHERE kql_json_string_equals(alertData, '$.Type', 'host')
"""


@dataclass(frozen=True)
class Check:
    code: str
    parameters: Mapping[str, str]  # parameter name -> type the check needs from the rule
    run: Callable[[duckdb.DuckDBPyConnection, Mapping[str, Any]], CoverageNote]


def _bind(params: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {n: params[n] for n in names}


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


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


def _ipv6_clients_dropped(con, params) -> CoverageNote:
    rows = con.execute(f"SELECT ip, n FROM ({_HUNT_B_NON_IPV4_CLIENTS}) WHERE contains(ip, ':')",
                       _bind(params, IPV6.parameters)).fetchall()
    public = [(ip, n) for ip, n in rows if public_ipv6(ip)]
    requests = sum(n for _, n in public)
    example = f" (e.g. {min(ip for ip, _ in public)})" if public else ""
    return CoverageNote(
        IPV6.code, requests,
        f"{_plural(requests, 'request')} from {_plural(len(public), 'public IPv6 client')}"
        f"{example} dropped: ipv4_is_private() is null for IPv6, so `== false` never "
        f"holds and every IPv6 client is excluded.")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _unparsable_clients_dropped(con, params) -> CoverageNote:
    rows = con.execute(f"SELECT ip, n FROM ({_HUNT_B_NON_IPV4_CLIENTS})",
                       _bind(params, UNPARSABLE.parameters)).fetchall()
    bad = [(ip, n) for ip, n in rows if not _is_ipv6(ip)]
    requests = sum(n for _, n in bad)
    return CoverageNote(
        UNPARSABLE.code, requests,
        f"{_plural(requests, 'request')} with "
        f"{_plural(len(bad), 'client address', 'client addresses')} that are not IP "
        f"addresses (empty, '-', with a port ...) dropped: ipv4_is_private() is null for "
        f"them.")


def _dash_query_strings(con, params) -> CoverageNote:
    requests, files = con.execute(
        f"""SELECT count(*), count(DISTINCT (r.TenantId, r.Computer, r.csUriStem))
            FROM W3CIISLog AS r
            JOIN ({_HUNT_B_STEMS}) AS s ON r.csUriStem = s.csUriStem
            JOIN ({_HUNT_B_CLIENTS}) AS c ON r.cIP = c.cIP
            WHERE r.csUriQuery = '-'""",
        _bind(params, DASH.parameters)).fetchone()
    return CoverageNote(
        DASH.code, requests,
        f"{_plural(requests, 'candidate request')} ({_plural(files, 'file')}) have "
        f"csUriQuery '-' (W3C's mark for an empty field, kept as exported): "
        f"isempty(csUriQuery) is false for them, so the query as written skips them. "
        f"Ingest with '-' read as empty to include them.")


def _host_entities_past_128(con, params) -> CoverageNote:
    entities, alerts = con.execute(
        f"SELECT count(*), count(DISTINCT SystemAlertId) FROM ({_HOST_ENTITIES}) AS h "
        f"WHERE pos > 128").fetchone()
    return CoverageNote(
        PAST_128.code, entities,
        f"{_plural(entities, 'host entity', 'host entities')} in "
        f"{_plural(alerts, 'alert')} lie past the 128th Entities element, which legacy "
        f"`mvexpand` never reaches: those hosts' alerts are not counted.")


def _short_name_matches(con, params) -> CoverageNote:
    rows = con.execute(
        f"""WITH servers AS ({_HUNT_A_SERVERS}),
            hosts AS (SELECT DISTINCT computer FROM ({_HOST_ENTITIES}) AS h WHERE pos <= 128),
            unmatched AS (
                SELECT computer FROM servers
                WHERE computer NOT IN (SELECT computer FROM hosts)
            )
            SELECT u.computer, min(h.computer)
            FROM unmatched AS u JOIN hosts AS h
              ON split_part(u.computer, '.', 1) = split_part(h.computer, '.', 1)
            WHERE split_part(u.computer, '.', 1) <> ''
            GROUP BY u.computer ORDER BY u.computer""",
        _bind(params, SHORT_NAMES.parameters)).fetchall()
    examples = ", ".join(f"{server!r} ~ alert host {host!r}" for server, host in rows[:3])
    return CoverageNote(
        SHORT_NAMES.code, len(rows),
        f"{_plural(len(rows), 'Exchange server')} with no alert share a short name with an "
        f"alert host{': ' + examples if examples else ''}. The join needs the full "
        f"HostName.DnsDomain to match (a missing DNS domain on either side is likely).")


IPV6 = Check("ipv6-clients-dropped",
             {"excluded_ips": "list[string]", "scripting_extensions": "list[string]"},
             _ipv6_clients_dropped)
UNPARSABLE = Check("unparsable-clients-dropped",
                   {"excluded_ips": "list[string]", "scripting_extensions": "list[string]"},
                   _unparsable_clients_dropped)
DASH = Check("dash-query-strings",
             {"excluded_ips": "list[string]", "scripting_extensions": "list[string]"},
             _dash_query_strings)
PAST_128 = Check("host-entities-past-128", {}, _host_entities_past_128)
SHORT_NAMES = Check("short-name-matches", {"exchange_paths": "list[string]"},
                    _short_name_matches)

CHECKS: dict[str, Check] = {c.code: c for c in (IPV6, UNPARSABLE, DASH, PAST_128, SHORT_NAMES)}


def run_checks(con: duckdb.DuckDBPyConnection, codes: tuple[str, ...],
               params: Mapping[str, Any]) -> list[CoverageNote]:
    """One note per check code, in the rule's order."""
    return [CHECKS[code].run(con, params) for code in codes]
