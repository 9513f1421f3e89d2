"""Coverage checks of hunt A (rules/exchange-servers-alerts.yaml): host entities legacy
``mvexpand`` never reaches, and servers whose name matches an alert host only by its short
name. Loaded by path with the rule (engine.rules); its ``CHECKS`` are the codes the rule's
``coverage:`` names.

All SQL here is fixed text; parameter values are bound (``$name``), never formatted.
"""
from __future__ import annotations

from engine.coverage import Check, bind, plural
from engine.findings import CoverageNote

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



def _host_entities_past_128(con, params) -> CoverageNote:
    entities, alerts = con.execute(
        f"SELECT count(*), count(DISTINCT SystemAlertId) FROM ({_HOST_ENTITIES}) AS h "
        f"WHERE pos > 128").fetchone()
    return CoverageNote(
        PAST_128.code, entities,
        f"{plural(entities, 'host entity', 'host entities')} in "
        f"{plural(alerts, 'alert')} lie past the 128th Entities element, which legacy "
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
        bind(params, SHORT_NAMES.parameters)).fetchall()
    examples = ", ".join(f"{server!r} ~ alert host {host!r}" for server, host in rows[:3])
    return CoverageNote(
        SHORT_NAMES.code, len(rows),
        f"{plural(len(rows), 'Exchange server')} with no alert share a short name with an "
        f"alert host{': ' + examples if examples else ''}. The join needs the full "
        f"HostName.DnsDomain to match (a missing DNS domain on either side is likely).")


PAST_128 = Check("host-entities-past-128", {}, _host_entities_past_128)
SHORT_NAMES = Check("short-name-matches", {"exchange_paths": "list[string]"},
                    _short_name_matches)

CHECKS: dict[str, Check] = {c.code: c for c in (PAST_128, SHORT_NAMES)}
