"""Raw IIS W3C files -> W3CIISLog rows, with DuckDB's CSV reader doing the per-row work.

How a file is read (see w3c_layout.py for the directive pass):

1. ``scan_directives`` finds every ``#`` line and its line number without a Python loop per
   line, and builds *segments*: from line N on, rows follow layout L (and date D).
2. DuckDB reads the file as space-separated text into ``c1..cM`` (M = widest layout + 1, so
   a row with too many fields shows up as a non-null ``cM``), with ``row_number()`` as the
   line number, and ``quote``/``escape``/``comment`` off: ``"`` and ``#`` inside a value are
   data (measured-facts.md: ``comment='#'`` aborts or cuts rows).
3. A row whose field count fits its layout takes its values straight from ``c1..cM`` (the
   fast path). Any other row is re-joined and split again with a regular expression that
   collapses runs of blanks and, for writers that quote (IIS Advanced Logging), honours
   ``"``-quoted values; it is loaded if it then fits, else it is a *bad line*.
4. One ``COPY ... PARTITION_BY (kind, host, day)`` writes loaded rows and bad lines as
   Parquet in one pass. Bad lines get their exact raw text from a second, line-only read of
   the file (only when there are any).

Files DuckDB cannot read as they are (gzip is decompressed by DuckDB itself; blank lines,
which DuckDB's reader skips and would shift line numbers; lone CRs; invalid UTF-8) are read
from a cleaned private copy in the case's temp folder, never by touching the evidence.
"""
from __future__ import annotations

import codecs
import glob
from array import array
import gzip
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

import duckdb

from engine.evidence.discover import ForgivingGzip
from engine.evidence.hosts import FileHost
from engine.evidence.w3c_layout import (
    DATE_FIELDS,
    FIELD_COLUMNS,
    LOCAL_DATE_FIELDS,
    LOCAL_TIME_FIELDS,
    TIME_FIELDS,
    DEFAULT_MAX_LINE_BYTES,
    URI_FIELD,
    Layout,
    LineCap,
    W3CLayout,
    scan_directives,
    scan_directives_fast,
)
from engine.tables import W3CIISLOG

MAX_FIELDS = 400
MAX_CASE_SEGMENTS = 64  # above this many #Fields/#Date segments, join a table instead
SEGMENTS_VIEW = "w3c_segments"  # a #Fields line wider than this is not a web server's
SHIFTS_VIEW = "w3c_line_shifts"  # LineShifts of a cleaned copy with folded blank runs
# A token: a "-quoted value ("" is a quote inside it) or a run of non-blanks.
_QUOTED_TOKEN = r'"(?:[^"]|"")*"|[^ \t]+'
_STRING_COLUMNS = [c.name for c in W3CIISLOG.columns if c.is_string]


@dataclass
class W3CReadOptions:
    file_id: int
    file_uri: str
    host: FileHost
    host_map: dict[str, str] = field(default_factory=dict)  # lower-case name -> Computer
    default_domain: str | None = None
    tenant_id: str = ""
    keep_dash: bool = False
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # longer lines are cut to a bad-line marker


@dataclass
class W3CResult:
    rows: int = 0
    bad_lines: int = 0
    computers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: str | None = None  # set when the file is skipped after all


def _reader_sql(columns: int) -> str:
    cols = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, columns + 1))
    return (
        f"read_csv($src, columns={{{cols}}}, delim=' ', header=false, auto_detect=false, "
        "quote='', escape='', comment='', null_padding=true, strict_mode=false, "
        "nullstr='\x02\x03', compression=$compression)"
    )


_LINES_SQL = (
    "read_csv($src, columns={'line': 'VARCHAR'}, delim='\x01\x02', header=false, "
    "auto_detect=false, quote='', escape='', comment='', strict_mode=false, "
    "null_padding=true, compression=$compression)"
)


class _Sql:
    """Collects named parameters so that every evidence-derived value is bound."""

    def __init__(self) -> None:
        self.params: dict[str, object] = {}
        self.segments: list | None = None  # set when the query joins SEGMENTS_VIEW
        self.shifts: LineShifts | None = None  # set when the query joins SHIFTS_VIEW
        self.enums: dict[str, str] = {}  # one-value ENUM types the query casts to (_ENUMS)

    def constant(self, expr: str, enum: str, value: str) -> str:
        """A column that holds ``value`` (which ``expr`` gives) in every row of the file,
        cast to a one-value ENUM: see _ENUMS."""
        self.enums[enum] = value
        return f"CAST({expr} AS {enum})"

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"


