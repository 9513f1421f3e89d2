"""Results of a hunt run in Log Analytics (Microsoft Sentinel), imported as findings.

Where an estate already feeds Sentinel, the distributed engine is Sentinel itself: the
analyst runs the same hunting query there, exports the results and imports the file into
a case. Each result row becomes a Finding whose id is ``engine.findings.finding_id`` of the
rule id and the row's key columns, exactly as a local run would compute it, so the console
triages it with the same id, its disposition is shared with a local finding of the same
server or file, and the export writes it like any other.

Accepted files:

- the portal's **Export to CSV**: headers such as ``TimeGenerated [UTC]`` (the bracketed
  suffix is dropped; a time column labelled with anything but UTC is refused, since local
  times cannot be turned back into UTC), timestamps such as ``3/9/2026, 8:12:41.221 AM``
  (ISO 8601 is accepted too), ``dynamic`` lists as JSON text in a cell, an empty cell for
  null, an optional UTF-8 byte-order mark;
- **JSON**: an array of row objects (the portal's and ``az monitor log-analytics query``'s
  shape, values native or as text), or the query API's ``{"tables": [{"columns": [...],
  "rows": [...]}]}``.

Values are read with the types the rule's own SQL returns (taken from DuckDB on empty
tables), so an imported row holds what a local run would hold: ints, naive UTC datetimes
(fractions past microseconds are truncated: KQL keeps 100 ns), lists, and ``""`` rather than
null for text. A row with a value that cannot be read is skipped and reported by file and
line; the rest is imported.

Storage and combination: an import is kept in the case as
``imported/<rule id>/<label>.json`` (label: the file's stem unless given), replaced when the
same label is imported again. :func:`combine_runs` merges imported findings into the local
runs, one run per rule: a finding found both locally and in Log Analytics is shown once,
with the local row (its requests and alerts can be drilled into on local evidence); a note
on the run counts what was imported and what overlapped.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from engine import hunts
from engine.findings import CoverageNote, Finding, HuntRun, finding_id
from engine.jsonvalues import to_json_value
from engine.rules import Rule, resolve_parameters

IMPORTED_DIR = "imported"
STORE_FORMAT = 1
# Columns Log Analytics adds to a JSON export that are not part of the query's output.
_SERVICE_COLUMNS = {"TableName", "$table"}

_BRACKET = re.compile(r"^(?P<name>.*?)\s*\[(?P<label>[^\]]*)\]\s*$")
_PORTAL_TIME = re.compile(
    r"^(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}),?\s+(?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?\s*(?P<ampm>[AaPp][Mm])?$")
_ISO_TIME = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$")


class ResultsImportError(Exception):
    """The file cannot be imported at all (unreadable, wrong shape, key column missing)."""


# Marks a row that could not be split into cells; never a column name in a real export.
_ROW_ERROR = "\0error"


@dataclass
class ImportReport:
    rule_id: str
    rule_slug: str
    source: str
    label: str
    format: str  # "csv" | "json"
    rows: int  # data rows read from the file
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong"
    stored: str = ""  # where the import is kept in the case

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "slug": self.rule_slug, "source": self.source,
                "label": self.label, "format": self.format, "rows": self.rows,
                "findings": len(self.findings), "problems": list(self.problems),
                "stored": self.stored}


# --- the rule's output shape ---------------------------------------------------------------

def output_types(rule: Rule, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Column -> DuckDB type of the rule's output (``VARCHAR``, ``BIGINT``, ``TIMESTAMP[]``
    ...), in KQL's column order: the rule's SQL run on empty tables."""
    import duckdb

    from engine.tables import create_tables

    con = duckdb.connect(":memory:")
    try:
        create_tables(con)
        hunts.install(con)
        params = resolve_parameters(rule, overrides)
        sql, bound, _compiled = hunts._executable(rule, params, None)
        cursor = con.execute(sql, bound)
        return {d[0]: str(d[1]) for d in cursor.description}
    finally:
        con.close()


# --- reading values --------------------------------------------------------------------------

