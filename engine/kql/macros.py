"""DuckDB macros for the KQL semantics the compiler needs beyond the shared ones in
engine/kql_functions.py (which it reuses for has/contains/in~/ipv4_is_private...).

``dynamic`` values are DuckDB JSON; KQL's null is SQL NULL, never the JSON literal ``null``
(``kqlx_dyn`` normalises). Bodies are fixed text, never built from query values.
"""
from __future__ import annotations

import duckdb

from engine import kql_functions

# 0001-01-01 (KQL's tick epoch) to 1970-01-01 in microseconds: bin() on datetimes rounds
# down to a multiple of the span counted from 0001-01-01, as KQL does.
_TICK_EPOCH_US = 62_135_596_800_000_000

# DuckDB's json_valid also accepts trailing commas and NaN/Infinity, which KQL's JSON
# (json.org) rejects; both can only appear outside string literals, so when the cheap test
# sees a candidate, string literals are removed and the text is looked at again. (Same rule
# as engine/hunts.py's hand-written SQL, so both agree.)
_LENIENT = r"'(,[ \t\n\r]*[\]}])|[Nn][Aa][Nn]|[Ii][Nn][Ff]'"
_STRING_LITERAL = r"""'"(?:[^"\\]|\\.)*"'"""

MACROS: dict[str, tuple[str, str]] = {
    "kqlx_json_valid": (
        "s",
        f"CASE WHEN NOT coalesce(json_valid(s), false) THEN false "
        f"WHEN NOT regexp_matches(s, {_LENIENT}) THEN true "
        f"ELSE NOT regexp_matches(regexp_replace(s, {_STRING_LITERAL}, '', 'g'), {_LENIENT}) END",
    ),
    # JSON literal null -> SQL NULL, so every "is it null" question has one answer.
    "kqlx_dyn": ("j", "CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL ELSE j END"),
    # parse_json: "" -> null; valid JSON -> the value; anything else -> the string itself.
    "kqlx_parse_json": (
        "s",
        "CASE WHEN s IS NULL OR s = '' THEN NULL "
        "WHEN kqlx_json_valid(s) THEN kqlx_dyn(json(TRY_CAST(s AS JSON))) ELSE to_json(s) END",
    ),
    # dynamic member / index access; `path` is a JSONPath or JSON pointer (bound value).
    "kqlx_get": ("j", "j"),
    "kqlx_member": ("j, path", "kqlx_dyn(json_extract(j, path))"),
    # tostring(dynamic): a JSON string's text, "" for null, compact JSON otherwise.
    "kqlx_dyn_tostring": (
        "j",
        "CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN '' "
        "WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$') "
        # KQL prints an integral real as an integer (118.0 -> 118)
        "WHEN json_type(j) = 'DOUBLE' AND isfinite(CAST(CAST(j AS VARCHAR) AS DOUBLE)) "
        "AND CAST(CAST(j AS VARCHAR) AS DOUBLE) = trunc(CAST(CAST(j AS VARCHAR) AS DOUBLE)) "
        "AND abs(CAST(CAST(j AS VARCHAR) AS DOUBLE)) < 1e15 "
        "THEN CAST(CAST(CAST(CAST(j AS VARCHAR) AS DOUBLE) AS BIGINT) AS VARCHAR) "
        "ELSE CAST(j AS VARCHAR) END",
    ),
    # The string inside a dynamic value, or NULL when it holds no string (comparisons).
    "kqlx_dyn_string": (
        "j", "CASE WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$') ELSE NULL END"),
    "kqlx_dyn_real": (
        "j",
        "CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'INTEGER') "
        "THEN CAST(CAST(j AS VARCHAR) AS DOUBLE) ELSE NULL END",
    ),
    "kqlx_dyn_long": (
        "j",
        "CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'INTEGER') "
        "THEN TRY_CAST(CAST(j AS VARCHAR) AS BIGINT) "
        "WHEN json_type(j) = 'DOUBLE' THEN CAST(trunc(CAST(CAST(j AS VARCHAR) AS DOUBLE)) AS BIGINT) "
        "WHEN json_type(j) = 'VARCHAR' THEN kqlx_str_long(json_extract_string(j, '$')) "
        "ELSE NULL END",
    ),
    "kqlx_dyn_bool": (
        "j", "CASE WHEN json_type(j) = 'BOOLEAN' THEN CAST(CAST(j AS VARCHAR) AS BOOLEAN) ELSE NULL END"),
    # isempty(dynamic): null, or a JSON string "".
    "kqlx_dyn_isempty": (
        "j", "(j IS NULL OR json_type(j) = 'NULL' OR coalesce(kqlx_dyn_string(j) = '', FALSE))"),
    # tolong/toint of a string: an optionally signed integer (surrounding blanks allowed).
    "kqlx_str_long": (
        "s",
        "CASE WHEN regexp_full_match(s, '\\s*[+-]?\\d{1,19}\\s*') THEN TRY_CAST(trim(s) AS BIGINT) "
        "ELSE NULL END",
    ),
    "kqlx_str_real": ("s", "TRY_CAST(trim(s) AS DOUBLE)"),
    # ISO 8601 UTC text of a timestamp, as engine.jsonvalues.iso_utc writes it.
    "kqlx_iso": (
        "ts",
        "CASE WHEN ts IS NULL THEN NULL ELSE strftime(ts, '%Y-%m-%dT%H:%M:%S') || "
        "CASE WHEN epoch_us(ts) % 1000000 = 0 THEN '' ELSE '.' || "
        "rtrim(lpad(CAST(((epoch_us(ts) % 1000000) + 1000000) % 1000000 AS VARCHAR), 6, '0'), '0') "
        "END || 'Z' END",
    ),
    # KQL's text for a timespan (microseconds): [-][d.]hh:mm:ss[.fffffff]
    "kqlx_timespan_text": (
        "us",
        "CASE WHEN us IS NULL THEN '' ELSE "
        "(CASE WHEN us < 0 THEN '-' ELSE '' END) || "
        "(CASE WHEN abs(us) >= 86400000000 THEN CAST(abs(us) // 86400000000 AS VARCHAR) || '.' ELSE '' END) || "
        "lpad(CAST((abs(us) // 3600000000) % 24 AS VARCHAR), 2, '0') || ':' || "
        "lpad(CAST((abs(us) // 60000000) % 60 AS VARCHAR), 2, '0') || ':' || "
        "lpad(CAST((abs(us) // 1000000) % 60 AS VARCHAR), 2, '0') || "
        "(CASE WHEN abs(us) % 1000000 = 0 THEN '' ELSE '.' || "
        "lpad(CAST(abs(us) % 1000000 AS VARCHAR), 6, '0') || '0' END) END",
    ),
    # bin(datetime, span): floor to a multiple of span counted from 0001-01-01.
    "kqlx_bin_datetime": (
        "ts, span_us",
        f"make_timestamp(((epoch_us(ts) + {_TICK_EPOCH_US}) // span_us) * span_us - {_TICK_EPOCH_US})",
    ),
    # The values mv-expand produces for one row: array -> its first `lim` elements; property
    # bag -> one single-key bag per key; null -> one null; any other value -> itself.
    "kqlx_mv_items": (
        "j, lim",
        "CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN [NULL::JSON] "
        "WHEN json_type(j) = 'ARRAY' THEN "
        "list_transform(json_extract(j, '$[*]'), lambda x: kqlx_dyn(x))[1:lim] "
        "WHEN json_type(j) = 'OBJECT' THEN "
        "list_transform(map_entries(CAST(j AS MAP(VARCHAR, JSON))), lambda e: json_object(e.key, e.value))[1:lim] "
        "ELSE [j] END",
    ),
    "kqlx_array_length": (
        "j", "CASE WHEN json_type(j) = 'ARRAY' THEN CAST(json_array_length(j) AS BIGINT) ELSE NULL END"),
    "kqlx_bag_keys": (
        "j", "CASE WHEN json_type(j) = 'OBJECT' THEN to_json(json_keys(j)) ELSE NULL END"),
    # tohex(long): lower-case hex, two's complement for negatives; "" for null.
    "kqlx_tohex": ("v", "coalesce(lower(to_hex(CAST(v AS BIGINT))), '')"),
    # KQL `==` / `!=` with nulls: null == value is false, null != value is true,
    # null vs null stays null (both documented in "Null values").
    "kqlx_eq": ("a, b", "CASE WHEN a IS NULL AND b IS NULL THEN NULL "
                        "WHEN a IS NULL OR b IS NULL THEN FALSE ELSE a = b END"),
    "kqlx_ne": ("a, b", "CASE WHEN a IS NULL AND b IS NULL THEN NULL "
                        "WHEN a IS NULL OR b IS NULL THEN TRUE ELSE a <> b END"),
    # url_decode: %XX sequences decoded as UTF-8.
    "kqlx_url_decode": ("s", "coalesce(url_decode(s), '')"),
    # IPv4 as a number (the address part, prefix ignored) and its prefix length (32 if none).
    "kqlx_ipv4_long": (
        "s",
        "CASE WHEN kql_ipv4_valid(s) THEN "
        "CAST(list_reduce(kql_ipv4_octets(s), lambda a, b: CAST(a AS BIGINT) * 256 + b) AS BIGINT) ELSE NULL END",
    ),
    "kqlx_ipv4_prefix": (
        "s", "CASE WHEN contains(s, '/') THEN TRY_CAST(split_part(s, '/', 2) AS INTEGER) ELSE 32 END"),
    "kqlx_ipv4_masked": ("v, bits", "(v >> (32 - bits))"),
    "kqlx_ipv4_in_range": (
        "ip, rng",
        "CASE WHEN kqlx_ipv4_long(ip) IS NULL OR kqlx_ipv4_long(rng) IS NULL THEN NULL ELSE "
        "kqlx_ipv4_masked(kqlx_ipv4_long(ip), least(kqlx_ipv4_prefix(ip), kqlx_ipv4_prefix(rng))) = "
        "kqlx_ipv4_masked(kqlx_ipv4_long(rng), least(kqlx_ipv4_prefix(ip), kqlx_ipv4_prefix(rng))) END",
    ),
    "kqlx_ipv4_compare": (
        "a, b, bits",
        "CASE WHEN kqlx_ipv4_long(a) IS NULL OR kqlx_ipv4_long(b) IS NULL THEN NULL ELSE "
        "CAST(sign(kqlx_ipv4_masked(kqlx_ipv4_long(a), least(kqlx_ipv4_prefix(a), kqlx_ipv4_prefix(b), bits)) - "
        "kqlx_ipv4_masked(kqlx_ipv4_long(b), least(kqlx_ipv4_prefix(a), kqlx_ipv4_prefix(b), bits))) AS BIGINT) END",
    ),
    # hasprefix / hassuffix: a term that starts (ends) with the text; boundaries as for has.
    "kqlx_hasprefix": (
        "hay, term",
        "regexp_matches(kql_fold(hay), (CASE WHEN regexp_full_match(left(term, 1), '[A-Za-z0-9]') "
        "THEN '(?:^|[^a-z0-9])' ELSE '' END) || regexp_escape(kql_fold(term)), 's')",
    ),
    "kqlx_hassuffix": (
        "hay, term",
        "regexp_matches(kql_fold(hay), regexp_escape(kql_fold(term)) || (CASE WHEN "
        "regexp_full_match(right(term, 1), '[A-Za-z0-9]') THEN '(?:$|[^a-z0-9])' ELSE '' END), 's')",
    ),
    "kqlx_hasprefix_cs": (
        "hay, term",
        "regexp_matches(hay, (CASE WHEN regexp_full_match(left(term, 1), '[A-Za-z0-9]') "
        "THEN '(?:^|[^A-Za-z0-9])' ELSE '' END) || regexp_escape(term), 's')",
    ),
    "kqlx_hassuffix_cs": (
        "hay, term",
        "regexp_matches(hay, regexp_escape(term) || (CASE WHEN "
        "regexp_full_match(right(term, 1), '[A-Za-z0-9]') THEN '(?:$|[^A-Za-z0-9])' ELSE '' END), 's')",
    ),
}


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Install the shared KQL macros and the compiler's own on this connection."""
    kql_functions.install(con)
    kql_functions.install_macros(con, MACROS)
