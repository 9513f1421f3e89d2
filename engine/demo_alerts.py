"""SecurityAlert exports for the demo evidence: a portal "Export to CSV" and a JSON-lines file.

Alerts are written the way Sentinel hands them to a responder:

* the Log Analytics portal's "Export to CSV (all columns)": datetime headers carry `` [UTC]``,
  times look like ``3/3/2021, 3:14:07.881 AM`` (milliseconds only), and ``Entities`` /
  ``ExtendedProperties`` are multi-line JSON inside CSV quotes;
* a workspace data export (Azure Monitor writes JSON lines, one record per line, with
  ``TimeGenerated`` in ISO 8601 with seven fractional digits), ``Entities`` a JSON string.

SecurityAlert holds one row per alert *update*: the same ``SystemAlertId`` appears again with a
later ``TimeGenerated`` and a new ``Status``. Host entities carry ``$id`` and other entities
point at them with ``{"$ref": ...}``, as Defender writes them.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.tables import SECURITYALERT

TENANT_ID = "5f1a2c3d-7b8e-4f90-a1b2-c3d4e5f60718"
SUBSCRIPTION_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
RESOURCE_GROUP = "rg-sentinel-prod"


@dataclass(frozen=True)
class HostEntity:
    host_name: str
    dns_domain: str = ""  # "" -> the key is left out, as some providers do
    device_id: str = ""

    @property
    def hunt_a_key(self) -> str:
        """What hunt A joins on: tolower(HostName.DnsDomain), or tolower(HostName)."""
        if self.dns_domain:
            return f"{self.host_name}.{self.dns_domain}".lower()
        return self.host_name.lower()


@dataclass(frozen=True)
class AlertRow:
    """One SecurityAlert row (an alert or one of its updates)."""
    system_alert_id: str
    time_generated: datetime  # UTC
    alert_name: str
    severity: str
    description: str
    provider: str  # ProviderName
    product: str  # ProductName
    vendor: str
    status: str
    hosts: tuple[HostEntity, ...]
    start: datetime
    end: datetime
    tactics: str = ""
    techniques: str = ""
    account: str = ""  # account entity name; refers to the first host with $ref
    file_name: str = ""  # file entity
    extra: dict[str, str] = field(default_factory=dict)


def entities(alert: AlertRow) -> list[dict[str, Any]]:
    """The alert's Entities array as Defender writes it ($id on each, $ref back to hosts)."""
    out: list[dict[str, Any]] = []
    next_id = 2  # Defender numbers from 2; "1" is the alert itself
    host_ids = []
    for host in alert.hosts:
        entity: dict[str, Any] = {"$id": str(next_id), "HostName": host.host_name}
        if host.dns_domain:
            entity["DnsDomain"] = host.dns_domain
        if host.device_id:
            entity["MdatpDeviceId"] = host.device_id
            entity["FQDN"] = f"{host.host_name}.{host.dns_domain}".lower()
            entity["OSFamily"] = "Windows"
            entity["OSVersion"] = "1607"
        entity["Type"] = "host"
        host_ids.append(str(next_id))
        out.append(entity)
        next_id += 1
    if alert.account:
        out.append({"$id": str(next_id), "Name": alert.account, "NTDomain": "CONTOSO",
                    "Host": {"$ref": host_ids[0]}, "IsDomainJoined": True, "Type": "account"})
        next_id += 1
    if alert.file_name:
        out.append({"$id": str(next_id), "Directory": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web",
                    "Name": alert.file_name, "Type": "file"})
        next_id += 1
    return out


def _link(alert: AlertRow) -> str:
    if alert.product == "Microsoft Defender Advanced Threat Protection":
        return f"https://securitycenter.microsoft.com/alert/{alert.system_alert_id}"
    return ""


def row_values(alert: AlertRow, *, multiline_json: bool) -> dict[str, Any]:
    """Column name -> value, before formatting times (left as datetimes)."""
    indent = 2 if multiline_json else None
    ext = {"MDATP Category": alert.extra.get("category", "SuspiciousActivity"), **alert.extra}
    ext.pop("category", None)
    return {
        "TenantId": TENANT_ID,
        "TimeGenerated": alert.time_generated,
        "DisplayName": alert.alert_name,
        "AlertName": alert.alert_name,
        "AlertSeverity": alert.severity,
        "Description": alert.description,
        "ProviderName": alert.provider,
        "VendorName": alert.vendor,
        "VendorOriginalId": alert.system_alert_id.split("_")[0],
        "SystemAlertId": alert.system_alert_id,
        "ResourceId": "",
        "SourceComputerId": "",
        "AlertType": alert.alert_name.replace(" ", ""),
        "ConfidenceLevel": "",
        "ConfidenceScore": None,
        "IsIncident": False,
        "StartTime": alert.start,
        "EndTime": alert.end,
        "ProcessingEndTime": alert.time_generated,
        "RemediationSteps": "",
        "ExtendedProperties": json.dumps(ext, indent=indent),
        "Entities": json.dumps(entities(alert), indent=indent),
        "SourceSystem": "Detection",
        "WorkspaceSubscriptionId": SUBSCRIPTION_ID,
        "WorkspaceResourceGroup": RESOURCE_GROUP,
        "ExtendedLinks": "",
        "ProductName": alert.product,
        "ProductComponentName": "",
        "AlertLink": _link(alert),
        "Status": alert.status,
        "CompromisedEntity": alert.hosts[0].hunt_a_key if alert.hosts else "",
        "Tactics": alert.tactics,
        "Techniques": alert.techniques,
        "SubTechniques": "",
        "Type": "SecurityAlert",
    }


def portal_time(ts: datetime) -> str:
    """The portal's en-US CSV time: ``3/3/2021, 3:14:07.881 AM`` (milliseconds, 12-hour)."""
    hour12 = ts.hour % 12 or 12
    ampm = "AM" if ts.hour < 12 else "PM"
    return f"{ts.month}/{ts.day}/{ts.year}, {hour12}:{ts:%M:%S}.{ts.microsecond // 1000:03d} {ampm}"


def iso_7(ts: datetime) -> str:
    """Log Analytics' JSON time: seven fractional digits and a Z."""
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond:06d}0Z"


def portal_csv(alerts: list[AlertRow]) -> bytes:
    """The portal's Export to CSV of ``SecurityAlert`` (all columns, schema order)."""
    columns = [c for c in SECURITYALERT.kql_columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([f"{c.name} [UTC]" if c.kql_type == "datetime" else c.name for c in columns])
    for alert in alerts:
        values = row_values(alert, multiline_json=True)
        cells = []
        for c in columns:
            v = values[c.name]
            if isinstance(v, datetime):
                cells.append(portal_time(v))
            elif isinstance(v, bool):
                cells.append("true" if v else "false")
            elif v is None:
                cells.append("")
            else:
                cells.append(str(v))
        writer.writerow(cells)
    return buf.getvalue().encode("utf-8")


def json_lines(alerts: list[AlertRow]) -> bytes:
    """A workspace data export: one JSON object per line."""
    lines = []
    for alert in alerts:
        values = row_values(alert, multiline_json=False)
        record = {k: (iso_7(v) if isinstance(v, datetime) else v) for k, v in values.items()}
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode("utf-8")


def truncate_to_millis(ts: datetime) -> datetime:
    """What a time becomes after the portal's CSV export (milliseconds kept)."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)