def parse_time(text: str) -> datetime:
    """A Log Analytics timestamp as a naive UTC datetime: the portal's
    ``3/9/2026, 8:12:41.221 AM`` or ISO 8601 (``2026-03-09T08:12:41.2210000Z``)."""
    text = text.strip()
    m = _ISO_TIME.match(text)
    if m is None:
        m = _PORTAL_TIME.match(text)
        if m is None:
            raise ValueError(f"{text!r} is not a timestamp")
    hour = int(m["h"])
    ampm = m.groupdict().get("ampm")
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError(f"{text!r}: hour {hour} with {ampm}")
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    micro = int((m["f"] or "").ljust(6, "0")[:6])
    value = datetime(int(m["y"]), int(m["mo"]), int(m["d"]), hour, int(m["mi"]),
                     int(m["s"] or 0), micro)
    tz = m.groupdict().get("tz")
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        value = value - timedelta(minutes=offset)
    return value


def convert(value: Any, sql_type: str) -> Any:
    """A cell or JSON value as the Python value DuckDB returns for ``sql_type``.
    ValueError says what could not be read."""
    if sql_type.endswith("[]"):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{_short(value)} is not a JSON list") from None
        if not isinstance(value, list):
            raise ValueError(f"{_short(value)} is not a list")
        inner = sql_type[:-2]
        return [None if v is None else convert(v, inner) for v in value]
    if sql_type == "VARCHAR":
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if sql_type in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT"):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        text = str(value).strip().replace(",", "")
        if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            return int(text.split(".")[0])
        raise ValueError(f"{_short(value)} is not an integer")
    if sql_type == "DOUBLE":
        try:
            return float(str(value).strip()) if not isinstance(value, (int, float)) \
                else float(value)
        except ValueError:
            raise ValueError(f"{_short(value)} is not a number") from None
    if sql_type == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError(f"{_short(value)} is not true or false")
    if sql_type.startswith("TIMESTAMP"):
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).replace(tzinfo=None) \
                if value.tzinfo else value
        return parse_time(str(value))
    raise ValueError(f"cannot read a {sql_type} value")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- reading files ---------------------------------------------------------------------------