def _select_sql(info: W3CLayout, opts: W3CReadOptions, sql: _Sql, quoted: bool,
                shifts: LineShifts | None = None) -> str:
    # A few spare columns so that a row with a run of blanks still arrives whole for the
    # regular-expression split; the widest layout + 1 is what flags "too many fields".
    width = min(max(len(lay.fields) for lay in info.layouts) + 4, MAX_FIELDS + 4)
    cols = [f"c{i}" for i in range(1, width + 1)]

    # Which segment (and so layout and #Date) governs each line: a CASE for the usual
    # handful of segments, an ASOF join against a small table when there are many.
    if len(info.segments) <= MAX_CASE_SEGMENTS:
        seg_case = " ".join(
            f"WHEN ln >= {sql.bind(seg.first_line)} THEN {k}"
            for k, seg in reversed(list(enumerate(info.segments)))
        )
        lay_case = " ".join(f"WHEN {k} THEN {seg.layout}" for k, seg in enumerate(info.segments))
        date_case = " ".join(f"WHEN {k} THEN {sql.bind(seg.date)}"
                             for k, seg in enumerate(info.segments) if seg.date)
        data_cte = f"""
        data AS (
            SELECT *, CASE {seg_case} ELSE -1 END AS seg FROM numbered
            WHERE NOT starts_with(coalesce(c1, ''), '#')
        ),
        laid AS (
            SELECT *, CASE seg {lay_case} END AS lay,
                   {f"CASE seg {date_case} END" if date_case else "CAST(NULL AS VARCHAR)"}
                   AS seg_date
            FROM data
        )"""
    else:
        sql.segments = info.segments
        data_cte = f"""
        laid AS (
            SELECT n.*, s.seg, s.lay, s.seg_date
            FROM numbered n ASOF LEFT JOIN {SEGMENTS_VIEW} s ON n.ln >= s.first_line
            WHERE NOT starts_with(coalesce(n.c1, ''), '#')
        )"""

    def per_layout(builder) -> str:
        """CASE over the row's layout; one branch when the file has one layout."""
        branches = []
        for lay_id, lay in enumerate(info.layouts):
            branches.append((lay_id, builder(lay)))
        if len(branches) == 1:
            return branches[0][1]
        inner = " ".join(f"WHEN {lid} THEN {expr}" for lid, expr in branches)
        return f"(CASE lay {inner} END)"

    def fits_fast(lay: Layout) -> str:
        n = len(lay.fields)
        if n + 1 > width or n == 0:
            return "false"
        # An empty column means a run of blanks (IIS writes "-" for an empty value): such a
        # row goes to the re-split, so a doubled blank cannot hide a missing field.
        no_empty = " AND ".join(f"c{i} <> ''" for i in range(1, n + 1))
        return f"(c{n + 1} IS NULL AND c{n} IS NOT NULL AND {no_empty})"

    rebuilt = f"trim(concat_ws(' ', {', '.join(cols)}))"
    if quoted:
        # Writers that quote values read whole lines: a quoted value may hold any number of
        # blanks, which a space-delimited read would cut into more columns than it has.
        rebuilt = "trim(rtrim(c1, chr(13)))"
        split = (
            f"list_transform(regexp_extract_all({rebuilt}, {sql.bind(_QUOTED_TOKEN)}), "
            "lambda v: CASE WHEN length(v) >= 2 AND starts_with(v, '\"') AND "
            "ends_with(v, '\"') THEN replace(v[2:-2], '\"\"', '\"') ELSE v END)"
        )
        fast = "false"
    else:
        split = f"string_split_regex({rebuilt}, '[ \\t]+')"
        fast = per_layout(fits_fast)

    def field_value(name_options: tuple[str, ...]) -> str:
        def build(lay: Layout) -> str:
            idx = lay.index(*name_options)
            if idx is None or idx > MAX_FIELDS:
                return "NULL"
            if quoted:
                return f"f[{idx}]"
            return f"(CASE WHEN fast THEN c{idx} ELSE f[{idx}] END)"
        return per_layout(build)

    dash = "" if opts.keep_dash else "-"

    def text(expr: str) -> str:
        if opts.keep_dash:
            return f"coalesce({expr}, '')"
        return f"(CASE WHEN {expr} = '{dash}' THEN '' ELSE coalesce({expr}, '') END)"

    def number(expr: str, sql_type: str) -> str:
        return f"try_cast(nullif({expr}, '-') AS {sql_type})"

    # Raw field values are computed once (CTE ``vals``) and typed/cleaned from there, so
    # that no CASE over the layout is evaluated twice per row.
    raw: dict[str, str] = {}
    values: dict[str, str] = {}
    by_column: dict[str, list[str]] = {}
    for fname, column in FIELD_COLUMNS.items():
        by_column.setdefault(column, []).append(fname)
    for column, names in by_column.items():
        raw[f"r_{column}"] = field_value(tuple(names))
        col = W3CIISLOG.column(column)
        ref = f'"r_{column}"'
        values[column] = text(ref) if col.is_string else number(ref, col.sql_type)

    # cs-uri (full URI) fills stem/query when the layout has no cs-uri-stem.
    if any(URI_FIELD in lay.fields and "cs-uri-stem" not in lay.fields for lay in info.layouts):
        raw["r_uri"] = field_value((URI_FIELD,))
        values["csUriStem"] = text("coalesce(\"r_csUriStem\", split_part(r_uri, '?', 1))")
        values["csUriQuery"] = text(
            "coalesce(\"r_csUriQuery\", CASE WHEN contains(r_uri, '?') "
            "THEN substr(r_uri, strpos(r_uri, '?') + 1) END)"
        )

    # TimeGenerated: date + time fields (UTC in IIS); the #Date directive when no date field.
    raw["r_date"] = field_value(DATE_FIELDS + LOCAL_DATE_FIELDS)
    raw["r_time"] = field_value(TIME_FIELDS + LOCAL_TIME_FIELDS)
    date_expr = "coalesce(r_date, seg_date)"
    values["TimeGenerated"] = (
        f"try_cast({date_expr} || coalesce(' ' || r_time, '') AS TIMESTAMP)"
    )

    # Computer: host map on the folder > s-computername > folder name (+ default domain).
    fallback = sql.bind(opts.host.computer)
    constant_computer = _constant_computer(info, opts)
    if constant_computer:
        computer = fallback
    else:
        raw["scn_v"] = field_value(("s-computername",))
        qualified = "scn_v"
        if opts.default_domain:
            dom = sql.bind(opts.default_domain.strip("."))
            qualified = f"(CASE WHEN contains(scn_v, '.') THEN scn_v ELSE scn_v || '.' || {dom} END)"
        if opts.host_map:
            whens = " ".join(
                f"WHEN {sql.bind(k)} THEN {sql.bind(v)}" for k, v in opts.host_map.items()
            )
            qualified = f"(CASE lower(scn_v) {whens} ELSE {qualified} END)"
        computer = (f"(CASE WHEN scn_v IS NULL OR scn_v IN ('', '-') THEN {fallback} "
                    f"ELSE {qualified} END)")
    values["Computer"] = (sql.constant(computer, "w3c_computer", opts.host.computer)
                          if constant_computer else computer)
    values["TenantId"] = sql.constant(sql.bind(opts.tenant_id), "w3c_tenant", opts.tenant_id)
    values["SourceSystem"] = sql.constant("'OpsManager'", "w3c_source", "OpsManager")
    values["FileUri"] = sql.constant(sql.bind(opts.file_uri), "w3c_file", opts.file_uri)
    values["Type"] = sql.constant("'W3CIISLog'", "w3c_type", "W3CIISLog")
    # A text field no layout has is '' in every row (with or without --keep-dash).
    for column in by_column:
        ref = f'"r_{column}"'
        if (W3CIISLOG.column(column).is_string and raw[f"r_{column}"] == "NULL"
                and values[column] == text(ref)):
            values[column] = sql.constant("''", "w3c_empty", "")
    values["_file_id"] = f"CAST({sql.bind(opts.file_id)} AS INTEGER)"
    values["_line"] = "ln"

    select_cols = []
    for col in W3CIISLOG.columns:
        expr = values.get(col.name)
        if expr is None:
            expr = "''" if col.is_string else f"CAST(NULL AS {col.sql_type})"
        select_cols.append(f'{expr} AS "{col.name}"')

    if constant_computer:
        host_expr = sql.bind(host_segment(opts.host.computer))
    else:
        host_expr = _HOST_SQL
    expected = per_layout(lambda lay: str(len(lay.fields)))
    good = f"(fast OR (f IS NOT NULL AND len(f) = {expected}))"
    if quoted:
        inner = f"SELECT row_number() OVER () AS ln, line AS c1 FROM {_LINES_SQL}"
    else:
        inner = f"SELECT row_number() OVER () AS ln, * FROM {_reader_sql(width)}"
    if shifts:
        # The copy folded runs of empty lines: its line numbers, shifted back.
        sql.shifts = shifts
        inner = (f"SELECT r.* REPLACE (r.ln + coalesce(s.by, 0) AS ln) FROM ({inner}) r "
                 f"ASOF LEFT JOIN {SHIFTS_VIEW} s ON r.ln >= s.first")
    return f"""
        WITH numbered AS ({inner}),{data_cte},
        checked AS (SELECT *, coalesce(lay >= 0 AND {fast}, false) AS fast FROM laid),
        split AS (SELECT *, CASE WHEN fast THEN NULL ELSE {split} END AS f FROM checked),
        judged AS (
            SELECT *, coalesce(lay IS NOT NULL AND {good}, false) AS good
            FROM split
            WHERE fast OR NOT (f = [''] OR f = [])
        ),
        vals AS (
            SELECT ln, seg_date, good, {", ".join(f'{expr} AS "{name}"' for name, expr in raw.items())}
            FROM judged
        ),
        out AS (
            SELECT {", ".join(select_cols)},
                   CASE WHEN good THEN 'rows' ELSE 'bad' END AS kind
            FROM vals
        )
        SELECT *, {host_expr} AS host, CAST("TimeGenerated" AS DATE) AS day
        FROM out
    """


