"""W3CIISLog and SecurityAlert exports from Sentinel / Log Analytics -> the two tables.

Accepted: CSV (including the portal's "Export to CSV": ``TimeGenerated [UTC]`` headers and
``3/9/2026, 8:12:41.221 AM`` timestamps; multi-line quoted JSON in ``Entities``), JSON
arrays, JSON lines and Parquet. The table is recognised by its columns. msticpy's
``alertlist.csv`` renames some SecurityAlert columns (``StartTimeUtc``...): those aliases are
mapped and the file's report says so.

Column names come from the evidence, so they are never formatted into SQL: CSV columns are
renamed to ``c0..cN`` through ``read_csv(names=...)``, JSON fields are read with bound keys,
and Parquet columns are renamed in Arrow before DuckDB sees them.
"""
from __future__ import annotations

import codecs
import re
from collections import deque
from glob import escape as glob_escape
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from engine.tables import SECURITYALERT, W3CIISLOG, Table

EXPORT_FORMATS = ("csv", "json", "jsonl", "parquet")

# msticpy (and some older tools) name SecurityAlert columns differently.
ALERT_ALIASES = {
    "StartTimeUtc": "StartTime",
    "EndTimeUtc": "EndTime",
    "ProviderAlertId": "VendorOriginalId",
    "AlertDisplayName": "DisplayName",
    "Severity": "AlertSeverity",
    "TimeGeneratedUtc": "TimeGenerated",
}
PORTAL_TIME_FORMATS = [
    "%m/%d/%Y, %I:%M:%S.%g %p", "%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p",
    "%m/%d/%Y, %H:%M:%S.%g", "%m/%d/%Y, %H:%M:%S.%f", "%m/%d/%Y, %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S",
]
_SUFFIX = re.compile(r"\s*\[[^\]]*\]\s*$")  # "TimeGenerated [UTC]" -> "TimeGenerated"


def normalise(name: str) -> str:
    return _SUFFIX.sub("", name.strip().lstrip("\ufeff"))


def classify_columns(columns: list[str]) -> tuple[str | None, str | None]:
    """(table name or None, note). The note names the aliases used or why it is skipped."""
    names = {normalise(c) for c in columns}
    lowered = {n.lower() for n in names}
    if {"csuristem"} <= lowered and ({"cip"} & lowered or {"sip"} & lowered):
        return "W3CIISLog", None
    if "systemalertid" in lowered and ({"alertname", "displayname", "alertdisplayname"} & lowered):
        used = sorted(a for a in ALERT_ALIASES if a in names and ALERT_ALIASES[a] not in names)
        note = None
        if used:
            note = ("SecurityAlert export with renamed columns (msticpy style): "
                    + ", ".join(f"{a}->{ALERT_ALIASES[a]}" for a in used))
        return "SecurityAlert", note
    if "alertid" in lowered and ("entitytype" in lowered or "evidencerole" in lowered):
        return None, ("AlertEvidence table (Defender XDR alert evidence), not SecurityAlert: "
                      "it has no Entities/SystemAlertId, so hunt A cannot use it")
    return None, None


@dataclass
class ExportOptions:
    file_id: int
    tenant_id: str = ""
    strip_dash: bool = False  # exports are taken as exported unless the user asks


@dataclass
class ExportResult:
    rows: int = 0
    computers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dash_queries: int = 0  # csUriQuery == "-" in a W3CIISLog export
    reason: str | None = None
    bad_lines: int = 0  # malformed records left out of a damaged export


def _csv_header(path: Path, gz: bool) -> list[str]:
    import csv
    import gzip

    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])


