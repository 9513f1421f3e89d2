"""The directive pass over a raw W3C file: where each ``#Fields`` block starts and what it says.

Directives are rare (a handful per file), so this pass only looks for lines that start
with ``#`` using ``bytes.find`` and counts newlines between them with ``bytes.count``: both
run at memory speed in C, no Python code runs per data line. The result tells the DuckDB
pass (w3c.py) which layout governs each line number. ``scan_directives_fast`` gives the same
result for the files IIS writes at a quarter of the cost (Arrow splits the lines) and
declines every other file, which then takes this exact pass.

Line numbers follow DuckDB's CSV reader, which ends a line at ``\\n``, ``\\r\\n`` or a lone
``\\r``. Files that would make the two disagree (blank lines, which DuckDB skips; lone CRs)
or that DuckDB cannot read (invalid UTF-8) get a cleaned private copy first (w3c.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO

from engine.evidence import meter

CHUNK = 16 * 1024 * 1024

# W3C field name (lower-case) -> W3CIISLog column. Several spellings seen in the wild
# (IIS Advanced Logging, Oracle Web Cache) map to the same column.
FIELD_COLUMNS: dict[str, str] = {
    "s-sitename": "sSiteName",
    "s-computername": "sComputerName",
    "s-ip": "sIP",
    "cs-method": "csMethod",
    "cs-uri-stem": "csUriStem",
    "cs-uri-query": "csUriQuery",
    "s-port": "sPort",
    "cs-username": "csUserName",
    "c-ip": "cIP",
    "cs-version": "csVersion",
    "cs(user-agent)": "csUserAgent",
    "cs(cookie)": "csCookie",
    "cs(referer)": "csReferer",
    "cs(referrer)": "csReferer",
    "cs-host": "csHost",
    "cs(host)": "csHost",
    "sc-status": "scStatus",
    "sc-substatus": "scSubStatus",
    "sc-win32-status": "scWin32Status",
    "sc-bytes": "scBytes",
    "cs-bytes": "csBytes",
    "time-taken": "TimeTaken",
    "timetakenms": "TimeTaken",
}
DATE_FIELDS = ("date", "date-utc")
TIME_FIELDS = ("time", "time-utc")
LOCAL_DATE_FIELDS = ("date-local",)
LOCAL_TIME_FIELDS = ("time-local",)
URI_FIELD = "cs-uri"  # full URI (stem?query), split into csUriStem/csUriQuery
WEB_FIELDS = {"cs-uri-stem", "cs-uri", "cs-method", "c-ip", "sc-status"}


@dataclass(frozen=True)
class Layout:
    """One ``#Fields`` line: field names in order, lower-cased."""

    fields: tuple[str, ...]

    def index(self, *names: str) -> int | None:
        """1-based position of the first of ``names`` present, or None."""
        for name in names:
            if name in self.fields:
                return self.fields.index(name) + 1
        return None

    @property
    def is_web(self) -> bool:
        return bool(WEB_FIELDS.intersection(self.fields))


@dataclass(frozen=True)
class Segment:
    """Lines from ``first_line`` on (until the next segment) follow ``layout`` and, when the
    layout has no date field, take their date from ``date`` (the ``#Date`` directive)."""

    first_line: int
    layout: int  # index into W3CLayout.layouts
    date: str | None


@dataclass
class W3CLayout:
    layouts: list[Layout] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    software: list[str] = field(default_factory=list)
    directives: list[tuple[int, str]] = field(default_factory=list)
    gmt_offset: str | None = None
    lines: int = 0  # number of lines in the file
    blank_lines: int = 0  # > 0 when there are empty lines (DuckDB's reader skips them)
    lone_cr: bool = False  # a CR not followed by LF (DuckDB ends a line there)
    first_data_line: int | None = None  # first non-directive, non-blank line

    @property
    def needs_clean_copy(self) -> bool:
        return self.blank_lines > 0 or self.lone_cr

    @property
    def quoted(self) -> bool:
        """Whether values may be ``"``-quoted. Standard IIS logging (``#Software: Microsoft
        Internet Information Services/Server``) never quotes: spaces become ``+``, so a ``"``
        there is data. Other writers (IIS Advanced Logging, HTTP.sys, Oracle, CDNs) quote
        values that contain spaces."""
        if not self.software:
            return True
        return not all(re.search(r"Microsoft Internet Information Serv", s, re.I)
                       for s in self.software)


