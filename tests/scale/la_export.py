"""Writers of Log Analytics result files, following the formats the portal and the query
API produce, so the import tests read files shaped like real exports."""
from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from engine.findings import HuntRun


def portal_time(ts: datetime) -> str:
    """The portal's CSV timestamp: ``3/9/2026, 8:12:41.221 AM`` (milliseconds, 12-hour)."""
    hour = ts.hour % 12 or 12
    ampm = "AM" if ts.hour < 12 else "PM"
    return (f"{ts.month}/{ts.day}/{ts.year}, {hour}:{ts.minute:02d}:{ts.second:02d}."
            f"{ts.microsecond // 1000:03d} {ampm}")


def kusto_iso(ts: datetime) -> str:
    """A datetime inside a ``dynamic`` value, as Kusto serialises it (7 fractional digits)."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond:06d}0Z"


def _dynamic(value: Any) -> Any:
    if isinstance(value, datetime):
        return kusto_iso(value)
    if isinstance(value, list):
        return [_dynamic(v) for v in value]
    return value


def write_portal_csv(path: Path, run: HuntRun, time_columns: Sequence[str]) -> Path:
    """The portal's "Export to CSV": ``[UTC]`` on datetime headers, lists as JSON text,
    empty cells for null, a UTF-8 byte-order mark."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([f"{c} [UTC]" if c in time_columns else c for c in run.columns])
        for f in run.findings:
            cells = []
            for c in run.columns:
                v = f.row[c]
                if v is None:
                    cells.append("")
                elif isinstance(v, datetime):
                    cells.append(portal_time(v))
                elif isinstance(v, list):
                    cells.append(json.dumps(_dynamic(v), separators=(",", ":")))
                else:
                    cells.append(str(v))
            writer.writerow(cells)
    return path


def write_json_rows(path: Path, run: HuntRun, *, as_text: bool) -> Path:
    """A JSON array of row objects. ``as_text``: every value a string, lists as JSON text,
    plus ``TableName`` (the shape ``az monitor log-analytics query`` prints); otherwise
    native JSON values."""
    rows = []
    for f in run.findings:
        row: dict[str, Any] = {}
        for c in run.columns:
            v = _dynamic(f.row[c])
            if as_text and v is not None:
                v = json.dumps(v) if isinstance(v, list) else str(v)
            row[c] = v
        if as_text:
            row["TableName"] = "PrimaryResult"
        rows.append(row)
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path


def write_query_api_json(path: Path, run: HuntRun, types: dict[str, str]) -> Path:
    """The Log Analytics query API's response: ``{"tables": [{"name": "PrimaryResult",
    "columns": [{"name", "type"}], "rows": [[...]]}]}``."""
    kql_type = {"VARCHAR": "string", "BIGINT": "long", "TIMESTAMP": "datetime"}
    columns = [{"name": c, "type": kql_type.get(types[c], "dynamic")} for c in run.columns]
    rows = [[_dynamic(f.row[c]) for c in run.columns] for f in run.findings]
    path.write_text(json.dumps({"tables": [{"name": "PrimaryResult", "columns": columns,
                                            "rows": rows}]}), encoding="utf-8")
    return path