def _source_columns(con: duckdb.DuckDBPyConnection, path: Path, fmt: str,
                    gz: bool) -> tuple[list[str], list[str]]:
    """Create the temp view ``export_src`` with columns c0..cN; return (original names,
    DuckDB types)."""
    con.execute("DROP VIEW IF EXISTS export_src")
    con.execute("DROP TABLE IF EXISTS export_src_t")
    compression = "gzip" if gz else "none"
    if fmt == "csv":
        original = _csv_header(path, gz)
        names = [f"c{i}" for i in range(len(original))]
        columns = ", ".join(f"'{n}': 'VARCHAR'" for n in names)  # our own names c0..cN
        con.execute(
            "CREATE TEMP TABLE export_src_t AS SELECT row_number() OVER () AS _rec, * FROM "
            f"read_csv($p, header=true, columns={{{columns}}}, quote='\"', escape='\"', "
            "auto_detect=false, delim=',', strict_mode=false, "
            "max_line_size=67108864, compression=$c)",
            {"p": str(path), "c": compression},
        )
        return original, ["VARCHAR"] * len(original)
    if fmt in ("json", "jsonl"):
        # Keys of every record, in order of first appearance (a record may lack some).
        original = [r[0] for r in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(json)) AS k, row_number() OVER () AS r "
            "FROM read_json_objects($p, format=$f, compression=$c) "
            "WHERE json_type(json) = 'OBJECT') GROUP BY k ORDER BY min(r)",
            {"p": str(path), "f": "array" if fmt == "json" else "newline_delimited",
             "c": compression},
        ).fetchall()]
        selects = []
        params: dict[str, object] = {"p": str(path), "c": compression,
                                     "f": "array" if fmt == "json" else "newline_delimited"}
        for i, name in enumerate(original):
            params[f"k{i}"] = name
            # Nested values (Entities as an array) are kept as JSON text, as Log Analytics
            # stores them; scalars become their text.
            selects.append(
                f"CASE WHEN json_type(json -> $k{i}) IN ('ARRAY', 'OBJECT') "
                f"THEN CAST(json -> $k{i} AS VARCHAR) ELSE json ->> $k{i} END AS c{i}"
            )
        body = ", ".join(selects) if selects else "NULL AS c0"
        con.execute(
            f"CREATE TEMP TABLE export_src_t AS SELECT row_number() OVER () AS _rec, {body} "
            "FROM read_json_objects($p, format=$f, compression=$c)",
            params,
        )
        return original, ["VARCHAR"] * len(original)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        original = list(table.column_names)
        table = table.rename_columns([f"c{i}" for i in range(len(original))])
        con.register("export_arrow", table)
        con.execute("CREATE TEMP TABLE export_src_t AS SELECT row_number() OVER () AS _rec, * "
                    "FROM export_arrow")
        con.unregister("export_arrow")
        types = [r[1] for r in con.execute("DESCRIBE export_src_t").fetchall()[1:]]
        return original, types
    raise ValueError(f"unknown export format {fmt}")


def _time_expr(col: str, sql_type: str) -> str:
    if sql_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"timezone('UTC', {col})"
    if sql_type.startswith("TIMESTAMP"):
        return f"CAST({col} AS TIMESTAMP)"
    text = f"trim(CAST({col} AS VARCHAR))"
    return (f"coalesce(timezone('UTC', try_cast({text} AS TIMESTAMPTZ)), "
            f"try_strptime({text}, $time_formats))")


def _text_expr(col: str, sql_type: str) -> str:
    if sql_type.endswith("[]") or sql_type.startswith(("STRUCT", "MAP")):
        return f"coalesce(CAST(to_json({col}) AS VARCHAR), '')"
    return f"coalesce(CAST({col} AS VARCHAR), '')"


