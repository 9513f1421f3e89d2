"""A second, independent implementation of both hunts: KQL semantics written directly in
Python over lists of row dicts, sharing no SQL and no macro with engine/.

It follows SPEC.md and the KQL documentation operator by operator, so that a property test
can compare it row for row with the DuckDB result on random tables. Where KQL leaves list
order unspecified it produces exhunt's documented order (see rules/*.yaml).
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

MVEXPAND_LIMIT = 128  # legacy `mvexpand` default row limit


# --- scalar functions -------------------------------------------------------------------

def ascii_fold(s: str) -> str:
    """The fold of KQL's case-insensitive operators: A-Z only."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def tolower(s: str) -> str:
    """KQL tolower(): Unicode lower case, one character for one (simple case mapping;
    Python's full mapping turns U+0130 into two characters, the first is the simple one)."""
    return "".join(c.lower()[0] for c in s)


def _is_alnum_ascii(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")


def has(hay: str, term: str) -> bool:
    """`hay has term`: an occurrence of term (ASCII case-insensitive) not glued to an ASCII
    letter/digit on a side where the term itself starts/ends with one."""
    h, t = ascii_fold(hay), ascii_fold(term)
    start = h.find(t)
    while start != -1:
        end = start + len(t)
        left_ok = not _is_alnum_ascii(t[:1]) or start == 0 or not _is_alnum_ascii(h[start - 1])
        right_ok = (not _is_alnum_ascii(t[-1:]) or end == len(h)
                    or not _is_alnum_ascii(h[end]))
        if left_ok and right_ok:
            return True
        start = h.find(t, start + 1)
    return False


def has_any(hay: str, terms: Iterable[str]) -> bool:
    return any(has(hay, t) for t in terms)


def contains(hay: str, needle: str) -> bool:
    return ascii_fold(needle) in ascii_fold(hay)


def startswith(s: str, prefix: str) -> bool:
    return ascii_fold(s).startswith(ascii_fold(prefix))


def in_ci(value: str, items: Iterable[str]) -> bool:
    return ascii_fold(value) in {ascii_fold(i) for i in items}


def isempty(value: Any) -> bool:
    return value is None or value == ""


def split_last(s: str, delimiter: str) -> str:
    return s.split(delimiter)[-1]


_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?:/([0-9]{1,2}))?")


def ipv4_is_private(s: str) -> bool | None:
    """True for 10/8, 172.16/12, 192.168/16; False for other IPv4; None for non-IPv4."""
    m = _IPV4.fullmatch(s)
    if not m:
        return None
    octets = [int(g) for g in m.groups()[:4]]
    if any(o > 255 for o in octets) or (m.group(5) is not None and int(m.group(5)) > 32):
        return None
    a, b = octets[0], octets[1]
    return a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168)


# --- dynamic values ---------------------------------------------------------------------

class _Missing:
    """A JSON value that is not there (missing key); behaves as KQL null."""


MISSING = _Missing()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(s: str) -> Any:
    """parse_json(): "" gives null; json.org JSON gives its value; anything else stays the
    original string."""
    if s == "":
        return None
    try:
        return json.loads(s, parse_constant=_reject_constant)
    except ValueError:
        return s


def mvexpand(value: Any) -> list[Any]:
    """Legacy mvexpand: null -> one null row; [] / {} -> no row; arrays -> elements; bags
    -> single-key bags; scalars -> themselves. At most 128 rows."""
    if value is None:
        rows: list[Any] = [None]
    elif isinstance(value, list):
        rows = list(value)
    elif isinstance(value, dict):
        rows = [{k: v} for k, v in value.items()]
    else:
        rows = [value]
    return rows[:MVEXPAND_LIMIT]


def prop(value: Any, key: str) -> Any:
    if isinstance(value, dict) and key in value:
        return value[key]
    return MISSING


def dyn_isnotempty(value: Any) -> bool:
    return not (value is MISSING or value is None or value == "")


def dyn_tostring(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dyn_equals_string(value: Any, text: str) -> bool:
    return isinstance(value, str) and value == text


# --- the hunts ------------------------------------------------------------------------

EXCHANGE_PATHS = ["/owa/auth/", "/ecp/healthcheck.htm", "/ews/exchange.asmx"]
EXCLUDED_IPS = ["127.0.0.1", "::1"]
SCRIPTING_EXTENSIONS = ["aspx", "ashx", "asp"]


def _time_key(t: datetime | None) -> tuple:
    return (t is None, t or datetime.min)


def hunt_a(w3c: list[dict], alerts: list[dict], paths: list[str] = EXCHANGE_PATHS
           ) -> list[dict]:
    servers = {tolower(r["Computer"]) for r in w3c if has_any(r["csUriStem"], paths)}
    groups: dict[str, list[dict]] = defaultdict(list)
    for alert in alerts:
        for entity in mvexpand(parse_json(alert["Entities"])):
            if not dyn_equals_string(prop(entity, "Type"), "host"):
                continue
            dns = prop(entity, "DnsDomain")
            if dyn_isnotempty(dns):
                computer = tolower(dyn_tostring(prop(entity, "HostName")) + "."
                                   + dyn_tostring(dns))
            else:
                computer = tolower(dyn_tostring(prop(entity, "HostName")))
            groups[computer].append(alert)
    out = []
    for server in sorted(servers):
        rows = groups.get(server)
        if rows is None:  # leftouter: no match -> nulls, not 0 or []
            out.append({"ExchangeServer": server, "Alerts": None, "AlertTimes": None,
                        "AlertNames": None})
            continue
        rows = sorted(rows, key=lambda a: (_time_key(a["TimeGenerated"]), a["AlertName"],
                                           a["SystemAlertId"]))
        out.append({
            "ExchangeServer": server,
            "Alerts": len({a["SystemAlertId"] for a in rows}),
            "AlertTimes": [a["TimeGenerated"] for a in rows if a["TimeGenerated"] is not None],
            "AlertNames": [a["AlertName"] for a in rows],
        })
    return out


def hunt_b(w3c: list[dict], excluded_ips: list[str] = EXCLUDED_IPS,
           scripting_extensions: list[str] = SCRIPTING_EXTENSIONS, max_access: int = 2,
           distinct_ips: int = 1) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in w3c:
        stem, ip = r["csUriStem"], r["cIP"]
        if not contains(stem, "/owa/") or not isempty(r["csUriQuery"]):
            continue
        if in_ci(split_last(stem, "."), scripting_extensions):
            continue
        file_name = split_last(stem, "/")
        if file_name == "" or in_ci(ip, excluded_ips):
            continue
        if ipv4_is_private(ip) is not False:  # null == false is false
            continue
        if startswith(ip, "fe80") or startswith(ip, "::") or startswith(ip, "127."):
            continue
        groups[(r["TenantId"], file_name, r["Computer"], stem)].append(r)
    out = []
    for (tenant, file_name, computer, stem), rows in groups.items():
        times = [r["TimeGenerated"] for r in rows if r["TimeGenerated"] is not None]
        ips = {r["cIP"] for r in rows}
        if not (len(rows) <= max_access and len(ips) == distinct_ips):
            continue
        start = min(times) if times else None
        out.append({
            "TenantId": tenant, "file_name": file_name, "Computer": computer,
            "csUriStem": stem, "StartTime": start, "EndTime": max(times) if times else None,
            "dcount_cIP": len(ips), "AccessingIPs": sorted(ips),
            "AccessTimes": sorted(set(times)), "Access": len(rows), "timestamp": start,
            "HostCustomEntity": computer,
        })
    out.sort(key=lambda r: (r["TenantId"], r["Computer"], r["csUriStem"]))
    return out