# The hive folder name of a row's Computer when it varies by row (s-computername).
_HOST_SQL = ("coalesce(nullif(left(regexp_replace(lower(\"Computer\"), "
             "'[^a-z0-9._-]', '_', 'g'), 100), ''), '_')")


def _constant_computer(info: W3CLayout, opts: W3CReadOptions) -> bool:
    """Whether every row gets the file's Computer (no s-computername field to vary it)."""
    return opts.host.forced or not any("s-computername" in lay.fields for lay in info.layouts)


def host_segment(computer: str) -> str:
    """A Computer name as a safe folder-name fragment (hive partition value)."""
    return re.sub(r"[^a-z0-9._-]", "_", computer.lower())[:100] or "_"


BLANK_RUN_LINES = 1024  # a run of at least this many empty lines is folded into one line
_LF_RUN, _CRLF_RUN = "\n" * (BLANK_RUN_LINES + 1), "\r\n" * (BLANK_RUN_LINES + 1)


@dataclass
class LineShifts:
    """Where the cleaned copy folded runs of empty lines: from cleaned line ``first[i]`` on,
    a line's number in the evidence is its number in the copy plus ``by[i]``. Kept as two
    int64 arrays (16 bytes a run of >= BLANK_RUN_LINES lines), so bounded by the input."""

    first: array = field(default_factory=lambda: array("q"))
    by: array = field(default_factory=lambda: array("q"))

    def __bool__(self) -> bool:
        return len(self.first) > 0