def read_export(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, gz: bool, table_name: str,
                out_dir: Path, opts: ExportOptions) -> ExportResult:
    result = ExportResult()
    readable = path
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        # A name that is not UTF-8 cannot be handed to DuckDB: read a private copy.
        out_dir.mkdir(parents=True, exist_ok=True)
        readable = out_dir / ("source." + fmt + (".gz" if gz else ""))
        shutil.copyfile(path, readable)
    try:
        try:
            original, types = _source_columns(con, readable, fmt, gz)
        finally:
            if readable != path:
                readable.unlink(missing_ok=True)
    except duckdb.Error:
        if fmt not in ("csv", "json", "jsonl"):
            raise
        # One malformed record made DuckDB give up on the file: keep the good records.
        out_dir.mkdir(parents=True, exist_ok=True)
        salvaged = out_dir / ("salvaged.csv" if fmt == "csv" else "salvaged.jsonl")
        bad = _salvage_copy(path, fmt, gz, salvaged)
        try:
            original, types = _source_columns(con, salvaged, "csv" if fmt == "csv" else "jsonl",
                                              False)
        finally:
            salvaged.unlink(missing_ok=True)
        result.bad_lines = len(bad)
        _write_bad_records(out_dir / "bad_lines.parquet", opts.file_id, bad)
        result.notes.append(f"damaged export: {len(bad)} malformed record(s) left out "
                            "(listed with --bad-lines), the other records loaded")
    table: Table = W3CIISLOG if table_name == "W3CIISLog" else SECURITYALERT
    position: dict[str, int] = {}
    for i, name in enumerate(original):
        norm = normalise(name)
        position.setdefault(norm, i)
        position.setdefault(norm.lower(), i)
    if table is SECURITYALERT:
        for alias, target in ALERT_ALIASES.items():
            if alias in position and target not in position:
                position[target] = position[alias]
    selects = []
    for col in table.columns:
        idx = position.get(col.name, position.get(col.name.lower()))
        src = f"c{idx}" if idx is not None else None
        sql_type = types[idx] if idx is not None else "VARCHAR"
        if col.name == "_file_id":
            expr = "CAST($file_id AS INTEGER)"
        elif col.name == "_line":
            expr = "_rec"
        elif src is None:
            if col.name == "Type":
                expr = f"'{table.name}'"
            elif col.name == "TenantId":
                expr = "$tenant"
            else:
                expr = "''" if col.is_string else f"CAST(NULL AS {col.sql_type})"
        elif col.sql_type == "TIMESTAMP":
            expr = _time_expr(src, sql_type)
        elif col.is_string:
            expr = _text_expr(src, sql_type)
            if col.name == "Type":
                expr = f"coalesce(nullif({expr}, ''), '{table.name}')"
            if opts.strip_dash and table is W3CIISLOG:
                expr = f"(CASE WHEN {expr} = '-' THEN '' ELSE {expr} END)"
        elif col.sql_type == "BOOLEAN":
            expr = f"try_cast(CAST({src} AS VARCHAR) AS BOOLEAN)"
        else:
            expr = f"try_cast(nullif(trim(CAST({src} AS VARCHAR)), '') AS {col.sql_type})"
        selects.append(f'{expr} AS "{col.name}"')
    params = {"file_id": opts.file_id, "tenant": opts.tenant_id,
              "time_formats": PORTAL_TIME_FORMATS}
    query = f"SELECT {', '.join(selects)} FROM export_src_t"
    used = {k: v for k, v in params.items() if f"${k}" in query}
    target = out_dir / table.name
    target.mkdir(parents=True, exist_ok=True)
    if table is W3CIISLOG:
        dash_src = position.get("csUriQuery")
        if dash_src is not None:
            result.dash_queries = con.execute(
                f"SELECT count(*) FROM export_src_t WHERE trim(CAST(c{dash_src} AS VARCHAR)) = '-'"
            ).fetchone()[0]
        con.execute(
            f"""COPY (SELECT *, 'rows' AS kind,
                   coalesce(nullif(left(regexp_replace(lower("Computer"), '[^a-z0-9._-]', '_',
                                    'g'), 100), ''), '_') AS host,
                   coalesce(strftime("TimeGenerated", '%Y-%m-%d'), 'none') AS day
                FROM ({query})) TO $copy_dest
                (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (kind, host, day),
                 OVERWRITE_OR_IGNORE true)""",
            {**used, "copy_dest": str(target)},
        )
        # The case folder may be named "[x]case": its own path must not act as a pattern.
        glob = glob_escape(str(target / "kind=rows")) + "/**/*.parquet"
        if (target / "kind=rows").exists():
            result.rows = con.execute(
                "SELECT count(*) FROM read_parquet($g, hive_partitioning=false)", {"g": glob}
            ).fetchone()[0]
            result.computers = [r[0] for r in con.execute(
                'SELECT DISTINCT "Computer" FROM read_parquet($g, hive_partitioning=false) '
                "ORDER BY 1", {"g": glob}).fetchall()]
        if result.dash_queries:
            verb = "changed to empty (--strip-export-dash)" if opts.strip_dash else "kept as exported"
            result.notes.append(
                f"{result.dash_queries} rows have csUriQuery '-' ({verb}); hunt B's "
                "isempty(csUriQuery) does not match '-'"
            )
    else:
        con.execute(f"COPY ({query}) TO $copy_dest (FORMAT parquet, COMPRESSION zstd)",
                    {**used, "copy_dest": str(target / "data_0.parquet")})
        result.rows = con.execute(
            "SELECT count(*) FROM read_parquet($g)", {"g": str(target / "data_0.parquet")}
        ).fetchone()[0]
        bad_times = con.execute(
            'SELECT count(*) FROM read_parquet($g) WHERE "TimeGenerated" IS NULL',
            {"g": str(target / "data_0.parquet")},
        ).fetchone()[0]
        if bad_times:
            result.notes.append(f"{bad_times} rows without a readable TimeGenerated")
    con.execute("DROP TABLE IF EXISTS export_src_t")
    return result


