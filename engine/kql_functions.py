"""KQL's semantics as DuckDB macros: the one registry (``MACROS``) that the hand-written
hunt SQL, the rules' coverage checks and the KQL compiler all call, so that they agree by
construction. There is no other copy: engine/hunts.py and engine/kql/ install this set.

Why macros and not DuckDB built-ins: DuckDB's ``lower``/``ILIKE`` fold Unicode letters,
KQL folds ASCII only; ``has`` is a term-boundary match DuckDB does not have; KQL's
``ipv4_is_private`` is null (not false) for anything that is not an IPv4 address; DuckDB's
JSON parser accepts text KQL's does not.

Every macro is null-propagating where KQL is and never returns NULL for a string result
where KQL would return ``""``. Each predicate costs one regular expression or one native
function per value where that is exact: the hunts run them once per distinct value, and with
one client address per request that is once per row. Call :func:`ensure_installed` on a
connection before running SQL that uses them.

Three groups, installed together: ``SHARED_MACROS`` (kql_*: scalar operators, with Spark
twins in engine/spark.py), ``JSON_MACROS`` (kql_json_*: KQL's ``dynamic`` values as the
hand-written hunts use them, JSON text in DuckDB) and ``COMPILER_MACROS`` (kqlx_*: what the
KQL compiler's SQL needs beyond those).
"""
from __future__ import annotations

import hashlib

import duckdb

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"

# One IPv4 octet as KQL reads it (0-255 in at most three digits, so "010" is 10) and the
# optional prefix length (0-32 in at most two digits). Fixed text: no value reaches it.
_OCTET = r"(?:25[0-5]|2[0-4]\d|[01]\d\d|\d\d?)"
_PREFIX = r"(?:/(?:3[0-2]|[0-2]\d|\d))?"
IPV4_PATTERN = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}{_PREFIX}"
# The private ranges spelled out: 10/8, 172.16/12 (second octet 16-31) and 192.168/16.
IPV4_PRIVATE_PATTERN = (
    rf"(?:0?10\.{_OCTET}\.{_OCTET}|172\.0?(?:1[6-9]|2\d|3[01])\.{_OCTET}"
    rf"|192\.168\.{_OCTET})\.{_OCTET}{_PREFIX}")