def _fold_blank_runs(text: str, written: int, shifts: LineShifts) -> tuple[str, int]:
    """``text`` (whole lines) with every run of > BLANK_RUN_LINES empty lines replaced by one
    ``#`` line, the shift recorded; returns it and the lines written after it.

    Why: a flood of empty lines (a gzip bomb of newlines) cost a DuckDB row each, 4x the
    time per byte of ordinary rows. Everything here is a C-speed literal search, and each
    search's result is reused until passed, so the work stays linear whatever the input (a
    regular expression retried at every start of a short run would not)."""
    pieces: list[str] = []
    pos = 0
    shift = shifts.by[-1] if shifts else 0
    found = {_LF_RUN: text.find(_LF_RUN), _CRLF_RUN: text.find(_CRLF_RUN)}
    while True:
        for unit_run, at in found.items():
            if 0 <= at < pos:
                found[unit_run] = text.find(unit_run, pos)
        hits = [(at, unit_run) for unit_run, at in found.items() if at >= 0]
        if not hits:
            break
        at, unit_run = min(hits)
        unit = unit_run[:len(unit_run) // (BLANK_RUN_LINES + 1)]
        end = at + len(unit_run)
        while text.startswith(unit_run, end):
            end += len(unit_run)
        while text.startswith(unit, end):
            end += len(unit)
        units = (end - at) // len(unit)
        # The first newline of the run ends the line before it, unless a line starts here.
        ends_previous = at > 0 and text[at - 1] != "\n"
        keep = text[pos:at] + (unit if ends_previous else "")
        pieces.append(keep)
        written += keep.count("\n")
        pieces.append("#\n")
        written += 1
        shift += units - (1 if ends_previous else 0) - 1
        shifts.first.append(written + 1)
        shifts.by.append(shift)
        pos = end
    rest = text[pos:]
    pieces.append(rest)
    return "".join(pieces), written + rest.count("\n")


def _clean_copy(path: Path, gz: bool, dest: Path,
                max_line: int = DEFAULT_MAX_LINE_BYTES) -> LineShifts:
    """A private copy DuckDB can number exactly like the directive pass: invalid UTF-8
    replaced by U+FFFD, blank lines replaced by a lone ``#`` (a line the reader keeps and
    the loader ignores), lone CRs shown as U+240D, lines over ``max_line`` bytes replaced
    by a one-token marker (LineCap) that loads as a bad line. Runs of more than
    BLANK_RUN_LINES empty lines become one ``#`` line; the returned shifts map the copy's
    line numbers back to the evidence's."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    blank = re.compile(r"(?m)^(?=\r?\n)")
    lone_cr = re.compile(r"\r(?!\n)")
    shifts = LineShifts()
    written = 0
    with LineCap(_open_stream(path, gz), max_line) as src, \
            open(dest, "w", encoding="utf-8", newline="") as out:
        carry = ""
        while True:
            chunk = src.read(8 * 1024 * 1024)
            text = carry + decoder.decode(chunk, final=not chunk)
            if chunk:
                cut = text.rfind("\n")
                if cut < 0:
                    carry = text
                    continue
                text, carry = text[: cut + 1], text[cut + 1:]
            else:
                carry = ""
            text, written = _fold_blank_runs(text, written, shifts)
            text = blank.sub("#", text)
            text = lone_cr.sub("\u240d", text)
            out.write(text)
            if not chunk:
                break
    return shifts


def _utf8_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates
        return False
    return True


def _open_stream(path: Path, gz: bool):
    # ForgivingGzip: a cut or damaged .gz gives its rows up to the damage, never an error.
    return ForgivingGzip(open(path, "rb")) if gz else open(path, "rb")


def directive_pass(path: Path, gz: bool, max_line: int = DEFAULT_MAX_LINE_BYTES
                   ) -> tuple[W3CLayout, str | None, list, int]:
    """The directive pass over ``path``: its layout, the gzip damage met (or None), and the
    lines over ``max_line`` (the first ones kept, and how many in all).

    The fast pass takes the files IIS writes; any other file (a long, blank or lone-CR
    line...) is read again from the start through LineCap: a planted giant line (a gzip
    bomb of NULs) costs neither memory nor the file's other rows, and the same cap in
    _clean_copy keeps the line numbers equal."""
    with _open_stream(path, gz) as raw:
        info = scan_directives_fast(raw, max_line)
        damage = getattr(raw, "damage", None)
    if info is not None:
        return info, damage, [], 0
    with LineCap(_open_stream(path, gz), max_line) as stream:
        info = scan_directives(stream)
    return info, getattr(stream, "damage", None), stream.long_lines, stream.long_line_count


def read_w3c(con: duckdb.DuckDBPyConnection, path: Path, gz: bool, out_dir: Path,
             tmp_dir: Path, opts: W3CReadOptions) -> W3CResult:
    """Load one raw W3C file into ``out_dir`` (Parquet); never writes beside ``path``."""
    result = W3CResult()
    info, damage, long_lines, long_line_count = directive_pass(path, gz, opts.max_line_bytes)
    if not info.layouts:
        result.reason = "W3C-style lines but no #Fields line: the field order is unknown"
        return result
    if not any(lay.is_web for lay in info.layouts):
        result.reason = "W3C log whose #Fields are not a web server's (no URI, method or client IP)"
        return result
    result.notes.extend(_layout_notes(info))

    source = path
    compression = "gzip" if gz else "none"
    cleaned: Path | None = None
    shifts: LineShifts | None = None  # when the cleaned copy folded runs of empty lines
    # A file name that is not UTF-8 cannot be handed to DuckDB: read a private copy.
    if long_lines:
        first = long_lines[0]
        more = long_line_count - 1
        result.notes.append(
            f"line {first.line} (byte {first.offset:,} of the "
            f"{'decompressed ' if gz else ''}file) is {first.length:,} bytes, over the "
            f"{opts.max_line_bytes:,}-byte line limit (--max-line-bytes): read as a bad line"
            + (f"; {more:,} more such lines" if more else ""))
    if info.needs_clean_copy or long_lines or damage or not _utf8_name(path):
        # DuckDB's own gzip reader stops the whole file at damage: read the private copy
        # of what could be decompressed instead.
        cleaned = tmp_dir / f"clean-{opts.file_id}.log"
        shifts = _clean_copy(path, gz, cleaned, opts.max_line_bytes)
        source, compression = cleaned, "none"
        if damage:
            result.notes.append(f"{damage}: the rows before the damage were read")
    target = out_dir / "W3CIISLog"
    try:
        try:
            # Plain files (the usual case, a bad line or not) take the single-file write;
            # anything odd takes the partitioned COPY below (see _copy_plain). A cleaned
            # copy (and so any line shifts) always takes the partitioned COPY.
            plain = (None if cleaned is not None or info.quoted
                     else _copy_plain(con, info, opts, source, compression, target))
            if plain is None:
                _copy(con, info, opts, source, compression, target, quoted=info.quoted,
                      shifts=shifts)
        except duckdb.InvalidInputException as exc:
            if "unicode" not in str(exc).lower() and "utf" not in str(exc).lower():
                raise
            plain = None
            shutil.rmtree(target, ignore_errors=True)
            cleaned = tmp_dir / f"clean-{opts.file_id}.log"
            shifts = _clean_copy(path, gz, cleaned, opts.max_line_bytes)
            source, compression = cleaned, "none"
            _copy(con, info, opts, source, compression, target, quoted=info.quoted,
                  shifts=shifts)
            result.notes.append("invalid UTF-8 bytes replaced by U+FFFD (rows kept)")
        # The single-file write knows its rows and bad lines: no need to read back.
        result.rows, result.bad_lines = ((plain.rows, plain.bad_lines) if plain
                                         else _count(con, target))
        if result.bad_lines:
            try:
                _write_bad_lines(con, target, source, compression,
                                 out_dir / "bad_lines.parquet", opts.file_id, shifts)
            except duckdb.InvalidInputException as exc:
                if cleaned is not None or not any(w in str(exc).lower() for w in ("unicode", "utf")):
                    raise
                # The fast read never looked past the widest layout's fields, the line-only
                # read does: take the bad lines' text from a cleaned copy (same numbering).
                cleaned = tmp_dir / f"clean-{opts.file_id}.log"
                shifts = _clean_copy(path, gz, cleaned, opts.max_line_bytes)
                _write_bad_lines(con, target, cleaned, "none", out_dir / "bad_lines.parquet",
                                 opts.file_id, shifts)
        shutil.rmtree(target / "kind=bad", ignore_errors=True)
        result.computers = (plain.computers if plain and plain.computers is not None
                            else _computers(con, target))
    finally:
        if cleaned is not None:
            cleaned.unlink(missing_ok=True)
    if result.rows and not any(lay.index(*DATE_FIELDS, *LOCAL_DATE_FIELDS) for lay in info.layouts) \
            and not any(seg.date for seg in info.segments):
        result.notes.append("no date field and no #Date directive: TimeGenerated is empty")
    return result


def _layout_notes(info: W3CLayout) -> list[str]:
    notes = []
    for lay in info.layouts:
        if lay.index(*DATE_FIELDS) is None and lay.index(*LOCAL_DATE_FIELDS) is not None:
            notes.append("times are server-local (date-local/time-local), not UTC")
            break
    if info.gmt_offset:
        notes.append(f"file declares #GMT-Offset {info.gmt_offset}; times taken as logged")
    for lay in info.layouts:
        if lay.index(*TIME_FIELDS, *LOCAL_TIME_FIELDS) is None:
            notes.append("a layout has no time field: TimeGenerated is midnight of the date")
            break
    return notes


def _register_shifts(con, shifts: LineShifts | None) -> bool:
    """Make SHIFTS_VIEW (a temp table of this connection) hold ``shifts``; False if none."""
    if not shifts:
        return False
    # A temp table filled from bound lists, not con.register: DuckDB 2 refuses to register
    # on a cursor that still has a result open (the SET before the read).
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SHIFTS_VIEW} AS "
                "SELECT unnest($first) AS first, unnest($by) AS by",
                {"first": shifts.first.tolist(), "by": shifts.by.tolist()})
    return True


def _drop_shifts(con) -> None:
    con.execute(f"DROP TABLE IF EXISTS {SHIFTS_VIEW}")


# The one-value ENUM types of _Sql.constant, one per connection (TEMP: a cursor's own, so
# files read side by side do not share them). Why: DuckDB's Parquet writer hashes every
# row of a VARCHAR column into the column's dictionary, also when the value never changes,
# while an ENUM column comes with its dictionary. The Parquet file is the same (UTF8 byte
# arrays, dictionary-encoded, the same statistics; DuckDB and Arrow read VARCHAR back)
# except that the pages say RLE_DICTIONARY and no Bloom filter is written for these
# columns. Measured on a 50 MB IIS file: 0.47 -> 0.38 CPU-s for the COPY (10 such columns).
_ENUMS = {
    "w3c_computer": "CREATE OR REPLACE TEMP TYPE w3c_computer AS ENUM (SELECT $v)",
    "w3c_tenant": "CREATE OR REPLACE TEMP TYPE w3c_tenant AS ENUM (SELECT $v)",
    "w3c_source": "CREATE OR REPLACE TEMP TYPE w3c_source AS ENUM (SELECT $v)",
    "w3c_file": "CREATE OR REPLACE TEMP TYPE w3c_file AS ENUM (SELECT $v)",
    "w3c_type": "CREATE OR REPLACE TEMP TYPE w3c_type AS ENUM (SELECT $v)",
    "w3c_empty": "CREATE OR REPLACE TEMP TYPE w3c_empty AS ENUM (SELECT $v)",
}


def _create_enums(con, sql: _Sql) -> None:
    for name, value in sql.enums.items():
        con.execute(_ENUMS[name], {"v": value})


def _copy(con, info, opts, source, compression, target: Path, quoted: bool,
          shifts: LineShifts | None = None) -> None:
    sql = _Sql()
    query = _select_sql(info, opts, sql, quoted, shifts)
    sql.params["src"] = str(source)
    sql.params["compression"] = compression
    target.mkdir(parents=True, exist_ok=True)
    # DuckDB 2 binds COPY's destination like any other value.
    if sql.segments is not None:
        import pyarrow as pa

        con.register(SEGMENTS_VIEW, pa.table({
            "first_line": pa.array([s.first_line for s in sql.segments], pa.int64()),
            "seg": pa.array(range(len(sql.segments)), pa.int32()),
            "lay": pa.array([s.layout for s in sql.segments], pa.int32()),
            "seg_date": pa.array([s.date for s in sql.segments], pa.string()),
        }))
    _create_enums(con, sql)
    shifted = _register_shifts(con, sql.shifts)
    try:
        con.execute(
            f"COPY ({query}) TO $copy_dest (FORMAT parquet, COMPRESSION zstd, "
            "PARTITION_BY (kind, host, day), OVERWRITE_OR_IGNORE true)",
            {**sql.params, "copy_dest": str(target)},
        ).fetchall()  # finished: DuckDB 2 refuses to unregister a view while a result is open
    finally:
        if sql.segments is not None:
            con.unregister(SEGMENTS_VIEW)
        if shifted:
            _drop_shifts(con)


class _Plain(NamedTuple):
    """What the single-file write put in place, as _count and _computers would read it back."""

    rows: int
    computers: list[str] | None  # None: not known from the write's statistics
    bad_lines: int = 0  # their line numbers are in kind=bad, for _write_bad_lines


def _copy_plain(con, info: W3CLayout, opts: W3CReadOptions, source: Path, compression: str,
                target: Path) -> _Plain | None:
    """The same rows as ``_copy``, written without DuckDB's partitioned writer, which cost
    about a quarter of a raw file's ingest (bench/measure_ingest.py, measured 0.72 against
    0.56 CPU-seconds per 50 MB). Loaded rows go to one Parquet file; the file then moves
    into the ``kind=rows/host=<h>/day=<d>`` folder its rows share (an IIS file holds one
    server and one UTC day), or is re-partitioned from Parquet (cheap) when they differ.

    A file whose loaded rows are fewer than its non-``#`` lines (the directive pass counted
    them) has a bad or blank-only line: the rows written are still exactly the rows, and a
    second read of the file writes the bad lines' numbers alone to ``kind=bad`` (only what
    tells a bad line is computed). Before, such a file was written again whole through the
    partitioned writer: one truncated line doubled the ingest of a 50 MB log (0.72 ->
    1.4 s). The rows are in place and this says how many, how many bad lines, and which
    Computers when the write's own statistics say it exactly (no read of the file back)."""
    sql = _Sql()
    query = _select_sql(info, opts, sql, quoted=False)
    if sql.segments is not None:
        return None  # many header blocks: _copy registers the segment table the query joins
    sql.params.update(src=str(source), compression=compression)
    _create_enums(con, sql)
    target.mkdir(parents=True, exist_ok=True)
    single = target / "plain.parquet"
    written = con.execute(
        f"COPY (SELECT * EXCLUDE (kind, host, day) FROM ({query}) WHERE kind = 'rows') "
        "TO $copy_dest (FORMAT parquet, COMPRESSION zstd, RETURN_STATS true)",
        {**sql.params, "copy_dest": str(single)},
    ).fetchall()
    loaded = sum(int(row[1]) for row in written)
    expected = info.lines - len(info.directives)
    bad = 0
    if loaded != expected:
        numbers = target / "kind=bad" / "lines" / "data_0.parquet"
        numbers.parent.mkdir(parents=True)
        bad = sum(int(row[1]) for row in con.execute(
            f"COPY (SELECT _line FROM ({query}) WHERE kind = 'bad') TO $copy_dest "
            "(FORMAT parquet, RETURN_STATS true)",
            {**sql.params, "copy_dest": str(numbers)}).fetchall())
    if loaded == 0:
        single.unlink(missing_ok=True)
        return _Plain(0, [], bad)
    summary = _summary_from_stats(written)
    if summary is None:
        summary = con.execute(
            'SELECT CAST(min("TimeGenerated") AS DATE), CAST(max("TimeGenerated") AS DATE), '
            'count(*) - count("TimeGenerated"), min("Computer"), max("Computer"), '
            'count(*) - count("Computer") FROM read_parquet($f)', {"f": str(single)}).fetchall()[0]
    first, last, untimed, low, high, no_computer = summary
    computers = [low] if low == high and not no_computer else None
    # The host folder exactly as _select_sql names it: the file's name (Python) when the
    # Computer is the file's, else DuckDB's expression over the row's Computer.
    host = host_segment(opts.host.computer) if _constant_computer(info, opts) else None
    one_host = host
    if host is None and low == high:
        one_host = con.execute(_ONE_HOST_SQL, {"c": low}).fetchall()[0][0]
    if one_host is not None and first == last and not untimed:
        folder = target / "kind=rows" / f"host={one_host}" / f"day={first.isoformat()}"
        folder.mkdir(parents=True)
        single.rename(folder / "data_0.parquet")
        return _Plain(loaded, computers, bad)
    con.execute(_REPARTITION_SQL, {"f": str(single), "host": host,
                                   "copy_dest": str(target / "kind=rows")}).fetchall()
    single.unlink()
    return _Plain(loaded, computers, bad)