_BLANK = re.compile(rb"\n(?=\r?\n)")
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def scan_directives(stream: BinaryIO) -> W3CLayout:
    """Read the whole stream once, chunk by chunk, collecting directives and line counts."""
    result = W3CLayout()
    line_no = 0  # lines fully consumed so far
    carry = b""
    while True:
        chunk = stream.read(CHUNK)
        at_eof = not chunk
        buf = carry + chunk
        if not at_eof:
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            body, carry = buf[: cut + 1], buf[cut + 1 :]
        else:
            body, carry = buf, b""
            if not body:
                break
        line_no = _scan_body(body, line_no, result, at_eof)
        if at_eof:
            break
    result.lines = line_no
    _build_segments(result)
    return result


def _scan_body(body: bytes, line_no: int, result: W3CLayout, at_eof: bool) -> int:
    """Account for the complete lines in ``body`` (the last one may lack a newline only at
    EOF). Returns the number of lines consumed so far."""
    # Single-byte counts and substring tests run at memory speed; a regular expression
    # over the whole body was measured 8x slower, so it is only used once something odd
    # has been seen (rare).
    # Two-byte searches cost twice a one-byte count; when every newline is a CRLF (IIS
    # writes CRLF), "\n\n" cannot occur, so that search is skipped (bench: 40% of this
    # pass on CRLF files).
    newlines = body.count(b"\n")
    carriage_returns = body.count(b"\r")
    crlf = body.count(b"\r\n") if carriage_returns else 0
    if carriage_returns != crlf:
        result.lone_cr = True
    has_blank = body.startswith((b"\n", b"\r\n")) or (crlf != newlines and b"\n\n" in body) or (
        carriage_returns and b"\n\r\n" in body)
    if has_blank:
        # At least one per run of blank lines (only whether there are any is used): counting
        # each one with a regular expression held a list of them, 0.8 GB and 26 s for a
        # 300 MiB flood of newlines.
        blanks = body.count(b"\n\n") + body.count(b"\n\r\n")
        if body.startswith(b"\n") or body.startswith(b"\r\n"):
            blanks += 1
        result.blank_lines += blanks
    pos = 0
    counted_to = 0
    base = line_no
    while True:
        if pos == 0 and body.startswith(b"#"):
            hit = 0
        else:
            found = body.find(b"\n#", pos)
            if found < 0:
                break
            hit = found + 1
        end = body.find(b"\n", hit)
        end = len(body) if end < 0 else end
        base += body.count(b"\n", counted_to, hit)
        counted_to = hit
        text = body[hit:end].rstrip(b"\r").decode("utf-8", "replace")
        result.directives.append((base + 1, text))
        pos = end
    if result.first_data_line is None:
        _note_first_data_line(body, line_no, result)
    consumed = line_no + newlines
    if at_eof and body and not body.endswith(b"\n"):
        consumed += 1  # last line without a final newline
    return consumed


def _note_first_data_line(body: bytes, line_no: int, result: W3CLayout) -> None:
    start = 0
    number = line_no
    while start < len(body):
        end = body.find(b"\n", start)
        end = len(body) if end < 0 else end
        number += 1
        line = body[start:end].strip()
        if line and not line.startswith(b"#"):
            result.first_data_line = number
            return
        start = end + 1
        if number - line_no > 10000:  # a head made only of directives is never this long
            return