def _detect_format(path: Path, text: str) -> str:
    """By the file's extension when it says .csv or .json, else by its first character."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix[1:]
    return "json" if text.lstrip("\ufeff \t\r\n")[:1] in ("[", "{") else "csv"


def _csv_rows(path: Path, text: str
              ) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ResultsImportError(f"{path}: empty file (no header line)") from None
    names = []
    for raw in header:
        raw = raw.lstrip("\ufeff")
        m = _BRACKET.match(raw)
        name = m["name"].strip() if m else raw.strip()
        if m and m["label"].strip().upper() != "UTC":
            raise ResultsImportError(
                f"{path}:1: column {raw!r}: times shown as {m['label']!r} cannot be turned "
                "back into UTC; export again with the portal's time display set to UTC")
        names.append(name)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        end = reader.line_num
        for cells in reader:
            # A quoted cell may span lines (JSON lists): report where the row starts.
            line, end = end + 1, reader.line_num
            if not cells or all(not c for c in cells):
                continue
            if len(cells) != len(names):
                yield line, {_ROW_ERROR: f"{len(cells)} cells, the header has {len(names)}"}
                continue
            yield line, dict(zip(names, cells))

    return names, rows()


def _json_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ResultsImportError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("tables"), list):
        tables = data["tables"]
        primary = next((t for t in tables if isinstance(t, dict)
                        and t.get("name") in ("PrimaryResult", None)), None)
        if primary is None or not isinstance(primary.get("columns"), list):
            raise ResultsImportError(f"{path}: JSON with 'tables' but no PrimaryResult table")
        names = [c.get("name") if isinstance(c, dict) else str(c) for c in primary["columns"]]
        out = []
        for i, row in enumerate(primary.get("rows") or [], start=1):
            if isinstance(row, list) and len(row) == len(names):
                out.append((i, dict(zip(names, row))))
            else:
                out.append((i, {_ROW_ERROR: "row does not match the columns"}))
        return names, out
    if isinstance(data, list):
        names: list[str] = []
        out = []
        for i, row in enumerate(data, start=1):
            if not isinstance(row, dict):
                out.append((i, {_ROW_ERROR: f"element is {type(row).__name__}, not an object"}))
                continue
            for k in row:
                if k not in names:
                    names.append(k)
            out.append((i, row))
        return names, out
    raise ResultsImportError(f"{path}: JSON must be an array of rows or the query API's "
                       "{\"tables\": [...]} object")


def read_results(path: Path, rule: Rule, types: Mapping[str, str] | None = None
                 ) -> tuple[str, list[dict[str, Any]], list[str], int]:
    """(format, rows as {column: value} in the rule's column order, problems, rows read).

    Raises ResultsImportError when nothing can be imported (unreadable file, a key column
    missing). Problems name the file and the line (CSV) or row number (JSON)."""
    path = Path(path)
    types = dict(types) if types is not None else output_types(rule)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResultsImportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    problems: list[str] = []
    if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
        problems.append(f"{path}: bytes that are not UTF-8 were replaced")
    fmt = _detect_format(path, text)
    unit = "line" if fmt == "csv" else "row"
    if fmt == "csv":
        names, rows = _csv_rows(path, text)
    else:
        names, rows = _json_rows(path, text)
    missing_keys = [k for k in hunts.rule_key_columns(rule, types) if k not in names]
    if missing_keys:
        raise ResultsImportError(f"{path}: no column {', '.join(repr(k) for k in missing_keys)} "
                           f"(the key of rule {rule.slug}); the file has "
                           f"{', '.join(names) or 'no columns'}")
    missing = [c for c in types if c not in names]
    if missing:
        problems.append(f"{path}: columns {', '.join(missing)} are not in the file; "
                        "they are left empty")
    unknown = [n for n in names if n not in types and n not in _SERVICE_COLUMNS]
    if unknown:
        problems.append(f"{path}: columns {', '.join(unknown)} are not output columns of "
                        f"rule {rule.slug}; ignored")
    out: list[dict[str, Any]] = []
    count = 0
    for where, cells in rows:
        count += 1
        if _ROW_ERROR in cells:
            problems.append(f"{path}:{unit} {where}: {cells[_ROW_ERROR]}; row skipped")
            continue
        row: dict[str, Any] = {}
        try:
            for column, sql_type in types.items():
                try:
                    row[column] = convert(cells.get(column), sql_type)
                except ValueError as exc:
                    raise ValueError(f"column {column}: {exc}") from None
        except ValueError as exc:
            problems.append(f"{path}:{unit} {where}: {exc}; row skipped")
            continue
        out.append(row)
    return fmt, out, problems, count


# --- storing in the case -----------------------------------------------------------------

def _label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return label[:80] or "results"


def _store_dir(case_path: Path, rule_id: str) -> Path:
    return Path(case_path) / IMPORTED_DIR / _label(rule_id)


def import_results(case_path: Path, rule: Rule, results: Path, *,
                   label: str | None = None) -> ImportReport:
    """Read ``results`` (a Log Analytics export of ``rule``'s query) and keep its rows in
    the case as findings of ``rule``. Importing the same label again replaces it."""
    results = Path(results)
    types = output_types(rule)
    fmt, rows, problems, count = read_results(results, rule, types)
    label = _label(label or results.stem)
    key_columns = hunts.rule_key_columns(rule, types)
    findings: list[Finding] = []
    seen: set[str] = set()
    for row in rows:
        key = tuple(row[k] for k in key_columns)
        fid = finding_id(rule.id, key)
        if fid in seen:
            problems.append(f"{results}: key {list(key)!r} appears more than once; "
                            "the first row is kept")
            continue
        seen.add(fid)
        findings.append(Finding(rule.id, fid, row, key))
    folder = _store_dir(case_path, rule.id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{label}.json"
    document = {
        "format": STORE_FORMAT,
        "rule_id": rule.id,
        "rule_slug": rule.slug,
        "rule_name": rule.name,
        "source": str(results.resolve()),
        "source_sha256": hashlib.sha256(results.read_bytes()).hexdigest(),
        "source_format": fmt,
        "imported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "types": types,
        "problems": problems,
        "rows": [{c: to_json_value(v) for c, v in f.row.items()} for f in findings],
    }
    tmp = folder / f".{label}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, stored)
    return ImportReport(rule.id, rule.slug, str(results), label, fmt, count, findings,
                        problems, str(stored))


@dataclass(frozen=True)
class StoredImport:
    label: str
    source: str
    imported_at: str
    run: HuntRun


def stored_imports(case_path: Path, rule: Rule) -> list[StoredImport]:
    """The imports of ``rule`` kept in the case, oldest label first (sorted by label).
    A damaged store file is skipped with a note on its run rather than failing."""
    folder = _store_dir(case_path, rule.id)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            types = doc["types"]
            key_columns = hunts.rule_key_columns(rule, types)
            findings = []
            for row in doc["rows"]:
                values = {c: convert(row.get(c), t) for c, t in types.items()}
                key = tuple(values[k] for k in key_columns)
                findings.append(Finding(rule.id, finding_id(rule.id, key), values, key))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            run = HuntRun(rule.id, rule.slug, rule.name, list(rule.columns), [],
                          [CoverageNote("imported-unreadable", 1,
                                        f"{path}: cannot read this import: {exc}")])
            out.append(StoredImport(path.stem, str(path), "", run))
            continue
        run = HuntRun(rule.id, rule.slug, rule.name, list(types), findings)
        out.append(StoredImport(path.stem, doc.get("source", ""), doc.get("imported_at", ""),
                                run))
    return out


def imported_runs(case_path: Path, rules: Sequence[Rule]) -> list[HuntRun]:
    """One HuntRun per rule with imports in the case (all its labels merged, first label
    wins for a finding id present in several)."""
    runs = []
    for rule in rules:
        imports = stored_imports(case_path, rule)
        if not imports:
            continue
        findings: dict[str, Finding] = {}
        notes: list[CoverageNote] = []
        for item in imports:
            notes.extend(item.run.notes)
            for f in item.run.findings:
                findings.setdefault(f.finding_id, f)
        sources = ", ".join(f"{i.label} ({i.imported_at or 'unreadable'})" for i in imports)
        notes.append(CoverageNote(
            "imported-findings", len(findings),
            f"{len(findings)} findings imported from Log Analytics results: {sources}"))
        columns = next((i.run.columns for i in imports if i.run.columns), list(rule.columns))
        runs.append(HuntRun(rule.id, rule.slug, rule.name, columns, list(findings.values()),
                            notes))
    return runs


def combine_runs(local: Sequence[HuntRun], imported: Sequence[HuntRun]) -> list[HuntRun]:
    """Local runs with the imported findings of the same rule merged in.

    One run per rule, in the local order, then rules known only from imports. A finding
    id present on both sides keeps the local row (it can be drilled into on local
    evidence; the id, and so the disposition, is the same either way). The run gains a
    note counting the imported findings and the overlap."""
    by_rule = {run.rule_id: run for run in imported}
    out: list[HuntRun] = []
    for run in local:
        extra = by_rule.pop(run.rule_id, None)
        if extra is None:
            out.append(run)
            continue
        local_ids = {f.finding_id for f in run.findings}
        added = [f for f in extra.findings if f.finding_id not in local_ids]
        overlap = len(extra.findings) - len(added)
        notes = [n for n in extra.notes if n.code != "imported-findings"]
        notes.append(CoverageNote(
            "imported-findings", len(extra.findings),
            f"{len(extra.findings)} findings imported from Log Analytics; {overlap} of them "
            f"were also found locally (local rows shown), {len(added)} only there"))
        # A local run that failed has no columns of its own to show the imported rows by.
        out.append(HuntRun(run.rule_id, run.rule_slug, run.rule_name,
                           run.columns or extra.columns, [*run.findings, *added], [*run.notes, *notes], run.parameters,
                           run.elapsed_s, failed=run.failed))
    out.extend(by_rule.values())
    return out