_STATS_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2}) \d{2}:\d{2}:\d{2}(\.\d+)?")


def _summary_from_stats(written: list[tuple]) -> tuple | None:
    """(first day, last day, rows without a time, lowest and highest Computer, rows without
    a Computer) from the statistics COPY ... RETURN_STATS gave for its one file, as the
    query over the file would give them; None when they do not say it exactly (a value
    DuckDB truncated, a time outside years 0001-9999, no value at all)."""
    if len(written) != 1:
        return None
    stats = written[0][4] or {}
    times, names = stats.get('"TimeGenerated"'), stats.get('"Computer"')
    if not times or not names:
        return None
    try:
        days = []
        for bound in ("min", "max"):
            for column in (times, names):
                if column.get(f"{bound}_is_exact") != "true" or bound not in column:
                    return None
            match = _STATS_DAY.fullmatch(times[bound])
            if match is None:
                return None
            days.append(date(*(int(part) for part in match.groups()[:3])))
        return (days[0], days[1], int(times["null_count"]), names["min"], names["max"],
                int(names["null_count"]))
    except (KeyError, ValueError, TypeError):
        return None


# _HOST_SQL over one value, and the rows of a single-file write re-partitioned by host and
# day ($host: the file's own folder name, or NULL to compute it per row as _HOST_SQL does).
_ONE_HOST_SQL = ("SELECT coalesce(nullif(left(regexp_replace(lower($c), "
                 "'[^a-z0-9._-]', '_', 'g'), 100), ''), '_')")