def _build_segments(result: W3CLayout) -> None:
    layout_ids: dict[Layout, int] = {}
    current: int | None = None
    date: str | None = None
    for number, text in result.directives:
        name, _, value = text[1:].partition(":")
        key = name.strip().lower()
        if key == "fields":
            layout = Layout(tuple(f.lower() for f in value.split()))
            current = layout_ids.setdefault(layout, len(layout_ids))
            if current == len(result.layouts):
                result.layouts.append(layout)
            has_date = layout.index(*DATE_FIELDS, *LOCAL_DATE_FIELDS) is not None
            result.segments.append(Segment(number + 1, current, None if has_date else date))
        elif key in ("date", "start-date"):
            match = _DATE_RE.search(value)
            date = match.group(1) if match else None
            layout_now = result.layouts[current] if current is not None else None
            if layout_now is not None and layout_now.index(*DATE_FIELDS, *LOCAL_DATE_FIELDS) is None:
                result.segments.append(Segment(number + 1, current, date))
        elif key == "software":
            result.software.append(value.strip())
        elif key == "gmt-offset":
            result.gmt_offset = value.strip()
    # Merge neighbours that say the same thing: fewer CASE branches per row in SQL.
    merged: list[Segment] = []
    for seg in result.segments:
        if merged and merged[-1].layout == seg.layout and merged[-1].date == seg.date:
            continue
        merged.append(seg)
    result.segments = merged


DEFAULT_MAX_LINE_BYTES = 1024 * 1024  # IIS lines are a few KB; a cookie-heavy one < 64 KB
_EXCERPT_BYTES = 80
CUT_LINE_MARK = "\u2702[line_of_"  # how a line LineCap replaced begins
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


@dataclass(frozen=True)
class LongLine:
    """A line longer than the limit: where it starts in the (decompressed) stream."""

    line: int  # 1-based line number
    offset: int  # byte offset of its first byte in the decompressed stream
    length: int  # its length in bytes, without the newline