# name -> (parameters, body). Bodies are fixed text written here, never built from values.
SHARED_MACROS: dict[str, tuple[str, str]] = {
    # ASCII-only case folding (KQL's =~, in~, has, contains, startswith ...).
    # Pure-ASCII text (byte length == character length) takes DuckDB's lower(), which is
    # an order of magnitude faster than translate() and identical on ASCII.
    "kql_fold": (
        "s",
        f"CASE WHEN strlen(s) = length(s) THEN lower(s) ELSE translate(s, '{_UPPER}', '{_LOWER}') END",
    ),
    # KQL `isempty`: "" or null. "-" is not empty.
    "kql_isempty": ("s", "(s IS NULL OR CAST(s AS VARCHAR) = '')"),
    "kql_isnotempty": ("s", "NOT (s IS NULL OR CAST(s AS VARCHAR) = '')"),
    # `lhs contains rhs`: ASCII case-insensitive substring.
    "kql_contains": ("hay, needle", "contains(kql_fold(hay), kql_fold(needle))"),
    "kql_contains_cs": ("hay, needle", "contains(hay, needle)"),
    # `lhs startswith rhs` / `endswith`: ASCII case-insensitive. A prefix without ASCII
    # letters needs no folding (DuckDB drops the other branch for a constant prefix); one
    # with letters folds only as many characters of the value as the prefix has (folding
    # maps each character to one character, so this is the prefix of the folded value).
    "kql_startswith": (
        "hay, prefix",
        "CASE WHEN regexp_matches(prefix, '[A-Za-z]') "
        "THEN kql_fold(left(hay, length(prefix))) = kql_fold(prefix) "
        "ELSE starts_with(hay, prefix) END",
    ),
    "kql_endswith": (
        "hay, suffix",
        "CASE WHEN regexp_matches(suffix, '[A-Za-z]') "
        "THEN kql_fold(right(hay, length(suffix))) = kql_fold(suffix) "
        "ELSE ends_with(hay, suffix) END",
    ),
    # The regular expression behind `has`: the term itself, with a boundary required on a
    # side only where the term begins (ends) with an ASCII letter or digit.
    "kql_has_pattern": (
        "term",
        "(CASE WHEN regexp_full_match(left(term, 1), '[A-Za-z0-9]') "
        "THEN '(?:^|[^a-z0-9])' ELSE '' END) || regexp_escape(kql_fold(term)) || "
        "(CASE WHEN regexp_full_match(right(term, 1), '[A-Za-z0-9]') "
        "THEN '(?:$|[^a-z0-9])' ELSE '' END)",
    ),
    # `lhs has rhs` (ASCII case-insensitive, term boundaries as described above).
    # Terms with no alphanumeric edge reduce to a substring test, which is much faster.
    "kql_has": (
        "hay, term",
        "CASE WHEN regexp_full_match(left(term, 1), '[A-Za-z0-9]') "
        "OR regexp_full_match(right(term, 1), '[A-Za-z0-9]') "
        "THEN regexp_matches(kql_fold(hay), kql_has_pattern(term), 's') "
        "ELSE contains(kql_fold(hay), kql_fold(term)) END",
    ),
    "kql_has_cs": (
        "hay, term",
        "CASE WHEN regexp_full_match(left(term, 1), '[A-Za-z0-9]') "
        "OR regexp_full_match(right(term, 1), '[A-Za-z0-9]') "
        "THEN regexp_matches(hay, "
        "(CASE WHEN regexp_full_match(left(term, 1), '[A-Za-z0-9]') "
        "THEN '(?:^|[^A-Za-z0-9])' ELSE '' END) || regexp_escape(term) || "
        "(CASE WHEN regexp_full_match(right(term, 1), '[A-Za-z0-9]') "
        "THEN '(?:$|[^A-Za-z0-9])' ELSE '' END), 's') "
        "ELSE contains(hay, term) END",
    ),
    # `lhs has_any (list)`: has any element. An empty list matches nothing. One regular
    # expression (the alternation of every term's pattern) rather than one per term: with
    # constant terms DuckDB compiles it once, not once per row and term (0.08 s against
    # 3.2 s on 25,000 rows).
    "kql_has_any_pattern": (
        "terms",
        "list_aggregate(list_transform(terms, lambda t: '(?:' || kql_has_pattern(t) || ')'), "
        "'string_agg', '|')",
    ),
    "kql_has_any": (
        "hay, terms",
        "CASE WHEN len(terms) = 0 THEN FALSE "
        "ELSE regexp_matches(kql_fold(hay), kql_has_any_pattern(terms), 's') END",
    ),
    "kql_has_all": (
        "hay, terms",
        "CASE WHEN len(terms) = 0 THEN TRUE "
        "ELSE list_bool_and(list_transform(terms, lambda t: kql_has(hay, t))) END",
    ),
    # `lhs in~ (list)`: whole-value ASCII case-insensitive equality. NULL for a NULL value
    # whatever the list (list_contains says false for an empty one; the Spark twin, null).
    "kql_in_ci": (
        "value, items",
        "CASE WHEN value IS NULL THEN NULL "
        "ELSE list_contains(list_transform(items, lambda x: kql_fold(x)), kql_fold(value)) END",
    ),
    # `split(s, d)[-1]`: the last piece; with no delimiter the whole string. (DuckDB's
    # split_part is itself a macro over string_split: no cheaper.)
    "kql_split_last": ("s, d", "coalesce(string_split(coalesce(s, ''), d)[-1], '')"),
    # A dotted-quad IPv4 with an optional /prefix: each octet 0-255 (up to three digits,
    # leading zeros allowed), the prefix 0-32 (up to two digits). One regular expression
    # decides validity; "1.2.3.4:443", IPv6, "" and "-" do not match.
    "kql_ipv4_valid": ("s", f"coalesce(regexp_full_match(s, '{IPV4_PATTERN}'), false)"),
    # The octets of a dotted quad (prefix left out; not checked against 255: callers test
    # kql_ipv4_valid first), or NULL when s is not one.
    "kql_ipv4_octets": (
        "s",
        "CASE WHEN regexp_full_match(s, '(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})(/\\d{1,2})?') "
        "THEN list_transform(string_split(split_part(s, '/', 1), '.'), "
        "lambda o: CAST(o AS INTEGER)) ELSE NULL END",
    ),
    # KQL ipv4_is_private: 10/8, 172.16/12, 192.168/16 only; NULL for non-IPv4 input.
    # Two regular expressions, the second only for valid addresses, and no octet lists.
    "kql_ipv4_is_private": (
        "s",
        f"CASE WHEN regexp_full_match(s, '{IPV4_PATTERN}') "
        f"THEN regexp_full_match(s, '{IPV4_PRIVATE_PATTERN}') ELSE NULL END",
    ),
}


# KQL's JSON accepts only json.org JSON. DuckDB's json_valid also accepts trailing commas
# and NaN/Infinity; both can only appear outside string literals, so when the fast test
# sees a candidate, every string literal is replaced by a number and the text is looked at
# again (removing them outright would turn ["a", "b"] into the trailing comma [, ]).
_LENIENT = r"'(,[ \t\n\r]*[\]}])|[Nn][Aa][Nn]|[Ii][Nn][Ff]'"
_STRING_LITERAL = r"""'"(?:[^"\\]|\\.)*"'"""

