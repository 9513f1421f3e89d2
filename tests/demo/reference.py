"""A small, independent reading of the demo's raw files and of hunt B, for checking the demo
before (and besides) the real pipeline. Deliberately plain Python: no DuckDB, no engine code.
"""
from __future__ import annotations

import gzip
import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

IIS_COMPONENTS = {"w3svc1", "w3svc2", "logfiles", "logs", "inetpub", "c", "c$", "d", "d$"}


@dataclass(frozen=True)
class Row:
    computer: str
    time: datetime
    fields: dict[str, str]


def read_w3c(path: Path, root: Path) -> tuple[list[Row], list[int]]:
    """(rows, bad line numbers) of one raw IIS file; '-' read as ''."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    folder_name = next(p for p in reversed(path.relative_to(root).parts[:-1])
                       if p.lower() not in IIS_COMPONENTS)
    rows, bad = [], []
    names: list[str] | None = None
    for number, raw in enumerate(data.decode("utf-8", "replace").split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#Fields:"):
                names = line.split()[1:]
            continue
        values = line.split()
        if names is None or len(values) != len(names):
            bad.append(number)
            continue
        rec = {n: ("" if v == "-" else v) for n, v in zip(names, values)}
        computer = rec.get("s-computername") or folder_name
        rows.append(Row(computer, datetime.fromisoformat(f"{rec['date']} {rec['time']}"), rec))
    return rows, bad


def ipv4_is_private(ip: str) -> bool | None:
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return None
    return any(addr in ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def hunt_b(rows: list[Row], tenant: str = "") -> list[dict]:
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        stem, query, ip = r.fields["cs-uri-stem"], r.fields["cs-uri-query"], r.fields["c-ip"]
        if "/owa/" not in stem.lower() or query != "":
            continue
        if stem.split(".")[-1].lower() in ("aspx", "ashx", "asp"):
            continue
        file_name = stem.split("/")[-1]
        if file_name == "" or ip.lower() in ("127.0.0.1", "::1"):
            continue
        if ipv4_is_private(ip) is not False:
            continue
        if ip.lower().startswith(("fe80", "::", "127.")):
            continue
        groups[(tenant, file_name, r.computer, stem)].append(r)
    out = []
    for (tenant_id, file_name, computer, stem), members in sorted(groups.items()):
        ips = {m.fields["c-ip"] for m in members}
        if len(members) <= 2 and len(ips) == 1:
            out.append({"TenantId": tenant_id, "file_name": file_name, "Computer": computer,
                        "csUriStem": stem, "Access": len(members), "AccessingIPs": sorted(ips),
                        "AccessTimes": sorted({m.time for m in members})})
    return out


def exchange_servers(rows: list[Row]) -> set[str]:
    """Hunt A's left side, by a plain reading of `has_any` for these three simple paths."""
    import re
    pattern = re.compile(r"(/owa/auth/|/ecp/healthcheck\.htm(?![a-z0-9])|/ews/exchange\.asmx(?![a-z0-9]))")
    return {r.computer.lower() for r in rows if pattern.search(r.fields["cs-uri-stem"].lower())}


def read_demo_iis(root: Path) -> tuple[list[Row], dict[str, list[int]]]:
    rows, bad = [], {}
    for path in sorted(root.rglob("u_ex*")):
        r, b = read_w3c(path, root)
        rows += r
        bad[path.relative_to(root).as_posix()] = b
    return rows, bad
