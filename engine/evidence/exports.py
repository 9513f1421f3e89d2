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
import threading
from collections import deque
from contextlib import contextmanager
from glob import escape as glob_escape
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import duckdb

from engine.evidence import meter
from engine.evidence.w3c_layout import CUT_LINE_MARK, LineCap
from engine.tables import SECURITYALERT, W3CIISLOG, Table

if TYPE_CHECKING:  # pyarrow is imported where Parquet is read
    import pyarrow as pa

EXPORT_FORMATS = ("csv", "json", "jsonl", "parquet")
# The longest record (CSV line, JSON record, Parquet cell) an export may hold. Log Analytics
# itself keeps string values far smaller; an alert with 100,000 entities is ~6 MB. A longer
# one (a planted 200 MB cell) is left out as a bad record saying where it was, so neither
# DuckDB nor the salvage ever holds it whole (Parquet pages: see _parquet_batches). DuckDB's
# own default for JSON objects.
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024

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
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES  # longer records are bad records


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


@dataclass
class _Source:
    """What the case's COPY reads an export from: ``sql``, a query whose columns are _rec
    and c0..cN (read once: a stream), its ``params``, the export's own column names and
    the DuckDB types of c0..cN."""
    original: list[str]
    types: list[str]
    sql: str
    params: dict[str, object] = field(default_factory=dict)
    again: Callable[[], None] | None = None  # a fresh stream for a second read (JSON)


def _source_columns(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, gz: bool,
                    max_record: int = DEFAULT_MAX_RECORD_BYTES,
                    bad: list[tuple[int, str]] | None = None,
                    notes: list[str] | None = None,
                    spill_dir: Path | None = None,
                    tally: dict[int, int] | None = None,
                    sizing: dict[str, int] | None = None) -> _Source:
    """The export as a stream of records with columns _rec, c0..cN (see _Source). Parquet
    records with a cell over ``max_record`` bytes are appended to ``bad`` instead (the other
    formats' long records make the read fail: see _salvage_copy).

    Nothing is held whole: a temporary table held every record in DuckDB's memory (20,000
    records of 256 KB: 5 GB; the file was skipped out of memory) and DuckDB then scanned it
    2,048 rows at a time whatever their size. The stream is read once, by the COPY into
    the case, so a reader failure (a malformed record) shows there (read_export salvages).

    - CSV: DuckDB's read_csv, as the COPY's own source (its scan stays bounded: 256 KB
      records streamed in ~400 MiB, tests/hardening/test_hostile_sizes.py).
    - JSON / JSON lines: records are split out of the file here (_json_batches) and handed
      to DuckDB as text in batches bounded by bytes; DuckDB's JSON functions then read them
      exactly as they read read_json_objects' records (its own reader takes 2,048 records
      at a time: 256 KB records ran out of memory). A first pass over the same stream
      finds the keys and checks every record parses, before anything is written.
    - Parquet: byte-bounded batches (_parquet_batches); ``bad``, ``notes`` and ``tally``
      fill as the COPY reads them."""
    _drop_source(con)
    if fmt == "csv":
        original = _csv_header(path, gz)
        names = [f"c{i}" for i in range(len(original))]
        columns = ", ".join(f"'{n}': 'VARCHAR'" for n in names)  # our own names c0..cN
        # row_number() OVER () right above the scan numbers records in file order (DuckDB
        # runs that window single-threaded: see engine.ingest._connection).
        sql = ("SELECT row_number() OVER () AS _rec, * FROM "
               f"read_csv($src_path, header=true, columns={{{columns}}}, quote='\"', "
               "escape='\"', auto_detect=false, delim=',', strict_mode=false, "
               "max_line_size=$src_line, buffer_size=$src_buffer, compression=$src_gzip)")
        # An explicit buffer: with DuckDB's default, a line over max_line_size comes back
        # inside the error text, whole (a 200 MB cell peaked at 0.9 GB).
        params: dict[str, object] = {
            "src_path": str(path), "src_gzip": "gzip" if gz else "none",
            "src_line": max(max_record, 1024),
            "src_buffer": 2 * max(max_record, 16 * 1024 * 1024)}
        return _Source(original, ["VARCHAR"] * len(original), sql, params)
    if fmt in ("json", "jsonl"):
        # Keys of every record, in order of first appearance (a record's own keys in their
        # order); a record may lack some, and one that is not an object has none. This
        # pass also makes DuckDB parse every record, so a malformed one fails here, before
        # the COPY. No WHERE over the stream: DuckDB then reads it through a pyarrow
        # scanner that reads ahead (20,000 records of 256 KB: 1.2 GiB, against 0.2).
        def register(sizing: dict[str, int] | None = None) -> None:
            _drop_source(con)
            con.register("export_arrow", _json_batches(path, fmt, gz, max_record, sizing))

        register(sizing)  # its longest record, once read, sizes DuckDB's partitioned write
        try:
            original = [r[0] for r in con.execute(
                "SELECT k FROM (SELECT unnest(json_keys(json)) AS k, "
                "generate_subscripts(json_keys(json), 1) AS i, _rec AS r FROM export_arrow) "
                "GROUP BY k ORDER BY min(r), arg_min(i, r)"
            ).fetchall()]
        finally:
            _drop_source(con)
        # Nested values (Entities as an array) are kept as JSON text, as Log Analytics
        # stores them; scalars become their text: what `json -> k` / `json ->> k` give for
        # each key k, but with every record parsed once (json_extract of the list of keys),
        # not three times per key: DuckDB keeps every parse of a batch until its end (7
        # keys of 256 KB records, 32 a batch: out of memory at 768 MB).
        params: dict[str, object] = {f"src_k{i}": name for i, name in enumerate(original)}
        selects = [f"CASE WHEN json_type(v[{i + 1}]) IN ('ARRAY', 'OBJECT') "
                   f"THEN CAST(v[{i + 1}] AS VARCHAR) ELSE v[{i + 1}] ->> '$' END AS c{i}"
                   for i in range(len(original))]
        keys = ", ".join(f"$src_k{i}" for i in range(len(original)))
        sql = (f"SELECT _rec, {', '.join(selects)} FROM "
               f"(SELECT _rec, json_extract(json, [{keys}]) AS v FROM export_arrow)"
               if original else "SELECT _rec, NULL AS c0 FROM export_arrow")
        register()
        return _Source(original, ["VARCHAR"] * len(original), sql, params, register)
    if fmt == "parquet":
        original, reader = _parquet_batches(path, max_record, bad if bad is not None else [],
                                            notes if notes is not None else [], spill_dir,
                                            tally, sizing)
        con.register("export_arrow", reader)
        con.execute("CREATE TEMP VIEW export_src_t AS SELECT * FROM export_arrow")
        # Binding reads the stream's schema only: no batch is read before the COPY.
        types = [r[1] for r in con.execute("DESCRIBE export_src_t").fetchall()[1:]]
        return _Source(original, types, "SELECT * FROM export_src_t")
    raise ValueError(f"unknown export format {fmt}")


