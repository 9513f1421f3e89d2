"""Coverage checks of hunt B (rules/owa-mailbox-export.yaml): client addresses and query
strings its filters drop as written. Loaded by path with the rule (engine.rules); its
``CHECKS`` are the codes the rule's ``coverage:`` names.

All SQL here is fixed text; parameter values are bound (``$name``), never formatted.
"""
from __future__ import annotations

from engine.coverage import Check, bind, is_ipv6, plural, public_ipv6, shared_rows
from engine.findings import CoverageNote

# Hunt B's filters on csUriStem, as rules/owa-mailbox-export.yaml writes them: evaluated
# once per distinct stem (min() keeps DuckDB from pushing them below the grouping, where
# they would run once per request).
_HUNT_B_STEMS = """
    SELECT stem AS csUriStem
    FROM (SELECT min(csUriStem) AS stem FROM W3CIISLog GROUP BY csUriStem)
    WHERE kql_contains(stem, '/owa/')
      AND NOT kql_in_ci(kql_split_last(stem, '.'), $scripting_extensions::VARCHAR[])
      AND kql_split_last(stem, '/') <> ''
"""
# Hunt B's filters on a client address `ip`, as the rule writes them.
_HUNT_B_CLIENT_TESTS = """
    NOT kql_in_ci(ip, $excluded_ips::VARCHAR[])
    AND kql_ipv4_is_private(ip) = false
    AND NOT kql_startswith(ip, 'fe80')
    AND NOT kql_startswith(ip, '::')
    AND NOT kql_startswith(ip, '127.')
"""
# What all three notes count, in one statement whose parts share `stems` (finding the
# stems reads every request's csUriStem: about 0.3 s on a 10 GB case, once, not per note):
# - non_ipv4: (ip, requests) of the clients of the requests hunt B keeps up to its client
#   filters, that `ipv4_is_private(cIP) == false` drops because the function is null for
#   them, leaving out those the user excluded anyway. It is null exactly for what is not
#   a valid IPv4, which one regular expression tells (is_private needs a second one);
# - dash_requests, dash_files: the requests hunt B would keep if their csUriQuery '-'
#   counted as empty, and their distinct (TenantId, Computer, csUriStem). Counted per
#   file and client, as the hunt counts its requests (the counts, not the requests, are
#   held); the client filters run once per distinct client of those requests only.
#   Where ingest read '-' as empty (the default for raw logs) this part costs almost
#   nothing: the test csUriQuery = '-' is pushed into the Parquet scan.
_HUNT_B_NOTES = f"""
    WITH stems AS ({_HUNT_B_STEMS}),
    non_ipv4 AS (
        SELECT ip, n FROM (
            SELECT min(r.cIP) AS ip, count(*) AS n
            FROM W3CIISLog AS r JOIN stems AS s ON r.csUriStem = s.csUriStem
            WHERE kql_isempty(r.csUriQuery)
            GROUP BY r.cIP)
        WHERE NOT kql_ipv4_valid(ip) AND NOT kql_in_ci(ip, $excluded_ips::VARCHAR[])
    ),
    dashed AS (
        SELECT r.TenantId, r.Computer, r.csUriStem, r.cIP, count(*) AS n
        FROM W3CIISLog AS r JOIN stems AS s ON r.csUriStem = s.csUriStem
        WHERE r.csUriQuery = '-'
        GROUP BY r.TenantId, r.Computer, r.csUriStem, r.cIP
    ),
    dash_clients AS (
        SELECT ip AS cIP FROM (SELECT min(cIP) AS ip FROM dashed GROUP BY cIP)
        WHERE {_HUNT_B_CLIENT_TESTS}
    ),
    dash_kept AS (
        SELECT d.TenantId, d.Computer, d.csUriStem, d.n
        FROM dashed AS d JOIN dash_clients AS c ON d.cIP = c.cIP
    )
    SELECT (SELECT list((ip, n)) FROM non_ipv4) AS non_ipv4,
           coalesce(sum(n), 0) AS dash_requests,
           count(DISTINCT (TenantId, Computer, csUriStem)) AS dash_files
    FROM dash_kept
"""

# What _HUNT_B_NOTES binds: every check binds exactly these, so the run computes it once
# (engine.coverage.shared_rows).
_NOTES_PARAMETERS = {"excluded_ips": "list[string]", "scripting_extensions": "list[string]"}


def _notes_scan(con, params) -> tuple[list[tuple[str, int]], int, int]:
    """The non-IPv4 clients with their request counts, and the '-' requests and files."""
    (non_ipv4, dash_requests, dash_files), = shared_rows(
        con, _HUNT_B_NOTES, bind(params, _NOTES_PARAMETERS))
    return [(ip, int(n)) for ip, n in non_ipv4 or ()], int(dash_requests), int(dash_files)


def _ipv6_clients_dropped(con, params) -> CoverageNote:
    rows, _, _ = _notes_scan(con, params)
    public = [(ip, n) for ip, n in rows if ":" in ip and public_ipv6(ip)]
    requests = sum(n for _, n in public)
    example = f" (e.g. {min(ip for ip, _ in public)})" if public else ""
    return CoverageNote(
        IPV6.code, requests,
        f"{plural(requests, 'request')} from {plural(len(public), 'public IPv6 client')}"
        f"{example} dropped: ipv4_is_private() is null for IPv6, so `== false` never "
        f"holds and every IPv6 client is excluded.")


def _unparsable_clients_dropped(con, params) -> CoverageNote:
    rows, _, _ = _notes_scan(con, params)
    bad = [(ip, n) for ip, n in rows if not is_ipv6(ip)]
    requests = sum(n for _, n in bad)
    return CoverageNote(
        UNPARSABLE.code, requests,
        f"{plural(requests, 'request')} with "
        f"{plural(len(bad), 'client address', 'client addresses')} that are not IP "
        f"addresses (empty, '-', with a port ...) dropped: ipv4_is_private() is null for "
        f"them.")


def _dash_query_strings(con, params) -> CoverageNote:
    _, requests, files = _notes_scan(con, params)
    return CoverageNote(
        DASH.code, requests,
        f"{plural(requests, 'candidate request')} ({plural(files, 'file')}) have "
        f"csUriQuery '-' (W3C's mark for an empty field, kept as exported): "
        f"isempty(csUriQuery) is false for them, so the query as written skips them. "
        f"Ingest with '-' read as empty to include them.")


IPV6 = Check("ipv6-clients-dropped", _NOTES_PARAMETERS, _ipv6_clients_dropped)
UNPARSABLE = Check("unparsable-clients-dropped", _NOTES_PARAMETERS,
                   _unparsable_clients_dropped)
DASH = Check("dash-query-strings", _NOTES_PARAMETERS, _dash_query_strings)

CHECKS: dict[str, Check] = {c.code: c for c in (IPV6, UNPARSABLE, DASH)}
