"""Small, deterministic seed evidence for the hardening suite, with planted good rows.

Every seed carries rows marked with a unique token (``GOOD<tag>``) in a column the loader
keeps verbatim (csUriStem for IIS rows, SystemAlertId for alerts), so a test can damage the
rest of the file and then check that each planted row is still in the tables.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

# A full IIS 8.5+ layout: every field exhunt maps into W3CIISLog.
W3C_FIELDS: tuple[str, ...] = (
    "date",
    "time",
    "s-sitename",
    "s-computername",
    "s-ip",
    "cs-method",
    "cs-uri-stem",
    "cs-uri-query",
    "s-port",
    "cs-username",
    "c-ip",
    "cs-version",
    "cs(User-Agent)",
    "cs(Cookie)",
    "cs(Referer)",
    "cs-host",
    "sc-status",
    "sc-substatus",
    "sc-win32-status",
    "sc-bytes",
    "cs-bytes",
    "time-taken",
)
# The layout IIS writes by default (no s-computername, no bytes).
W3C_DEFAULT_FIELDS: tuple[str, ...] = (
    "date",
    "time",
    "s-ip",
    "cs-method",
    "cs-uri-stem",
    "cs-uri-query",
    "s-port",
    "cs-username",
    "c-ip",
    "cs(User-Agent)",
    "cs(Referer)",
    "sc-status",
    "sc-substatus",
    "sc-win32-status",
    "time-taken",
)

USER_AGENTS = (
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)",
    "Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.5134;+Pro)",
    "Apple-iPhone12C1/1905.258",
    "python-requests/2.25.1",
)
STEMS = (
    "/owa/auth/logon.aspx",
    "/owa/",
    "/ecp/default.aspx",
    "/EWS/Exchange.asmx",
    "/Microsoft-Server-ActiveSync/default.eas",
    "/mapi/emsmdb/",
    "/owa/auth/15.2.858/themes/resources/favicon.ico",
)


def good_marker(tag: str, n: int) -> str:
    return f"GOOD{tag}x{n}"


def w3c_header(fields: Sequence[str] = W3C_FIELDS, *, date: str = "2021-03-02 08:00:00") -> str:
    return (
        "#Software: Microsoft Internet Information Services 10.0\n"
        "#Version: 1.0\n"
        f"#Date: {date}\n"
        f"#Fields: {' '.join(fields)}\n"
    )


def w3c_row(i: int, fields: Sequence[str] = W3C_FIELDS, *, stem: str | None = None) -> str:
    """One data line for ``fields``; deterministic in ``i``."""
    values = {
        "date": "2021-03-02",
        "time": f"08:{(i // 60) % 60:02d}:{i % 60:02d}",
        "s-sitename": "W3SVC1",
        "s-computername": "EXCH01",
        "s-ip": "10.0.0.5",
        "cs-method": "GET" if i % 3 else "POST",
        "cs-uri-stem": stem or STEMS[i % len(STEMS)],
        "cs-uri-query": "-" if i % 2 else f"id={i}&x=%2F",
        "s-port": "443",
        "cs-username": "-" if i % 4 else "CONTOSO\\alice",
        "c-ip": f"203.0.113.{i % 250 + 1}",
        "cs-version": "HTTP/1.1",
        "cs(User-Agent)": USER_AGENTS[i % len(USER_AGENTS)],
        "cs(Cookie)": "-",
        "cs(Referer)": "-",
        "cs-host": "mail.contoso.com",
        "sc-status": "200",
        "sc-substatus": "0",
        "sc-win32-status": "0",
        "sc-bytes": str(1000 + i),
        "cs-bytes": str(300 + i),
        "time-taken": str(15 + i % 40),
    }
    return " ".join(values[f] for f in fields)


def w3c_good_rows(tag: str, count: int, fields: Sequence[str] = W3C_FIELDS, start: int = 0) -> str:
    return "".join(
        w3c_row(start + n, fields, stem=f"/owa/auth/{good_marker(tag, start + n)}.png") + "\n"
        for n in range(count)
    )


def w3c_seed(rows: int = 6, fields: Sequence[str] = W3C_FIELDS, *, crlf: bool = False) -> bytes:
    text = w3c_header(fields) + "".join(w3c_row(i, fields) + "\n" for i in range(rows))
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode()


def w3c_sandwich(tag: str, garbage: bytes, *, good_each_side: int = 3) -> tuple[bytes, list[str]]:
    """A W3C file: header, good rows, ``garbage``, a fresh header, more good rows.

    The fresh header after the garbage restores the layout whatever the garbage declared, so
    every planted row must load whatever the garbage is.
    """
    before = w3c_header() + w3c_good_rows(tag, good_each_side)
    after = w3c_header() + w3c_good_rows(tag, good_each_side, start=good_each_side)
    if garbage and not garbage.endswith(b"\n"):
        garbage += b"\n"
    # A garbage line that happens to start the next directive line would hide it.
    body = before.encode() + garbage + after.encode()
    markers = [good_marker(tag, n) for n in range(2 * good_each_side)]
    return body, markers


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# Sentinel exports
# --------------------------------------------------------------------------------------
def w3ciislog_record(i: int, *, stem: str | None = None) -> dict:
    return {
        "TenantId": "11111111-2222-3333-4444-555555555555",
        "TimeGenerated": f"2021-03-02T08:{(i // 60) % 60:02d}:{i % 60:02d}.123Z",
        "SourceSystem": "OpsManager",
        "Computer": "exch01.contoso.com",
        "sSiteName": "W3SVC1",
        "sComputerName": "",
        "sIP": "10.0.0.5",
        "csMethod": "GET",
        "csUriStem": stem or STEMS[i % len(STEMS)],
        "csUriQuery": "",
        "sPort": 443,
        "csUserName": "",
        "cIP": f"198.51.100.{i % 250 + 1}",
        "csVersion": "HTTP/1.1",
        "csUserAgent": USER_AGENTS[i % len(USER_AGENTS)],
        "csCookie": "",
        "csReferer": "",
        "csHost": "mail.contoso.com",
        "scStatus": "200",
        "scSubStatus": "0",
        "scWin32Status": "0",
        "scBytes": 1000 + i,
        "csBytes": 300 + i,
        "TimeTaken": 15,
        "FileUri": "",
        "Type": "W3CIISLog",
    }


def host_entity(eid: int, host: str, domain: str) -> dict:
    return {"$id": str(eid), "HostName": host, "DnsDomain": domain, "Type": "host"}


def securityalert_record(i: int, *, alert_id: str | None = None, entities=None) -> dict:
    if entities is None:
        entities = [
            host_entity(2, "exch01", "contoso.com"),
            {"$id": "3", "Address": "203.0.113.9", "Type": "ip"},
            {"$id": "4", "Name": "alice", "Host": {"$ref": "2"}, "Type": "account"},
        ]
    return {
        "TenantId": "11111111-2222-3333-4444-555555555555",
        "TimeGenerated": f"2021-03-02T09:00:{i % 60:02d}.1234567Z",
        "DisplayName": "Suspicious web shell",
        "AlertName": "Suspicious web shell",
        "AlertSeverity": "High",
        "Description": "A web shell was detected.\nSecond line.",
        "ProviderName": "MDATP",
        "VendorName": "Microsoft",
        "VendorOriginalId": f"da{i:06d}",
        "SystemAlertId": alert_id or f"aaaaaaaa-0000-0000-0000-{i:012d}",
        "ResourceId": "",
        "SourceComputerId": "",
        "AlertType": "WebShell",
        "ConfidenceLevel": "",
        "ConfidenceScore": None,
        "IsIncident": False,
        "StartTime": "2021-03-02T08:59:00Z",
        "EndTime": "2021-03-02T09:00:00Z",
        "ProcessingEndTime": "2021-03-02T09:01:00Z",
        "RemediationSteps": "[]",
        "ExtendedProperties": json.dumps({"MitreTechniques": "T1505.003"}),
        "Entities": json.dumps(entities, indent=2),
        "SourceSystem": "Detection",
        "WorkspaceSubscriptionId": "",
        "WorkspaceResourceGroup": "",
        "ExtendedLinks": "",
        "ProductName": "Microsoft Defender Advanced Threat Protection",
        "ProductComponentName": "",
        "AlertLink": "",
        "Status": "New",
        "CompromisedEntity": "exch01.contoso.com",
        "Tactics": "Persistence",
        "Techniques": "T1505",
        "SubTechniques": "",
        "Type": "SecurityAlert",
    }


@dataclass
class ExportSeed:
    """Records of one table with planted good ones, ready to write in any export format."""

    table: str  # "W3CIISLog" | "SecurityAlert"
    records: list[dict]
    markers: list[str] = field(default_factory=list)

    @property
    def marker_column(self) -> str:
        return "csUriStem" if self.table == "W3CIISLog" else "SystemAlertId"


def export_seed(table: str, tag: str, count: int = 4) -> ExportSeed:
    records, markers = [], []
    for i in range(count):
        marker = good_marker(tag, i)
        markers.append(marker)
        if table == "W3CIISLog":
            records.append(w3ciislog_record(i, stem=f"/owa/auth/{marker}.png"))
        else:
            records.append(securityalert_record(i, alert_id=marker))
    return ExportSeed(table, records, markers)


def to_csv(records: Sequence[dict], *, portal: bool = False, crlf: bool = True) -> bytes:
    """RFC 4180 CSV; ``portal`` renames TimeGenerated the way the portal's Export does."""
    columns = list(records[0]) if records else []
    header = [f"{c} [UTC]" if portal and c == "TimeGenerated" else c for c in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    for r in records:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue().encode("utf-8")


def to_json_array(records: Sequence[dict], *, entities_as_array: bool = False) -> bytes:
    return json.dumps([_maybe_entities(r, entities_as_array) for r in records], indent=1).encode()


def to_jsonl(records: Iterable[dict], *, entities_as_array: bool = False) -> bytes:
    return "".join(
        json.dumps(_maybe_entities(r, entities_as_array)) + "\n" for r in records
    ).encode()


def to_parquet(records: Sequence[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(list(records)), buf)
    return buf.getvalue()


def _maybe_entities(record: dict, as_array: bool) -> dict:
    if not as_array or "Entities" not in record:
        return record
    out = dict(record)
    try:
        out["Entities"] = json.loads(record["Entities"])
    except (TypeError, ValueError):
        pass
    return out


EXPORT_WRITERS = {
    "csv": lambda recs: to_csv(recs),
    "portal.csv": lambda recs: to_csv(recs, portal=True),
    "json": lambda recs: to_json_array(recs),
    "jsonl": lambda recs: to_jsonl(recs),
    "parquet": to_parquet,
}


def bulk_w3c(tag: str, rows: int, *, seed: int = 0) -> bytes:
    """A big raw log with one planted marker per row and high-entropy values (so that the
    case's compressed tables are big too: the full-disk tests need that)."""
    import random

    rng = random.Random(seed)
    lines = [w3c_header()]
    for n in range(rows):
        noise = rng.getrandbits(128).to_bytes(16, "big").hex()
        lines.append(
            w3c_row(n, stem=f"/owa/auth/{good_marker(tag, n)}-{noise}.png").replace(
                "mail.contoso.com", f"h{rng.getrandbits(48):x}.contoso.com"
            )
            + "\n"
        )
    return "".join(lines).encode()


def cut_points(data: bytes, sample: int, seed: int) -> list[int]:
    """Where to cut ``data`` in CI: every line end and its neighbours, every field boundary
    of the last line, and ``sample`` seeded random offsets (fuzz_long cuts at every byte)."""
    import random

    points = {0, len(data)}
    for i, byte in enumerate(data):
        if byte == 0x0A:
            points.update((i - 1, i, i + 1))
    last_start = data.rstrip(b"\r\n").rfind(b"\n") + 1
    for i in range(last_start, len(data)):
        if data[i] == 0x20:
            points.update((i, i + 1))
    rng = random.Random(seed)
    points.update(rng.randrange(len(data) + 1) for _ in range(sample))
    return sorted(p for p in points if 0 <= p <= len(data))