_REPARTITION_SQL = (
    "COPY (SELECT *, coalesce($host, nullif(left(regexp_replace(lower(\"Computer\"), "
    "'[^a-z0-9._-]', '_', 'g'), 100), ''), '_') AS host, "
    "CAST(\"TimeGenerated\" AS DATE) AS day FROM read_parquet($f)) "
    "TO $copy_dest (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (host, day), "
    "OVERWRITE_OR_IGNORE true)")


def _parquet_glob(target: Path, kind: str) -> str:
    # The case folder may be named "[x]case": its own path must not act as a pattern.
    return glob.escape(str(target / f"kind={kind}")) + "/**/*.parquet"


def _count(con, target: Path) -> tuple[int, int]:
    counts = {}
    for kind in ("rows", "bad"):
        if not (target / f"kind={kind}").exists():
            counts[kind] = 0
            continue
        counts[kind] = con.execute(
            "SELECT count(*) FROM read_parquet($g, hive_partitioning=false)",
            {"g": _parquet_glob(target, kind)},
        ).fetchone()[0]
    return counts["rows"], counts["bad"]


def _computers(con, target: Path) -> list[str]:
    if not (target / "kind=rows").exists():
        return []
    rows = con.execute(
        'SELECT DISTINCT "Computer" FROM read_parquet($g, hive_partitioning=false) ORDER BY 1',
        {"g": _parquet_glob(target, "rows")},
    ).fetchall()
    return [r[0] for r in rows]