def _salvage_copy(path: Path, fmt: str, gz: bool, dest: Path) -> list[tuple[int, str]]:
    """Write to ``dest`` every record of a damaged CSV / JSON / JSON-lines export that still
    parses; return the (line, raw text) of each record left out.

    DuckDB's readers stop at the first malformed record (a copy cut inside a quoted field,
    invalid UTF-8, one line that is not JSON) and the whole file would be lost: this slower
    record-by-record pass runs only then, so a damaged export keeps its good records and its
    bad ones are counted and named."""
    import csv
    import gzip
    import json

    from engine.evidence.discover import ForgivingGzip

    if fmt == "csv":
        return _salvage_csv(path, gz, dest)
    with (ForgivingGzip(open(path, "rb")) if gz else open(path, "rb")) as src:
        raw = src.read()
    text = raw.decode("utf-8", "replace").lstrip("\ufeff").replace("\x00", "\ufffd")
    bad: list[tuple[int, str]] = []
    records: list[dict] = []
    if fmt == "jsonl":
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if isinstance(value, dict):
                records.append(value)
            else:
                bad.append((number, line[:10000]))
    else:  # a JSON array: keep each element that decodes, up to where the text breaks
        decoder = json.JSONDecoder()
        pos = text.find("[") + 1
        while 0 < pos < len(text):
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] == "]":
                break
            try:
                value, pos = decoder.raw_decode(text, pos)
            except ValueError:
                line = text.count("\n", 0, pos) + 1
                bad.append((line, text[pos:pos + 10000]))
                break
            if isinstance(value, dict):
                records.append(value)
            else:
                bad.append((text.count("\n", 0, pos) + 1, json.dumps(value)[:10000]))
    with open(dest, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return bad


SALVAGE_MAX_LINE = 67108864  # the same as DuckDB's max_line_size in _source_columns
_BAD_TEXT = 10000  # characters of a left-out record kept for --bad-lines


class _TrackedLines:
    """Physical lines of a CSV export, streamed (never the whole file in memory): invalid
    UTF-8 as U+FFFD, NUL as U+FFFD, lines over SALVAGE_MAX_LINE bytes replaced by LineCap's
    marker. Counts lines and keeps the first _BAD_TEXT characters of the current record."""

    def __init__(self, src) -> None:
        from engine.evidence.w3c_layout import LineCap

        self._src = LineCap(src, SALVAGE_MAX_LINE)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._ready: deque[str] = deque()
        self._tail = ""
        self._first = True
        self._eof = False
        self.number = 0
        self.taken: list[str] = []
        self._taken_chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while not self._ready and not self._eof:
            chunk = self._src.read()
            self._eof = not chunk
            text = self._decoder.decode(chunk, final=self._eof)
            if self._first and text:
                text, self._first = text.lstrip("\ufeff"), False
            parts = (self._tail + text.replace("\x00", "\ufffd")).split("\n")
            self._tail = parts.pop()
            self._ready.extend(part + "\n" for part in parts)
        if self._ready:
            line = self._ready.popleft()
        elif self._tail:  # a last line without a newline
            line, self._tail = self._tail, ""
        else:
            raise StopIteration
        self.number += 1
        if self._taken_chars < _BAD_TEXT:
            self.taken.append(line)
            self._taken_chars += len(line)
        return line

    def record_text(self) -> str:
        return "".join(self.taken).rstrip("\r\n")[:_BAD_TEXT]

    def next_record(self) -> None:
        self.taken, self._taken_chars = [], 0


def _salvage_csv(path: Path, gz: bool, dest: Path) -> list[tuple[int, str]]:
    """The CSV half of _salvage_copy, record by record from a stream: memory stays bounded
    by the longest line kept (SALVAGE_MAX_LINE) and the csv module's field size limit."""
    import csv

    from engine.evidence.discover import ForgivingGzip
    from engine.evidence.w3c_layout import CUT_LINE_MARK

    bad: list[tuple[int, str]] = []
    with (ForgivingGzip(open(path, "rb")) if gz else open(path, "rb")) as src, \
            open(dest, "w", encoding="utf-8", newline="") as out:
        lines = _TrackedLines(src)
        reader = csv.reader(lines, strict=True)
        writer = csv.writer(out, lineterminator="\n")
        header: list[str] | None = None
        while True:
            start = lines.number + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error:
                # Resynchronise at the next physical line.
                bad.append((start, lines.record_text()))
                lines.next_record()
                reader = csv.reader(lines, strict=True)
                continue
            if header is None:
                header = record
                writer.writerow(record)
            elif (len(record) > len(header) or not any(record)
                  or any(value.startswith(CUT_LINE_MARK) for value in record)):
                if any(record):
                    bad.append((start, lines.record_text()))
            else:
                writer.writerow(record + [""] * (len(header) - len(record)))
            lines.next_record()
    return bad


def _write_bad_records(dest: Path, file_id: int, bad: list[tuple[int, str]]) -> None:
    """The records left out, in the shape Case.bad_lines reads (file id, line, text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "_file_id": pa.array([file_id] * len(bad), pa.int32()),
        "line": pa.array([line for line, _text in bad], pa.int64()),
        "text": pa.array([text for _line, text in bad], pa.string()),
    })
    pq.write_table(table, dest)
