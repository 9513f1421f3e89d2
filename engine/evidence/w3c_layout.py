"""The directive pass over a raw W3C file: where each ``#Fields`` block starts and what it says.

Directives are rare (a handful per file), so this pass only looks for lines that start
with ``#`` using ``bytes.find`` and counts newlines between them with ``bytes.count``: both
run at memory speed in C, no Python code runs per data line. The result tells the DuckDB
pass (w3c.py) which layout governs each line number.

Line numbers follow DuckDB's CSV reader, which ends a line at ``\\n``, ``\\r\\n`` or a lone
``\\r``. Files that would make the two disagree (blank lines, which DuckDB skips; lone CRs)
or that DuckDB cannot read (invalid UTF-8) get a cleaned private copy first (w3c.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO

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
    blank_lines: int = 0  # empty lines (DuckDB's reader skips them)
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
    carriage_returns = body.count(b"\r")
    if carriage_returns and not result.lone_cr and carriage_returns != body.count(b"\r\n"):
        result.lone_cr = True
    has_blank = body.startswith((b"\n", b"\r\n")) or b"\n\n" in body or (
        carriage_returns and b"\n\r\n" in body)
    if has_blank:
        blanks = len(_BLANK.findall(body))
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
    total_newlines = body.count(b"\n")
    consumed = line_no + total_newlines
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