_NUMBERED_LINES = f"SELECT row_number() OVER () AS ln, line FROM {_LINES_SQL}"
_NUMBERED_LINES_SHIFTED = (f"SELECT r.ln + coalesce(s.by, 0) AS ln, r.line FROM "
                           f"({_NUMBERED_LINES}) r ASOF LEFT JOIN {SHIFTS_VIEW} s "
                           "ON r.ln >= s.first")


_BAD_LINES_HEAD = """COPY (
        SELECT CAST($fid AS INTEGER) AS _file_id, b._line AS line,
               rtrim(coalesce(l.line, ''), chr(13)) AS text
        FROM read_parquet($g, hive_partitioning=false) b
        LEFT JOIN ("""
_BAD_LINES_TAIL = """) l ON l.ln = b._line
        ORDER BY b._line
    ) TO $copy_dest (FORMAT parquet)"""
# Two fixed statements: the line numbers as read, or shifted back over folded blank runs.
_BAD_LINES_COPY = f"{_BAD_LINES_HEAD}{_NUMBERED_LINES}{_BAD_LINES_TAIL}"
_BAD_LINES_COPY_SHIFTED = f"{_BAD_LINES_HEAD}{_NUMBERED_LINES_SHIFTED}{_BAD_LINES_TAIL}"


def _write_bad_lines(con, target: Path, source: Path, compression: str, dest: Path,
                     file_id: int, shifts: LineShifts | None = None) -> None:
    """Exact raw text of each bad line, from a line-only read of the same bytes."""
    shifted = _register_shifts(con, shifts)
    try:
        con.execute(
            _BAD_LINES_COPY_SHIFTED if shifted else _BAD_LINES_COPY,
            {"copy_dest": str(dest), "fid": file_id, "g": _parquet_glob(target, "bad"),
             "src": str(source), "compression": compression},
        ).fetchall()
    finally:
        if shifted:
            _drop_shifts(con)