JSON_MACROS: dict[str, tuple[str, str]] = {
    # parse_json(s) gives a JSON value (not the string itself) exactly when this is true.
    # "" is not JSON (parse_json gives null); invalid text stays a string.
    "kql_json_is_valid": (
        "s",
        f"CASE WHEN NOT coalesce(json_valid(s), false) THEN false "
        f"WHEN NOT regexp_matches(s, {_LENIENT}) THEN true "
        f"ELSE NOT regexp_matches(regexp_replace(s, {_STRING_LITERAL}, '0', 'g'), {_LENIENT}) "
        f"END",
    ),
    # `x.Key == "text"` on a dynamic x: true only for a JSON string equal to the text
    # (case-sensitive); a missing key is null and null == "text" is false.
    "kql_json_string_equals": (
        "j, path, value",
        "coalesce(json_type(j, path) = 'VARCHAR' AND json_extract_string(j, path) = value, "
        "false)",
    ),
    # isnotempty(x.Key): a missing key or JSON null is empty, so is the string "";
    # [] and {} are not empty (KQL's isempty() documentation), nor is a number.
    "kql_json_isnotempty": (
        "j, path",
        "coalesce(json_type(j, path) <> 'NULL', false) AND NOT coalesce("
        "json_type(j, path) = 'VARCHAR' AND json_extract_string(j, path) = '', false)",
    ),
    # tostring(x.Key): a string's text without quotes; null or missing -> ""; true/false;
    # an integral real as an integer (KQL prints 118.0 as 118); arrays and bags as compact
    # JSON text.
    "kql_json_tostring": (
        "j, path",
        "CASE json_type(j, path) "
        "WHEN 'VARCHAR' THEN json_extract_string(j, path) "
        "WHEN 'NULL' THEN '' "
        "WHEN 'DOUBLE' THEN CASE "
        "  WHEN isfinite(TRY_CAST(json_extract_string(j, path) AS DOUBLE)) "
        "   AND TRY_CAST(json_extract_string(j, path) AS DOUBLE) "
        "       = trunc(TRY_CAST(json_extract_string(j, path) AS DOUBLE)) "
        "   AND abs(TRY_CAST(json_extract_string(j, path) AS DOUBLE)) < 1e15 "
        "  THEN CAST(CAST(TRY_CAST(json_extract_string(j, path) AS DOUBLE) AS BIGINT) AS VARCHAR) "
        "  ELSE CAST(TRY_CAST(json_extract_string(j, path) AS DOUBLE) AS VARCHAR) END "
        "ELSE coalesce(CAST(json_extract(j, path) AS VARCHAR), '') END",
    ),
}


# 0001-01-01 (KQL's tick epoch) to 1970-01-01 in microseconds: bin() on datetimes rounds
# down to a multiple of the span counted from 0001-01-01, as KQL does.
_TICK_EPOCH_US = 62_135_596_800_000_000

COMPILER_MACROS: dict[str, tuple[str, str]] = {
    # JSON literal null -> SQL NULL, so every "is it null" question has one answer.
    "kqlx_dyn": ("j", "CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL ELSE j END"),
    # parse_json: "" -> null; valid JSON -> the value; anything else -> the string itself.
    "kqlx_parse_json": (
        "s",
        "CASE WHEN s IS NULL OR s = '' THEN NULL "
        "WHEN kql_json_is_valid(s) THEN kqlx_dyn(json(TRY_CAST(s AS JSON))) ELSE to_json(s) END",
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
        # Once valid, each dot-separated piece is the octet's digits: no second regex, no list.
        "CASE WHEN kql_ipv4_valid(s) THEN "
        "CAST(split_part(s, '.', 1) AS BIGINT) * 16777216 "
        "+ CAST(split_part(s, '.', 2) AS BIGINT) * 65536 "
        "+ CAST(split_part(s, '.', 3) AS BIGINT) * 256 "
        "+ CAST(split_part(split_part(s, '.', 4), '/', 1) AS BIGINT) ELSE NULL END",
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


# Every macro, in creation order (bodies may call macros above them).
MACROS: dict[str, tuple[str, str]] = {**SHARED_MACROS, **JSON_MACROS, **COMPILER_MACROS}


# A connection variable naming the registry's version (a digest of every name and body):
# set by install(), so a connection set up by other code with other bodies is set up again.
_MARK = "exhunt_kql_macros"
_DIGEST = hashlib.sha256(repr(sorted(MACROS.items())).encode()).hexdigest()[:16]


def install_macros(con: duckdb.DuckDBPyConnection, macros: dict[str, tuple[str, str]]) -> None:
    """Create (or replace) the given macros on this connection, as temporary macros so that
    a read-only case can still be queried. Names and bodies are fixed text in exhunt's
    source, never values."""
    for name, (params, body) in macros.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS {body}")


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) every KQL macro on this connection."""
    install_macros(con, MACROS)
    # Set last, so that it stands for a complete set (see installed()).
    con.execute(f"SET VARIABLE {_MARK} = ?", [_DIGEST])


def installed(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether install() completed on this connection. A connection variable says so: asking
    duckdb_functions() walks every function DuckDB has (0.03-0.12 s, paid per hunt), and
    calling a missing macro would abort an open transaction."""
    # fetchall, not fetchone: a result left open blocks the connection's relation API in
    # DuckDB 2 ("Resource In Use").
    return con.execute("SELECT getvariable(?)", [_MARK]).fetchall()[0][0] == _DIGEST


def ensure_installed(con: duckdb.DuckDBPyConnection) -> None:
    """install() unless it already ran on this connection (re-creating the macros costs
    more than a small hunt)."""
    if not installed(con):
        install(con)