def _drop_source(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the previous export's ``export_src_t`` (a table, or a view over a stream)."""
    for statement in ("DROP VIEW IF EXISTS export_src", "DROP VIEW IF EXISTS export_src_t",
                      "DROP TABLE IF EXISTS export_src_t"):
        try:
            con.execute(statement)
        except duckdb.CatalogException:  # the name is the other kind of object
            pass
    try:
        con.unregister("export_arrow")
    except (duckdb.Error, KeyError):
        pass


PARQUET_BATCH_RECORDS = 4096  # at most, per batch
# At most this many bytes of decoded values per batch, by the page headers' bound on a
# record's bytes (parquet_salvage.record_bound): 4,096 records repeating one 256 KB
# dictionary value would decode to 1 GiB; they come 128 at a time instead. A record whose
# bound is larger comes alone (it is under the record limit, column by column).
PARQUET_BATCH_BYTES = 8 * 1024 * 1024


# CSV and JSON exports: at most this many bytes of records per JSON batch (_json_batches),
# and in DuckDB's partitioned write per thread (_partition_flush). Smaller than Parquet's:
# DuckDB keeps every parse of a batch's JSON until the batch is done (3,000 records of
# 250 KB: 460 MiB with 8 MiB batches, 244 MiB with 2 MiB), and its partitioned write of
# such records took 510-600 MiB from a threshold of 32 rows (8 MB) on, 280-310 MiB under.
TEXT_BATCH_BYTES = 2 * 1024 * 1024


def batch_records(record_bytes: int, batch_bytes: int = PARQUET_BATCH_BYTES) -> int:
    """How many records of at most ``record_bytes`` each one batch of ``batch_bytes``
    holds (at least one, at most PARQUET_BATCH_RECORDS)."""
    return max(1, min(PARQUET_BATCH_RECORDS, batch_bytes // max(record_bytes, 1)))


# pyarrow reads each column chunk through a buffer of this size, page by page. Its defaults
# (no buffer, pre_buffer=True) read whole column chunks into memory first: iterating a
# 300 MB chunk of 1 KB values peaked at 368 MiB that way, 73 MiB through the buffer.
PARQUET_READ_BUFFER = 1024 * 1024


def _parquet_batches(path: Path, max_record: int, bad: list[tuple[int, str]],
                     notes: list[str], spill_dir: Path | None = None,
                     tally: dict[int, int] | None = None,
                     sizing: dict[str, int] | None = None,
                     ) -> tuple[list[str], pa.RecordBatchReader]:
    """(original column names, a RecordBatchReader over the file with columns _rec, c0..cN).

    Why batches: ``read_table`` held the whole export (and DuckDB a second copy) in memory.
    Here one batch is decoded at a time. Before a row group is decoded, the headers of all
    its pages are read (engine.evidence.parquet_salvage): pyarrow never decodes a text
    column's page over ``max_record`` (nor any page over ``page_budget``). Such a page is
    read in pieces instead and every value over the limit is replaced by a marker, which
    becomes a bad record here naming its record number (``_rec``, 1-based, like the other
    formats' lines), column, size and first 80 bytes; the other records of the row group
    load. A column that cannot be read that way is cut for its row group (its records kept
    without it, reported). A value over the limit that pyarrow did decode (a page under the
    budget in a column that cannot be rebuilt) is left out the same way after decoding.

    Batches hold at most PARQUET_BATCH_BYTES of values by the row group's bound on a
    record's bytes (plan.record_bytes, from the pages: whatever the records repeat), and
    at most PARQUET_BATCH_RECORDS records; a record bounded over that comes alone (each of
    its values is under ``max_record``). All row groups are planned before the first batch;
    ``sizing['record_bytes']`` gets the largest bound (read_export sizes DuckDB's
    partitioned write by it). ``tally`` maps column positions to counts of '-' values
    (SQL trim(value) = '-'), kept as the batches go by: the reader is read once."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from engine.evidence.parquet_pages import PageError
    from engine.evidence.parquet_salvage import (
        is_text_type, leaf_fields, plan_row_group, rebuild_row_group,
    )

    source = pq.ParquetFile(path, buffer_size=PARQUET_READ_BUFFER, pre_buffer=False)
    original = list(source.schema_arrow.names)
    names = ["_rec", *(f"c{i}" for i in range(len(original)))]

    def loadable(t):
        # pyarrow 26 cannot filter (take) view types: their large twins hold the same text.
        return (pa.large_string() if pa.types.is_string_view(t)
                else pa.large_binary() if pa.types.is_binary_view(t) else t)

    types = [loadable(f.type) for f in source.schema_arrow]
    schema = pa.schema([pa.field("_rec", pa.int64()),
                        *(pa.field(f"c{i}", t) for i, t in enumerate(types))])
    meta = source.metadata
    owners = leaf_fields(source.schema_arrow)

    def cut_column(i: int, n: int):
        """What a cut column holds: a visible marker in text, null otherwise."""
        t = source.schema_arrow.field(i).type
        if not is_text_type(t):
            return pa.nulls(n, t)
        plain = t.value_type if pa.types.is_dictionary(t) else t
        text = f"{_CUT_MARK}not_decoded_over_the_{max_record}-byte_limit]"
        base = (pa.binary() if pa.types.is_binary(plain) or pa.types.is_large_binary(plain)
                or pa.types.is_binary_view(plain) else pa.string())
        return pa.array([text] * n, base).cast(t)

    def marked(column, values: list[bytes]):
        """Indices of the cells of ``column`` that are one of the marker ``values``."""
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        probe = column.cast(pa.large_binary())
        hits = pc.fill_null(pc.is_in(probe, value_set=pa.array(values, pa.large_binary())),
                            False)
        if not pc.any(hits).as_py():
            return [], probe
        return pc.indices_nonzero(hits).to_pylist(), probe

    # Every row group's plan first (page headers and dictionaries' lengths only): the
    # smallest batch any of them needs is what DuckDB's partitioned write may buffer.
    with open(path, "rb") as raw:
        plans = [plan_row_group(raw, source, g, max_record) for g in range(meta.num_row_groups)]
    if sizing is not None:
        sizing["record_bytes"] = max((p.record_bytes for p in plans), default=0)

    def group_batches(raw, group: int, first: int):
        plan = plans[group]
        rows = plan.rows
        last = first + rows - 1
        rebuilt = None
        if plan.rebuild:
            try:
                rebuilt = rebuild_row_group(raw, source, plan, max_record, spill_dir)
            except PageError as exc:  # a footer this reader cannot copy: cut instead
                for leaf in plan.rebuild:
                    plan.cut.setdefault(owners[leaf], f"its row group could not be rebuilt ({exc})")
                plan.rebuild.clear()
        for i, why in sorted(plan.cut.items()):
            size = sum(meta.row_group(group).column(leaf).total_uncompressed_size
                       for leaf, top in enumerate(owners) if top == i)
            bad.append((first, _cut_record_text(
                f"records_{first}-{last}", size, max_record,
                f"column {original[i]}, not decoded ({why}); the records loaded without it")))
            notes.append(
                f"records {first:,}-{last:,} (one row group): column {original[i]} not decoded "
                f"({why}; {size:,} bytes in this row group), more than can be read within "
                f"the {max_record:,}-byte record limit; the records are loaded without it")
        pages_cut: dict[bytes, list[int]] = {}
        size = batch_records(plan.record_bytes)
        done = 0  # records of this row group handed on
        try:
            reader = rebuilt.parquet(PARQUET_READ_BUFFER) if rebuilt else source
            index = 0 if rebuilt else group
            if plan.cut:
                leaves = [leaf for leaf, top in enumerate(owners) if top not in plan.cut]
                stream = reader.reader.iter_batches(size, row_groups=[index],
                                                    column_indices=leaves, use_threads=False)
            else:
                stream = reader.iter_batches(batch_size=size,
                                             row_groups=[index], use_threads=False)
            for batch in stream:
                columns = list(batch.columns)
                for i in sorted(plan.cut):
                    columns.insert(i, cut_column(i, batch.num_rows))
                done += batch.num_rows
                yield ([c if c.type == types[i] else c.cast(types[i])
                        for i, c in enumerate(columns)], rebuilt, pages_cut)
        except (OSError, pa.ArrowException, PageError) as exc:
            # Damaged data inside the row group (the page headers planned, the pages not
            # decodable): the records before it and the other row groups still load.
            lost = first + done
            detail = re.sub(r"[\x00-\x1f\x7f-\x9f]", "\u00b7", str(exc).splitlines()[0][:120]
                            if str(exc) else type(exc).__name__)
            bad.append((lost, f"{_CUT_MARK}records_{lost}-{last} not decoded: damaged Parquet "
                              f"data ({detail})]"))
            notes.append(f"records {lost:,}-{last:,} (of one row group) not decoded: the "
                         f"file's data is damaged there ({detail}); the other records loaded")
        finally:
            if rebuilt is not None:
                rebuilt.close()
        for value, records in pages_cut.items():
            info = rebuilt.markers[value]  # type: ignore[union-attr]
            notes.append(
                f"{len(records):,} record(s) from record {records[0]:,} on left out, their "
                f"column {original[info.column]} not decoded: {info.why} (over the "
                f"{max_record:,}-byte record limit)")

    def batches():
        first = 1
        with open(path, "rb") as raw:
            for group in range(meta.num_row_groups):
                at = first
                for columns, rebuilt, pages_cut in group_batches(raw, group, first):
                    count = len(columns[0]) if columns else 0
                    numbers = pa.array(range(at, at + count), pa.int64())
                    at += count
                    keep = None
                    for i, column in enumerate(columns):
                        over = None
                        if rebuilt is not None and i in rebuilt.columns:
                            rows, probe = marked(column, list(rebuilt.markers))
                            if rows:
                                over = pc.is_in(numbers, value_set=numbers.take(rows))
                            for row in rows:
                                number = numbers[row].as_py()
                                info = rebuilt.markers[probe[row].as_py()]
                                if info.length is None:
                                    pages_cut.setdefault(probe[row].as_py(), []).append(number)
                                    bad.append((number, _cut_page_text(
                                        number, max_record, original[i], info.why)))
                                else:
                                    bad.append((number, _cut_record_text(
                                        f"record_{number}", info.length, max_record,
                                        f"column {original[i]}: "
                                        f"{info.excerpt.decode('utf-8', 'replace')}")))
                        elif (pa.types.is_string(column.type) or pa.types.is_binary(column.type)
                              or pa.types.is_large_string(column.type)
                              or pa.types.is_large_binary(column.type)):
                            # No page over the limit can hold a longer value: a second
                            # line of defence only.
                            lengths = pc.binary_length(column)
                            over = pc.fill_null(pc.greater(lengths, max_record), False)
                            if not pc.any(over).as_py():
                                continue
                            for row in pc.indices_nonzero(over).to_pylist():
                                # 80 bytes of the value, never the value itself (a Python copy).
                                head = pc.binary_slice(column.take([row]).cast(pa.large_binary()),
                                                       0, 80)[0].as_py()
                                bad.append((numbers[row].as_py(), _cut_record_text(
                                    f"record_{numbers[row].as_py()}", lengths[row].as_py(),
                                    max_record,
                                    f"column {original[i]}: {head.decode('utf-8', 'replace')}")))
                        if over is None:
                            continue
                        keep = pc.invert(over) if keep is None else pc.and_(keep, pc.invert(over))
                    table = pa.Table.from_arrays([numbers, *columns], names=names)
                    if keep is not None:
                        table = table.filter(keep)
                    for i in tally or ():
                        tally[i] += _dashes(table.column(i + 1))  # type: ignore[index]
                    yield from table.to_batches()
                # Records keep their numbers in the file when a row group was cut short.
                first += plans[group].rows
        bad.sort()

    return original, pa.RecordBatchReader.from_batches(schema, batches())


def _dashes(column) -> int:
    """How many values of a text column are '-' between spaces (SQL trim(value) = '-')."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
            or pa.types.is_string_view(column.type)):
        return 0
    hits = pc.equal(pc.utf8_trim(column.cast(pa.large_string()), " "), "-")
    return int(pc.sum(pc.fill_null(hits, False)).as_py() or 0)


def _cut_page_text(record: int, limit: int, column: str, why: str) -> str:
    """The bad-record text for a record in a Parquet page over the limit that could not be
    read in pieces: its value in that column was never decoded."""
    return (f"{_CUT_MARK}record_{record}_not_decoded_over_the_{limit}-byte_limit "
            f"(EXHUNT_MAX_RECORD_BYTES); column {column}: {why}]")


def _cut_record_text(what: str, length: int, limit: int, where: str) -> str:
    """The bad-record text for a record too large to read: what, how long, the limit, and
    a short visible excerpt (control characters shown as a middle dot)."""
    shown = re.sub(r"[\x00-\x1f\x7f-\x9f]", "\u00b7", where)
    return (f"{CUT_LINE_MARK.replace('line_of_', '')}{what}_of_{length}_bytes_over_the_"
            f"{limit}-byte_limit (EXHUNT_MAX_RECORD_BYTES); {shown}]")


_CUT_MARK = CUT_LINE_MARK[:2]  # "✂[": how every record or line left out unread begins


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
        limit = max(int(opts.max_record_bytes), 1024)
        bad: list[tuple[int, str]] = []
        tally: dict[int, int] = {}  # Parquet: '-' values counted as the stream goes by
        # The longest record, which sizes DuckDB's partitioned write (_partition_flush):
        # Parquet's bound from its pages, JSON's measured by the keys pass; CSV's longest
        # line among its first CSV_PROBE_BYTES (_csv_record_probe).
        sizing: dict[str, int] = {}
        if fmt == "csv":
            sizing["record_bytes"] = _csv_record_probe(readable, gz, limit)
        table: Table = W3CIISLOG if table_name == "W3CIISLog" else SECURITYALERT
        target = out_dir / table.name
        try:
            # Parquet pages rebuilt without their over-long values spill next to the
            # file's output (engine.evidence.parquet_salvage), not into memory.
            source = _source_columns(con, readable, fmt, gz, limit, bad, result.notes,
                                     spill_dir=out_dir, tally=tally, sizing=sizing)
            try:
                copied = _copy_into_case(con, source, table, target, fmt, opts, tally,
                                         sizing.get("record_bytes", limit))
            except duckdb.OutOfMemoryException:
                if fmt not in ("csv", "json", "jsonl"):
                    raise
                # CSV: records further on longer than the first ones said; any text format:
                # big records over thousands of host/day folders, each with its own writer
                # (6,000 of 250 KB over 4,200 folders). Written again sized for records of
                # the limit, and in one file when even that does not fit.
                for partitioned in (True, False) if fmt == "csv" else (False,):
                    _drop_source(con)
                    shutil.rmtree(target, ignore_errors=True)
                    source = _source_columns(con, readable, fmt, gz, limit)
                    try:
                        copied = _copy_into_case(con, source, table, target, fmt, opts, tally,
                                                 limit, partitioned=partitioned)
                        break
                    except duckdb.OutOfMemoryException:
                        if not partitioned:
                            raise
        except duckdb.Error as exc:
            if (fmt not in ("csv", "json", "jsonl") or isinstance(exc, duckdb.InterruptException)
                    or str(target) in str(exc)):
                raise  # not the evidence's fault: stopped, or the case cannot be written
            # One malformed (or over-long) record made the reader give up on the file
            # (JSON: before the COPY; CSV: during it, whose output goes): keep the good
            # records.
            _drop_source(con)
            shutil.rmtree(target, ignore_errors=True)
            out_dir.mkdir(parents=True, exist_ok=True)
            salvaged = out_dir / ("salvaged.csv" if fmt == "csv" else "salvaged.jsonl")
            bad = _salvage_copy(path, fmt, gz, salvaged, limit)
            try:
                # Each salvaged JSON line is a record the salvage held within the limit,
                # measured in characters for arrays: up to 4 bytes each in UTF-8.
                sizing = {}
                source = _source_columns(con, salvaged, "csv" if fmt == "csv" else "jsonl",
                                         False, limit if fmt == "csv" else 4 * limit,
                                         sizing=sizing)
                copied = _copy_into_case(con, source, table, target, fmt, opts, tally,
                                         sizing.get("record_bytes", limit))
            finally:
                _drop_source(con)  # the stream reads the salvaged file
                salvaged.unlink(missing_ok=True)
        result.rows, result.computers, result.dash_queries, later = copied
        # Parquet's bad records and notes are known once the COPY has read the stream.
        _drop_source(con)
        if bad:
            result.bad_lines = len(bad)
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_bad_records(out_dir / "bad_lines.parquet", opts.file_id, bad)
            result.notes.append(f"damaged export: {len(bad)} malformed record(s) left out "
                                "(listed with --bad-lines), the other records loaded")
            cut = [line for line, text in bad
                   if text.startswith(_CUT_MARK) and "not decoded" not in text]
            if cut:
                where = f"record {cut[0]:,}" if fmt == "parquet" else f"the record at line {cut[0]:,}"
                result.notes.append(
                    f"{where} is over the {limit:,}-byte record limit "
                    f"(EXHUNT_MAX_RECORD_BYTES): left out unread"
                    + (f"; {len(cut) - 1:,} more such records" if len(cut) > 1 else ""))
        result.notes.extend(later)
        return result
    finally:
        _drop_source(con)
        if readable != path:
            readable.unlink(missing_ok=True)


CSV_PROBE_BYTES = 8 * 1024 * 1024


def _csv_record_probe(path: Path, gz: bool, limit: int) -> int:
    """The longest line among a CSV export's first CSV_PROBE_BYTES (decompressed), which
    sizes DuckDB's partitioned write; the record limit when no line ends inside them.

    Sized for records of the limit whatever the file (one record per flush), a year-long
    export of 13 servers (4,368 host/day folders) in no particular order took 249 s and
    161,581 files, against 11 s: DuckDB keeps at most 100 partition files open and reopens
    a new file for each record. read_export sizes the write again for the limit when a
    later record is much longer than these and the write runs out of memory."""
    from engine.evidence.discover import read_pieces

    longest, current, seen = 0, 0, 0
    for piece in read_pieces(path, gz, CSV_PROBE_BYTES):
        seen += len(piece)
        start = 0
        while (end := piece.find(b"\n", start)) >= 0:
            longest = max(longest, current + end - start + 1)
            current, start = 0, end + 1
        current += len(piece) - start
    if seen >= CSV_PROBE_BYTES and longest == 0:
        return limit
    return min(limit, max(longest, current))


def _copy_into_case(con: duckdb.DuckDBPyConnection, source: _Source, table: Table,
                    target: Path, fmt: str, opts: ExportOptions, tally: dict[int, int],
                    record_bytes: int, partitioned: bool = True,
                    ) -> tuple[int, list[str], int, list[str]]:
    """COPY the export's records (``source``, read once) into the case's Parquet files
    under ``target``; (rows, computers, csUriQuery '-' count, notes for the file).

    The '-' count: Parquet's stream counts as the COPY reads it (``tally``); the other
    formats' are counted in what was written, where csUriQuery is the exported text
    (trim(value) = '-' either way), unless --strip-export-dash emptied it: then they are
    counted first in a read of their own (CSV read again, JSON records split again).
    ``record_bytes`` bounds DuckDB's partitioned write (_partition_flush). Not
    ``partitioned``: W3CIISLog rows go to one file, in a ``host=_all/day=all`` folder (the
    folders only sort a case's files: every row keeps its Computer and TimeGenerated)."""
    original, types = source.original, source.types
    position: dict[str, int] = {}
    for i, name in enumerate(original):
        norm = normalise(name)
        position.setdefault(norm, i)
        position.setdefault(norm.lower(), i)
    if table is SECURITYALERT:
        for alias, aliased in ALERT_ALIASES.items():
            if alias in position and aliased not in position:
                position[aliased] = position[alias]
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
    query = f"SELECT {', '.join(selects)} FROM ({source.sql}) AS export_src_t"
    used = {k: v for k, v in params.items() if f"${k}" in query}
    used.update(source.params)
    target.mkdir(parents=True, exist_ok=True)
    rows, computers, dashes, later = 0, [], 0, []
    if table is W3CIISLOG:
        dash_src = position.get("csUriQuery")
        streamed = fmt == "parquet"
        if dash_src is not None and streamed:
            tally[dash_src] = 0  # the stream is read once: counted while the COPY reads it
        elif dash_src is not None and opts.strip_dash:
            dashes = con.execute(  # FILTER, not WHERE: see _source_columns
                f"SELECT count(*) FILTER (WHERE trim(CAST(c{dash_src} AS VARCHAR)) = '-') "
                f"FROM ({source.sql}) AS export_src_t", source.params).fetchone()[0]
            if source.again is not None:
                source.again()
        if not partitioned:
            whole = target / "kind=rows" / "host=_all" / "day=all"
            whole.mkdir(parents=True)
            con.execute(f"COPY ({query}) TO $copy_dest (FORMAT parquet, COMPRESSION zstd"
                        f"{COPY_BOUNDS})", {**used, "copy_dest": str(whole / "data_0.parquet")})
            later.append("written as one file, not by host and day: its large records over "
                         "many hosts and days do not fit DuckDB's memory one writer each")
        else:
            with _partition_flush(con, record_bytes,
                                  PARQUET_BATCH_BYTES if streamed else TEXT_BATCH_BYTES):
                con.execute(
                    f"""COPY (SELECT *, 'rows' AS kind,
                           coalesce(nullif(left(regexp_replace(lower("Computer"), '[^a-z0-9._-]', '_',
                                            'g'), 100), ''), '_') AS host,
                           coalesce(strftime("TimeGenerated", '%Y-%m-%d'), 'none') AS day
                        FROM ({query})) TO $copy_dest
                        (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (kind, host, day),
                         OVERWRITE_OR_IGNORE true{COPY_BOUNDS})""",
                    {**used, "copy_dest": str(target)},
                )
        if dash_src is not None and streamed:
            dashes = tally[dash_src]
        # The case folder may be named "[x]case": its own path must not act as a pattern.
        glob = glob_escape(str(target / "kind=rows")) + "/**/*.parquet"
        if (target / "kind=rows").exists():
            rows, written_dashes = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE trim(\"csUriQuery\") = '-') "
                "FROM read_parquet($g, hive_partitioning=false)", {"g": glob}).fetchone()
            if dash_src is not None and not streamed and not opts.strip_dash:
                dashes = written_dashes
            computers = [r[0] for r in con.execute(
                'SELECT DISTINCT "Computer" FROM read_parquet($g, hive_partitioning=false) '
                "ORDER BY 1", {"g": glob}).fetchall()]
        if dashes:
            verb = "changed to empty (--strip-export-dash)" if opts.strip_dash else "kept as exported"
            later.append(
                f"{dashes} rows have csUriQuery '-' ({verb}); hunt B's "
                "isempty(csUriQuery) does not match '-'"
            )
    else:
        con.execute(f"COPY ({query}) TO $copy_dest (FORMAT parquet, COMPRESSION zstd{COPY_BOUNDS})",
                    {**used, "copy_dest": str(target / "data_0.parquet")})
        rows = con.execute(
            "SELECT count(*) FROM read_parquet($g)", {"g": str(target / "data_0.parquet")}
        ).fetchone()[0]
        bad_times = con.execute(
            'SELECT count(*) FROM read_parquet($g) WHERE "TimeGenerated" IS NULL',
            {"g": str(target / "data_0.parquet")},
        ).fetchone()[0]
        if bad_times:
            later.append(f"{bad_times} rows without a readable TimeGenerated")
    return rows, computers, dashes, later


# DuckDB's Parquet writer buffers a row group (122,880 rows by default) before writing it:
# records repeating a 256 KB value held gigabytes. ROW_GROUP_SIZE_BYTES closes a row group
# at this many bytes (it needs preserve_insertion_order = false, as engine.ingest's
# connection sets: otherwise DuckDB ignores it).
COPY_ROW_GROUP_BYTES = 32 * 1024 * 1024
COPY_BOUNDS = f", ROW_GROUP_SIZE_BYTES {COPY_ROW_GROUP_BYTES}"


_FLUSH_LOCK = threading.Lock()
# Per database (told apart by its temp_directory: engine.ingest's is the case's own): the
# thresholds of the partitioned writes running now, and the setting they replaced.
_flush_rows: dict[str, list[int]] = {}
_flush_default: dict[str, int] = {}


@contextmanager
def _partition_flush(con: duckdb.DuckDBPyConnection, record_bytes: int | None,
                     batch_bytes: int = PARQUET_BATCH_BYTES):
    """DuckDB's partitioned write (the W3CIISLog COPY) buffers partitioned_write_flush_threshold
    rows per thread (524,288 by default) before handing them to the Parquet writer,
    whatever their size: records repeating a 256 KB value held gigabytes, and the writer's
    ROW_GROUP_SIZE_BYTES does not apply to that buffer. While a Parquet export is copied,
    the threshold is one batch of its largest records (batch_records: at most 4,096, at
    most PARQUET_BATCH_BYTES by the page headers' bound). Measured on 2 threads: 2 M
    ordinary rows 990 -> 350 MiB (more, smaller row groups: 24 -> 216, 9 -> 13 MB);
    20,000 records repeating 256 KB 4 GiB (skipped) -> 350 MiB. The setting is the
    database's (GLOBAL): it is lowered to the smallest threshold any running copy needs and
    put back when the last ends (other copies meanwhile only flush more often).

    CSV and JSON exports: one TEXT_BATCH_BYTES batch of their longest records (JSON: as
    measured by the keys pass; CSV, which nothing reads before the COPY: records of the
    record limit, so the threshold is one row by default and DuckDB hands each chunk it
    reads to the writer: 7.5 s for 1.8 M ordinary rows against 6.3 s at 4,096)."""
    if not record_bytes:
        yield
        return
    rows = batch_records(record_bytes, batch_bytes)
    database = str(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
    with _FLUSH_LOCK:
        running = _flush_rows.setdefault(database, [])
        if not running:
            _flush_default[database] = int(con.execute(
                "SELECT current_setting('partitioned_write_flush_threshold')").fetchone()[0])
        running.append(rows)
        con.execute("SET GLOBAL partitioned_write_flush_threshold = $r", {"r": min(running)})
    try:
        yield
    finally:
        with _FLUSH_LOCK:
            running.remove(rows)
            value = min(running) if running else _flush_default.pop(database)
            if not running:
                del _flush_rows[database]
            con.execute("SET GLOBAL partitioned_write_flush_threshold = $r", {"r": value})


def _salvage_copy(path: Path, fmt: str, gz: bool, dest: Path,
                  limit: int = DEFAULT_MAX_RECORD_BYTES) -> list[tuple[int, str]]:
    """Write to ``dest`` every record of a damaged CSV / JSON / JSON-lines export that still
    parses; return the (line, raw text) of each record left out.

    DuckDB's readers stop at the first malformed record (a copy cut inside a quoted field,
    invalid UTF-8, one line that is not JSON, a record over ``limit`` bytes) and the whole
    file would be lost: this slower record-by-record pass runs only then, so a damaged
    export keeps its good records and its bad ones are counted and named. It streams: memory
    stays bounded by ``limit`` whatever the file's size, and a record over ``limit`` is never
    held whole (it becomes a bad record naming its length)."""
    from engine.evidence.discover import ForgivingGzip

    if fmt == "csv":
        return _salvage_csv(path, gz, dest, limit)
    with (ForgivingGzip(open(path, "rb")) if gz else open(path, "rb")) as src, \
            open(dest, "w", encoding="utf-8") as out:
        if fmt == "jsonl":
            return _salvage_jsonl(src, out, limit)
        return _salvage_json_array(src, out, limit)


def _write_record(out, value: object) -> bool:
    """Write one salvaged record as a JSON line; False when it is not an object."""
    import json

    if not isinstance(value, dict):
        return False
    # Compact separators: the line is never longer than the record it came from, so it
    # stays under DuckDB's maximum_object_size when the record was.
    out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
    return True


def _salvage_jsonl(src, out, limit: int) -> list[tuple[int, str]]:
    import json

    bad: list[tuple[int, str]] = []
    lines = _TrackedLines(src, limit)
    for line in lines:
        text = line.rstrip("\r\n")
        if text.strip():
            try:
                ok = _write_record(out, json.loads(text))
            except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
                ok = False
            if not ok:
                bad.append((lines.number, lines.record_text()))
        lines.next_record()
    return bad


_JSON_READ = 1024 * 1024
_STRUCTURE = re.compile(r'[\[\]{}"]')
_IN_STRING = re.compile(r'["\\]')


class _JsonText:
    """Decoded text of a JSON array export, read on demand (invalid UTF-8 and NUL as U+FFFD)."""

    def __init__(self, src) -> None:
        self._src = src
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.eof = False
        self._first = True

    def more(self) -> str:
        if self.eof:
            return ""
        chunk = self._src.read(_JSON_READ)
        self.eof = not chunk
        text = self._decoder.decode(chunk, final=self.eof)
        if self._first and text:
            text, self._first = text.lstrip("\ufeff"), False
        return text.replace("\x00", "\ufffd")


def _skip_value(text: str, pos: int, state: list[int]) -> int | None:
    """Scan ``text`` from ``pos`` for the end of a JSON value that started earlier, with
    ``state`` = [depth, in_string, escaped] carried between chunks. Returns the index just
    past its end, or None when it goes on past ``text``. Runs without brackets or quotes
    are jumped over with str.count, so a long string or a deep run costs C speed."""
    depth, in_string, escaped = state
    n = len(text)
    while pos < n:
        if in_string:
            if escaped:
                pos, escaped = pos + 1, 0
                continue
            hit = _IN_STRING.search(text, pos)
            if hit is None:
                pos = n
                break
            pos = hit.end()
            if hit.group() == "\\":
                escaped = 1
            else:
                in_string = 0
                if depth == 0:
                    state[:] = [0, 0, 0]
                    return pos
            continue
        quote = text.find('"', pos)
        stop = n if quote < 0 else quote
        closes = text.count("]", pos, stop) + text.count("}", pos, stop)
        if closes < depth:  # the value cannot end before the next quote
            depth += text.count("[", pos, stop) + text.count("{", pos, stop) - closes
            pos = stop
        else:
            for hit in _STRUCTURE.finditer(text, pos, stop):
                depth += 1 if hit.group() in "[{" else -1
                if depth <= 0:
                    state[:] = [0, 0, 0]
                    return hit.end()
            pos = stop
        if quote >= 0:
            in_string, pos = 1, quote + 1
    state[:] = [depth, in_string, escaped]
    return None


class _NotReadable(ValueError):
    """What DuckDB's reader failing on a file is for the JSON record splitter: a file it
    cannot split into records (not an array where one is expected, content after it, an
    unclosed array, invalid UTF-8, a damaged gzip) or a record over the limit. Raised
    inside the stream DuckDB reads, it reaches read_export as a duckdb.Error, which
    salvages the file record by record, as it does when DuckDB's own reader gives up."""


_JSON_SPACE = " \t\r\n"
_SCALAR_END = re.compile(r"[ \t\r\n,\]]")
_BOM = b"\xef\xbb\xbf"


def _json_batches(path: Path, fmt: str, gz: bool, limit: int,
                  sizing: dict[str, int] | None = None) -> pa.RecordBatchReader:
    """The records of a JSON array or JSON-lines export as a one-shot stream of batches
    with columns _rec (1-based record number) and json (the record's text, unparsed: DuckDB
    parses it), split as DuckDB's read_json_objects splits them: a JSON-lines record is a
    line that is not blank (a leading byte order mark dropped); an array's records are its
    elements, and anything but whitespace around the array, or between elements and their
    commas, makes the file unreadable (_NotReadable), as it makes DuckDB's reader fail.

    A batch holds at most TEXT_BATCH_BYTES of record text (a longer record comes alone)
    and PARQUET_BATCH_RECORDS records: records of 256 KB come 8 at a time. Memory: one
    batch and one read buffer (a record in the making is cut off at ``limit`` bytes: over
    it the file is not readable this way and read_export's salvage leaves that record out).
    ``sizing['record_bytes']`` gets the longest record's length in bytes once the stream
    has been read (read_export sizes DuckDB's partitioned write by it)."""
    import gzip
    import zlib

    import pyarrow as pa

    schema = pa.schema([pa.field("_rec", pa.int64()), pa.field("json", pa.string())])
    progress = meter.current()  # DuckDB's threads pull the batches: count for this file

    def read(src):
        def chunk() -> bytes:
            try:
                data = src.read(_JSON_READ)
            except (EOFError, OSError, zlib.error) as exc:
                raise _NotReadable(f"the file cannot be read to its end ({exc})") from None
            if progress is not None:
                progress.bytes_read += len(data)
            return data
        return chunk

    def batches():
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as src:
            records = (_jsonl_records(read(src), limit) if fmt == "jsonl"
                       else _json_array_records(read(src), limit))
            texts: list = []
            size, first, longest = 0, 1, 0
            for text, length in records:
                if texts and (size + length > TEXT_BATCH_BYTES
                              or len(texts) >= PARQUET_BATCH_RECORDS):
                    yield _json_batch(schema, first, texts)
                    first += len(texts)
                    texts, size = [], 0
                texts.append(text)
                size += length
                longest = max(longest, length)
            if texts:
                yield _json_batch(schema, first, texts)
            if sizing is not None:
                sizing["record_bytes"] = longest

    return pa.RecordBatchReader.from_batches(schema, batches())


def _json_batch(schema, first: int, texts: list) -> pa.RecordBatch:
    import pyarrow as pa

    if texts and isinstance(texts[0], bytes):
        try:  # JSON lines come as bytes: Arrow checks they are UTF-8, as DuckDB's reader
            column = pa.array(texts, pa.binary()).cast(pa.string())
        except pa.ArrowInvalid:
            raise _NotReadable(f"a record from record {first:,} on is not UTF-8") from None
    else:
        column = pa.array(texts, pa.string())
    return pa.record_batch([pa.array(range(first, first + len(texts)), pa.int64()), column],
                           schema=schema)


def _over_limit(record: int, limit: int) -> _NotReadable:
    return _NotReadable(f"record {record:,} is over the {limit:,}-byte record limit")


def _jsonl_records(read, limit: int):
    """(line, its length) for each line of a JSON-lines file that is not blank, as bytes
    (see _json_batches)."""
    tail, first, count = b"", True, 0
    while True:
        chunk = read()
        buf = tail + chunk
        if first:
            if len(buf) < len(_BOM) and chunk:
                tail = buf
                continue
            buf, first = buf.removeprefix(_BOM), False
        lines = buf.split(b"\n")
        tail = lines.pop() if chunk else b""
        for line in lines:
            if line.strip(b" \t\r\n"):
                count += 1
                if len(line) > limit:
                    raise _over_limit(count, limit)
                yield line, len(line)
        if not chunk:
            return
        if len(tail) > limit:
            raise _over_limit(count + 1, limit)


def _json_array_records(read, limit: int):
    """(element, its length in bytes) for each element of a JSON array file, as text (see
    _json_batches). Where an element ends is found by Python's decoder or, where it cannot
    decode it, by the element's brackets and quotes (_skip_value) or, for a scalar, the
    next comma, bracket or blank: whether it is valid JSON is DuckDB's to say."""
    import json

    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    decoder = json.JSONDecoder()
    buf, pos, eof, first, count = "", 0, False, True, 0

    def more() -> bool:
        """Read on into ``buf``; False at the end of the file."""
        nonlocal buf, pos, eof, first
        if eof:
            return False
        chunk = read()
        eof = not chunk
        try:
            text = utf8.decode(chunk, final=eof)
        except UnicodeDecodeError:
            raise _NotReadable("the file is not UTF-8") from None
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        if pos > _JSON_READ and pos > len(buf) // 2:  # forget what was read
            buf, pos = buf[pos:], 0
        buf += text
        return bool(text) or not eof

    def at_next() -> str:
        """The next character that is not whitespace ("" at the end), ``pos`` on it."""
        nonlocal pos
        while True:
            while pos < len(buf) and buf[pos] in _JSON_SPACE:
                pos += 1
            if pos < len(buf):
                return buf[pos]
            if not more():
                return ""

    def read_until(find):
        """``find(start)`` over the record at ``pos`` (``start``: where the last look
        stopped), reading on until it finds something; the record may not grow past the
        limit, nor the file end first."""
        start = pos
        while (found := find(start)) is None:
            scanned = len(buf) - pos
            if scanned > limit:
                raise _over_limit(count, limit)
            if not more():
                raise _NotReadable("the array is not closed")
            start = pos + scanned
        return found

    if at_next() == "":
        return  # an empty file holds no records (DuckDB's reader says the same)
    if buf[pos] != "[":
        raise _NotReadable("not a JSON array")
    pos += 1
    after_value = False
    while True:
        c = at_next()
        if c == "":
            raise _NotReadable("the array is not closed")
        if c == "]" and (after_value or count == 0):
            pos += 1
            break
        if after_value:
            if c != ",":
                raise _NotReadable(f"no comma after record {count:,}")
            pos += 1
            after_value = False
            continue
        if c in ",]":
            raise _NotReadable(f"no record after record {count:,}")
        count += 1
        # ``pos`` stays on the record's first character while it is read (more() may
        # move what was read before it out of ``buf``). Python's decoder finds where a
        # record ends fastest (in C); what it cannot decode (a trailing comma DuckDB
        # takes, a record cut by the end of ``buf``, a malformed one) is scanned for its
        # end instead, by its brackets and quotes.
        end = None
        try:
            end = decoder.raw_decode(buf, pos)[1]
            if end >= len(buf) and not eof:  # a number may go on in the next chunk
                end = None
        except (ValueError, RecursionError):
            pass
        if end is None and c in '[{"':
            state = [0, 0, 0]
            end = read_until(lambda start: _skip_value(buf, start, state))
        elif end is None:
            end = read_until(lambda start: _SCALAR_END.search(buf, start)).start()
        text = buf[pos:end]
        length = len(text) if text.isascii() else len(text.encode())
        if length > limit:
            raise _over_limit(count, limit)
        yield text, length
        pos = end
        after_value = True
    if at_next() != "":
        raise _NotReadable("content after the array")


def _salvage_json_array(src, out, limit: int) -> list[tuple[int, str]]:
    """Each element of a JSON array that decodes is kept; a malformed one is a bad record
    and reading goes on after it when its end can be found; one over ``limit`` characters
    is skipped unread (a bad record naming its length)."""
    import json

    decoder = json.JSONDecoder()
    text = _JsonText(src)
    bad: list[tuple[int, str]] = []
    buf, pos, line = "", 0, 1  # line: the line number of buf[0]
    while "[" not in buf and not text.eof:
        buf += text.more()
    pos = buf.find("[") + 1
    if pos == 0:
        return bad
    while True:
        if pos > _JSON_READ and pos > len(buf) // 2:  # forget what was read
            line += buf.count("\n", 0, pos)
            buf, pos = buf[pos:], 0
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) or text.eof:
                break
            buf += text.more()
        if pos >= len(buf) or buf[pos] == "]":
            break
        try:
            value, end = decoder.raw_decode(buf, pos)
            if end == len(buf) and not text.eof:
                raise ValueError("a number may go on in the next chunk")
        except (ValueError, RecursionError):
            if not text.eof and len(buf) - pos <= limit:
                # Most likely the element goes on past what was read: read as much again.
                want = 2 * max(len(buf) - pos, _JSON_READ)
                while len(buf) - pos < want and not text.eof:
                    buf += text.more()
                continue
            where = line + buf.count("\n", 0, pos)
            excerpt = buf[pos:pos + _BAD_TEXT]
            state = [0, 0, 0]
            end_at = _skip_value(buf, pos, state)
            length = (end_at if end_at is not None else len(buf)) - pos
            while end_at is None and not text.eof:
                # Over the limit (or malformed to the end): scan on without keeping it.
                line += buf.count("\n", 0, len(buf))
                buf, pos = text.more(), 0
                end_at = _skip_value(buf, 0, state)
                length += (end_at if end_at is not None else len(buf))
            if length > limit:
                excerpt = _cut_record_text(f"record_at_line_{where}", length, limit,
                                           excerpt[:80])
            bad.append((where, excerpt))
            if end_at is None:
                break
            pos = end_at
            continue
        if not _write_record(out, value):
            bad.append((line + buf.count("\n", 0, pos), buf[pos:end][:_BAD_TEXT]))
        pos = end
    return bad


_BAD_TEXT = 10000  # characters of a left-out record kept for --bad-lines


class _TrackedLines:
    """Physical lines of a CSV export, streamed (never the whole file in memory): invalid
    UTF-8 as U+FFFD, NUL as U+FFFD, lines over ``limit`` bytes (the record limit, also
    DuckDB's max_line_size / maximum_object_size in _source_columns) replaced by LineCap's
    marker. Counts lines and keeps the first _BAD_TEXT characters of the current record."""

    def __init__(self, src, limit: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        self._src = LineCap(src, limit)
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


def _salvage_csv(path: Path, gz: bool, dest: Path,
                 limit: int = DEFAULT_MAX_RECORD_BYTES) -> list[tuple[int, str]]:
    """The CSV half of _salvage_copy, record by record from a stream: memory stays bounded
    by the longest line kept (``limit``) and the csv module's field size limit."""
    import csv

    from engine.evidence.discover import ForgivingGzip

    bad: list[tuple[int, str]] = []
    # The csv module refuses a field over 131,072 characters by default: every record with
    # a 250 KB user agent (under the record limit) was a bad record. The limit is the
    # module's, shared by threads reading files side by side: raised, never lowered (the
    # lines are cut at ``limit`` before the csv module sees them).
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)
    with (ForgivingGzip(open(path, "rb")) if gz else open(path, "rb")) as src, \
            open(dest, "w", encoding="utf-8", newline="") as out:
        lines = _TrackedLines(src, limit)
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