class LineCap:
    """A byte stream with every line longer than ``max_line`` replaced by a one-token marker
    line (its length, the limit, its offset and a visible excerpt), newlines kept, so line
    numbers are those of the original.

    Why: a planted file (a gzip bomb of NUL bytes, a 200 MB "line") must not make a reader
    hold that line in memory or hand it to DuckDB, which aborts the whole file with an
    internal message. Memory stays below ``max_line`` + one chunk whatever the input. Normal
    data costs a few ``rfind`` calls per chunk (the check jumps ``max_line`` bytes at a time).
    """

    def __init__(self, raw: BinaryIO, max_line: int = DEFAULT_MAX_LINE_BYTES,
                 keep: int = 1000) -> None:
        self._raw = raw
        self.max_line = max(int(max_line), 1024)
        self._keep = keep
        self._tail = b""  # start of a line not yet ended, at most max_line bytes
        self._base = 0  # decompressed offset of the first byte not yet passed (_tail, then buf[pos])
        self._lines = 0  # newlines passed before _tail
        self._cutting: tuple[int, int, bytes] | None = None  # (line, offset, excerpt)
        self._cut_len = 0
        self._eof = False
        self.long_lines: list[LongLine] = []  # the first ``keep`` of them
        self.long_line_count = 0

    def __getattr__(self, name: str):
        # ``damage``/``consumed`` of a ForgivingGzip underneath stay visible.
        return getattr(self._raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()

    def close(self) -> None:
        self._raw.close()

    def read(self, size: int = -1) -> bytes:
        """The next processed bytes (any length; ``b""`` only at the end)."""
        while not self._eof:
            raw = self._raw.read(CHUNK)
            meter.count(len(raw))  # progress during a long file (ingest shows the rate)
            if not raw:
                self._eof = True
                return self._finish()
            out = self._feed(raw)
            if out:
                return out
        return b""

    def _marker(self, line: int, offset: int, excerpt: bytes, length: int) -> bytes:
        self.long_line_count += 1
        if len(self.long_lines) < self._keep:
            self.long_lines.append(LongLine(line, offset, length))
        shown = _INVISIBLE.sub(lambda m: "\u2400" if m.group() == "\0" else "\u00b7",
                               excerpt.decode("utf-8", "replace"))
        # A quote would open a quoted value (CSV, quoting W3C writers) that swallows the
        # lines after the marker: show it as a look-alike that is not one.
        shown = shown.replace('"', "\u02ba")
        # One token with no blank: it can never fit a layout, so it is a bad line.
        return (f"{CUT_LINE_MARK}{length}_bytes_over_the_{self.max_line}-byte_limit,"
                f"_at_byte_{offset};_starts:{shown}]").encode("utf-8")

    def _end_cut(self, out: list[bytes], newline: bool) -> None:
        line, offset, excerpt = self._cutting
        out.append(self._marker(line, offset, excerpt, self._cut_len) + (b"\n" if newline else b""))
        self._base = offset + self._cut_len + (1 if newline else 0)
        self._lines += 1 if newline else 0
        self._cutting = None
        self._cut_len = 0

    def _feed(self, raw: bytes) -> bytes:
        out: list[bytes] = []
        if self._cutting is not None:
            nl = raw.find(b"\n")
            if nl < 0:
                self._cut_len += len(raw)
                return b""
            self._cut_len += nl
            self._end_cut(out, newline=True)
            raw = raw[nl + 1:]
        buf = self._tail + raw if self._tail else raw
        pos, size = 0, len(buf)
        while True:
            end = pos + self.max_line + 1
            if end > size:
                nl = buf.rfind(b"\n", pos)
                cut = pos if nl < 0 else nl + 1
                out.append(buf[pos:cut])
                self._lines += buf.count(b"\n", pos, cut)
                self._tail = buf[cut:]
                self._base += cut - pos
                break
            nl = buf.rfind(b"\n", pos, end)
            if nl >= 0:
                out.append(buf[pos:nl + 1])
                self._lines += buf.count(b"\n", pos, nl + 1)
                self._base += nl + 1 - pos
                pos = nl + 1
                continue
            # No newline within max_line + 1 bytes: the line starting at pos is too long.
            start = (self._lines + 1, self._base, buf[pos:pos + _EXCERPT_BYTES])
            rest = buf.find(b"\n", end)
            self._cutting = start
            if rest < 0:
                self._cut_len = size - pos
                self._tail = b""
                break
            self._cut_len = rest - pos
            self._end_cut(out, newline=True)
            pos = rest + 1
        return b"".join(out)

    def _finish(self) -> bytes:
        out: list[bytes] = []
        if self._cutting is not None:
            self._end_cut(out, newline=False)
        elif self._tail:
            out.append(self._tail)
            self._tail = b""
        return b"".join(out)


FIRST_DATA_LINE_LOOKAHEAD = 10001  # the lines _note_first_data_line looks at in one body


def scan_directives_fast(stream: BinaryIO,
                         max_line: int = DEFAULT_MAX_LINE_BYTES) -> W3CLayout | None:
    """``scan_directives(LineCap(stream, max_line))`` for the files IIS writes, about four
    times cheaper; None for any other file, whose pass the caller then runs from the start.

    Why: the pass through LineCap cost about 30% of a raw file's ingest CPU (measured 0.23
    CPU-s per 50 MB of IIS log against 0.06 here), holding the GIL before each file's COPY.
    Here Arrow splits each 16 MB chunk into lines (memory speed, GIL released) and each
    test is one vectorised call per chunk; the chunk is read into a reused buffer.

    It handles only what the two agree on by construction, and gives up (None) on the
    rest, which the exact pass handles: a line over ``max_line`` bytes (LineCap would
    rewrite it), a blank line or a CR not followed by LF (those files get a cleaned copy),
    and a file whose first data line is not among its first FIRST_DATA_LINE_LOOKAHEAD lines
    (where _note_first_data_line's answer depends on its chunk boundaries). On the files it
    handles, every field equals the exact pass's (tests/evidence/test_directive_pass.py)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    limit = max(int(max_line), 1024)  # as LineCap
    result = W3CLayout()
    line_no = 0
    carry = b""  # bytes after the last newline read so far: the start of a line
    buf = bytearray(CHUNK + 64 * 1024)
    readinto = getattr(stream, "readinto", None)
    while True:
        head = len(carry)
        if head + CHUNK > len(buf):
            buf = bytearray(head + CHUNK)
        view = memoryview(buf)
        try:
            view[:head] = carry
            if readinto is not None:
                got = readinto(view[head:head + CHUNK]) or 0
            else:
                data = stream.read(CHUNK)
                got = len(data)
                view[head:head + got] = data
                del data
        finally:
            view.release()
        meter.count(got)  # progress during a long file, as LineCap counts it
        if not got:
            break
        end = head + got
        last_nl = buf.rfind(b"\n", 0, end)
        if last_nl < 0:
            carry = bytes(buf[:end])
            if len(carry) > limit:
                return None
            continue
        lines = _scan_lines_fast(pa, pc, buf, last_nl, line_no, limit, result)
        if lines is None:
            return None
        line_no += lines
        if result.first_data_line is None and line_no >= FIRST_DATA_LINE_LOOKAHEAD:
            return None  # do not read on only to decline at the end
        carry = bytes(buf[last_nl + 1:end])
    if carry:
        # The last line, without a final newline: LineCap passes it unchanged (<= limit).
        if len(carry) > limit or b"\r" in carry:
            return None  # over the limit, or a CR that no LF follows
        line_no += 1
        if carry.startswith(b"#"):
            result.directives.append((line_no, carry.rstrip(b"\r").decode("utf-8", "replace")))
        if result.first_data_line is None and _is_data_line(carry):
            result.first_data_line = line_no
    if result.first_data_line is None and line_no > FIRST_DATA_LINE_LOOKAHEAD:
        return None
    # Arrow's allocator keeps what the split freed (measured 40 MB after a 256 MB file):
    # hand it back before DuckDB's COPY wants the memory.
    pa.default_memory_pool().release_unused()
    result.lines = line_no
    _build_segments(result)
    return result


def _is_data_line(line: bytes) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b"#")


def _scan_lines_fast(pa, pc, buf: bytearray, stop: int, line_no: int, limit: int,
                     result: W3CLayout) -> int | None:
    """The lines of ``buf[:stop]`` (``buf[stop]`` is a newline), numbered from line_no + 1,
    into ``result``; how many there are, or None when the exact pass must read the file."""
    data = pa.py_buffer(buf)
    bounds = pa.array([0, stop], pa.int64()).buffers()[1]
    lines = pc.split_pattern(pa.Array.from_buffers(pa.large_binary(), 1, [None, bounds, data]),
                             b"\n").flatten()
    del data
    lengths = pc.min_max(pc.binary_length(lines)).as_py()
    if lengths["min"] == 0 or lengths["max"] > limit:
        return None  # a blank line, or a line LineCap would replace
    crlf = pc.sum(pc.ends_with(lines, b"\r")).as_py() or 0
    if crlf != buf.count(b"\r", 0, stop):
        return None  # a CR that no LF follows
    if crlf and lengths["min"] == 1 and pc.any(pc.equal(lines, b"\r")).as_py():
        return None  # a blank line (CRLF)
    for i in pc.indices_nonzero(pc.starts_with(lines, b"#")).to_pylist():
        line = lines[i].as_py()
        result.directives.append((line_no + i + 1, line.rstrip(b"\r").decode("utf-8", "replace")))
    if result.first_data_line is None:
        look = min(len(lines), max(FIRST_DATA_LINE_LOOKAHEAD - line_no, 0))
        i = 0
        while i < look and result.first_data_line is None:
            batch = lines.slice(i, min(64 << (i // 64).bit_length(), look - i)).to_pylist()
            for k, line in enumerate(batch):
                if _is_data_line(line):
                    result.first_data_line = line_no + i + k + 1
                    break
            i += len(batch)
    return len(lines)
