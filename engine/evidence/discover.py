"""Find evidence files and recognise each one by its content, never by its name alone.

``walk`` lists files under the given paths without following symbolic links (so a link
cannot lead out of the tree or into a loop). ``sniff`` reads the first bytes of a file
(decompressed when it is gzip) and says what it is: a raw IIS W3C log, a W3CIISLog or
SecurityAlert export (CSV, JSON array, JSON lines, Parquet), or something to skip, with
the reason.
"""
from __future__ import annotations

import csv
import gzip
import zlib
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from engine.evidence.exports import DEFAULT_MAX_RECORD_BYTES, classify_columns
from engine.evidence.json_keys import record_keys

HEAD_BYTES = 256 * 1024
# A JSON export whose first record does not end inside the head is read on, keys only, up to
# this many (decompressed) bytes: a first record the ingest would load (under the default
# record limit) is seen whole. Reading them costs 0.5 s for an alert of 100,000 entities
# (6 MB) and at most about 6 s for 16 MiB of nothing but brackets.
JSON_KEYS_MAX_BYTES = DEFAULT_MAX_RECORD_BYTES

IIS_W3C = "iis-w3c"
W3C_EXPORT = "w3ciislog-export"
ALERT_EXPORT = "securityalert-export"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Found:
    path: Path
    # The folder the user named that this file was found under; None when the user named
    # the file itself (then every folder above it may name the server).
    root: Path | None
    skip_reason: str | None = None  # set for entries the walk itself refuses (links)


@dataclass(frozen=True)
class Sniffed:
    kind: str  # IIS_W3C | W3C_EXPORT | ALERT_EXPORT | SKIPPED
    gz: bool = False
    fmt: str | None = None  # csv | json | jsonl | parquet for exports
    reason: str | None = None
    aliases: str | None = None  # e.g. "msticpy alertlist column names" for reports


class ForgivingGzip:
    """A gzip reader for evidence: yields every byte that can be decompressed and stops,
    without raising, at a cut or at damaged data; ``damage`` then says what happened.

    Python's gzip module raises EOFError on a cut file and zlib.error on corrupt data, and
    drops what the failing read had decompressed; a half-copied log must still give the
    rows before the damage. Members are inflated as raw deflate after parsing each header
    ourselves, so a bad CRC (the data itself intact) loses nothing. Several members (log
    rotation appends them) are read one after another.
    """

    RAW_CHUNK = 64 * 1024

    def __init__(self, raw) -> None:
        self._raw = raw
        self._pending = b""  # compressed bytes read but not yet inflated
        self._out = bytearray()
        self._inflater = None
        self._done = False
        self.damage: str | None = None
        self.consumed = 0  # compressed bytes inflated so far

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    def _read_raw(self) -> bytes:
        chunk = self._raw.read(self.RAW_CHUNK)
        return chunk

    def _need(self, size: int) -> bool:
        while len(self._pending) < size:
            chunk = self._read_raw()
            if not chunk:
                return False
            self._pending += chunk
        return True

    def _start_member(self) -> bool:
        """Parse a member header from ``_pending``; False at a clean end or on damage."""
        if not self._need(1):
            return False  # clean end of the last member
        if not self._need(10):
            self.damage = "gzip member header cut short"
            return False
        head = self._pending
        if head[:2] != b"\x1f\x8b" or head[2] != 8:
            if self._inflater is not None and not head.strip(b"\x00"):
                return False  # zero padding after the last member
            self.damage = ("bytes after the gzip data are not gzip" if self._inflater is not None
                           else "not a gzip header")
            return False
        flags, pos = head[3], 10
        try:
            if flags & 4:  # FEXTRA
                if not self._need(pos + 2):
                    raise EOFError
                pos += 2 + int.from_bytes(self._pending[pos:pos + 2], "little")
            for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
                if flags & flag:
                    while True:
                        end = self._pending.find(b"\x00", pos)
                        if end >= 0:
                            pos = end + 1
                            break
                        if not self._need(len(self._pending) + 1):
                            raise EOFError
            if flags & 2:  # FHCRC
                pos += 2
            if not self._need(pos):
                raise EOFError
        except EOFError:
            self.damage = "gzip member header cut short"
            return False
        self._pending = self._pending[pos:]
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        return True

    def _fill(self, size: int) -> None:
        while len(self._out) < size and not self._done:
            if self._inflater is None or self._inflater.eof:
                if self._inflater is not None:
                    # Skip the 8-byte trailer (CRC, length) of the member just ended.
                    self._pending = self._inflater.unused_data + self._pending
                    self._need(8)
                    self._pending = self._pending[8:]
                if not self._start_member():
                    self._done = True
                    break
            data = self._pending or self._read_raw()
            self._pending = b""
            if not data:
                self.damage = self.damage or "gzip data cut short (the file ends mid-stream)"
                self._done = True
                break
            try:
                self._out += self._inflater.decompress(data)
            except zlib.error as exc:
                self.damage = f"gzip data damaged ({exc})"
                self._done = True
                break
            self.consumed += len(data) - len(self._inflater.unused_data)
            if self._inflater.eof:
                self._pending = self._inflater.unused_data
                self._inflater = _Ended(self._pending)
                self._pending = b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            while not self._done:
                self._fill(len(self._out) + (1 << 20))
            data, self._out = bytes(self._out), bytearray()
            return data
        self._fill(size)
        data = bytes(self._out[:size])
        del self._out[:size]
        return data


class _Ended:
    """Stands for an inflater whose member has ended (keeps what followed it)."""

    eof = True

    def __init__(self, unused: bytes) -> None:
        self.unused_data = unused


def walk(paths: list[Path]) -> list[Found]:
    """Every regular file under ``paths``, sorted, links not followed (reported as skipped)."""
    found: list[Found] = []
    seen: set[Path] = set()
    for given in paths:
        root = Path(os.path.abspath(given))
        if root.is_file():
            if root not in seen:
                seen.add(root)
                found.append(Found(root, None))
            continue
        if not root.is_dir():
            found.append(Found(root, root, "not found"))
            continue
        def unlistable(err: OSError, root: Path = root) -> None:
            # os.walk skips a folder it cannot list; the report must name it instead.
            where = Path(err.filename) if err.filename else root
            found.append(Found(where, root, f"cannot list folder: {err.strerror or err}"))

        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=unlistable):
            dirnames.sort()
            base = Path(dirpath)
            for name in list(dirnames):
                if (base / name).is_symlink():
                    found.append(Found(base / name, root, "symbolic link not followed"))
            for name in sorted(filenames):
                path = base / name
                if path in seen:
                    continue
                seen.add(path)
                if path.is_symlink():
                    found.append(Found(path, root, "symbolic link not followed"))
                elif not path.is_file():
                    found.append(Found(path, root, "not a regular file"))
                else:
                    found.append(Found(path, root))
    found.sort(key=lambda f: str(f.path))
    return found


def read_head(path: Path) -> tuple[bytes, bool]:
    """First bytes of the file (decompressed for gzip) and whether it is gzip."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == b"\x1f\x8b":
            # A cut or damaged .gz still shows what it starts with (never raises zlib.error).
            return ForgivingGzip(raw).read(HEAD_BYTES), True
        return raw.read(HEAD_BYTES), False


def read_pieces(path: Path, gz: bool, limit: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """The file's first ``limit`` bytes (decompressed for gzip), ``piece`` bytes at a time."""
    with open(path, "rb") as raw:
        source = ForgivingGzip(raw) if gz else raw
        left = limit
        while left > 0:
            data = source.read(min(piece, left))
            if not data:
                return
            left -= len(data)
            yield data


_W3C_DATA = re.compile(rb"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[ .]")
_IIS_NATIVE = re.compile(rb"^[^,\r\n]+, [^,\r\n]*, \d{1,2}/\d{1,2}/\d{2,4}, \d{1,2}:\d{2}:\d{2}, ")


def sniff(path: Path) -> Sniffed:
    try:
        head, gz = read_head(path)
    except OSError as exc:
        return Sniffed(SKIPPED, reason=f"cannot read: {exc.strerror or exc}")
    if head.startswith(b"PAR1"):
        return _sniff_parquet(path)
    if not head.strip():
        return Sniffed(SKIPPED, gz=gz, reason="empty file")
    if b"\x00" in head[:4096]:
        # IIS logs cut by a crash hold runs of NUL bytes, and a damaged export can too: the
        # text without them decides what the file is; only failing that is it binary.
        sniffed = _sniff_text(head.replace(b"\x00", b""), gz)
        if sniffed.kind != SKIPPED:
            return sniffed
        return Sniffed(SKIPPED, gz=gz, reason="binary file (not a log or export)")
    cut = len(head) == HEAD_BYTES
    return _sniff_text(head, gz, read_on=(lambda: read_pieces(path, gz, JSON_KEYS_MAX_BYTES))
                       if cut else None)


def _sniff_text(head: bytes, gz: bool,
                read_on: Callable[[], Iterable[bytes]] | None = None) -> Sniffed:
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    w3c = _sniff_w3c(head, text)
    if w3c is not None:
        return Sniffed(w3c[0], gz=gz, reason=w3c[1])
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        return _sniff_json(stripped, gz, read_on)
    return _sniff_csv(text, gz)


def _sniff_w3c(head: bytes, text: str) -> tuple[str, str | None] | None:
    lines = text.splitlines()
    directives = [ln for ln in lines[:2000] if ln.startswith("#")]
    # What wrote the file is what its first #Software and #Fields say: one stray directive
    # further down (a damaged or doctored log) must not turn an IIS log into a skipped file.
    software = next((d for d in directives if d.lower().startswith("#software")), "")
    fields_lines = [d for d in directives if d.lower().startswith("#fields:")]
    first_fields = fields_lines[:1]
    if directives and any(":" in d for d in directives[:5]):
        if re.search(r"Microsoft Exchange Server", software, re.I) or any(
            "message-id" in f.lower() or "event-id" in f.lower() for f in first_fields
        ):
            return SKIPPED, "Exchange message-tracking/protocol log (W3C-style, comma-separated), not IIS"
        if re.search(r"firewall", software, re.I) or any(
            {"src-ip", "dst-ip", "action"} <= set(f.lower().split()) for f in first_fields
        ):
            return SKIPPED, "Windows Firewall log (W3C format), not a web server log"
        if fields_lines:
            if any("," in f for f in fields_lines) and not any(
                w in fields_lines[0].lower() for w in ("cs-uri", "c-ip")
            ):
                return SKIPPED, "comma-separated W3C-style log, not an IIS web log"
            return IIS_W3C, None
        if any(_W3C_DATA.match(ln.encode()) for ln in lines[:50]):
            return SKIPPED, "W3C-style lines but no #Fields line: the field order is unknown"
        return SKIPPED, "W3C-style directives but no #Fields line"
    first = next((ln for ln in lines if ln.strip()), "")
    if _IIS_NATIVE.match(first.encode()):
        return SKIPPED, "IIS native log format (comma-separated), not W3C extended: not supported"
    if _W3C_DATA.match(first.encode()):
        return SKIPPED, "W3C-style lines but no #Fields line: the field order is unknown"
    return None


def _sniff_json(text: str, gz: bool,
                read_on: Callable[[], Iterable[bytes]] | None = None) -> Sniffed:
    record = _first_json_record(text)
    if record is None:
        # The first record may not end inside the sniffed head (an alert with 100,000
        # entities is ~6 MB): its keys up to where the head stops still say what it is.
        fmt = "json" if text.startswith("[") else "jsonl"
        keys = _first_object_keys(text)
        sniffed = _by_columns(keys, gz, fmt) if keys else None
        if (sniffed is None or sniffed.kind == SKIPPED) and read_on is not None:
            # The keys that tell the table may come after a long value: read the first
            # record on, keys only (engine.evidence.json_keys), in bounded memory.
            keys = next(iter(record_keys(read_on())), keys)
            sniffed = _by_columns(keys, gz, fmt) if keys else sniffed
        if sniffed is not None:
            return sniffed
        return Sniffed(SKIPPED, gz=gz, reason="JSON that is not an array or lines of records")
    fmt, obj = record
    if not isinstance(obj, dict):
        return Sniffed(SKIPPED, gz=gz, reason="JSON records are not objects")
    return _by_columns(list(obj), gz, fmt)


def _first_json_record(text: str) -> tuple[str, object] | None:
    decoder = json.JSONDecoder()
    if text.startswith("["):
        body = text[1:].lstrip()
        try:
            obj, _ = decoder.raw_decode(body)
            return "json", obj
        except json.JSONDecodeError:
            return None
    try:
        obj, end = decoder.raw_decode(text)
    except json.JSONDecodeError:
        return None
    rest = text[end:].lstrip()
    if isinstance(obj, dict) and isinstance(obj.get("value"), list) and not rest:
        # {"value": [...]}: the shape of the Log Analytics REST API / some tools
        return None
    return "jsonl", obj


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^"{}\[\]:,]+', re.S)


def _first_object_keys(text: str) -> list[str]:
    """The keys of the first JSON object in ``text`` (a prefix of the file, possibly cut in
    the middle of that object), in order; [] when there is none. Only top-level keys of
    that object count, so nested values (Entities) cannot add or hide columns."""
    pos = 1 if text.startswith("[") else 0
    keys: list[str] = []
    depth, expect_key, last = 0, False, None
    while pos < len(text):
        match = _JSON_TOKEN.match(text, pos)
        if match is None:  # a string the head cuts off
            break
        token, pos = match.group(), match.end()
        if token.isspace():
            continue
        if token in "{[":
            depth += 1
            expect_key = token == "{" and depth == 1
        elif token in "}]":
            depth -= 1
            if depth <= 0:
                break
        elif token == ",":
            expect_key = depth == 1
        elif token == ":":
            if last is not None and depth == 1:
                try:
                    keys.append(json.loads(last))
                except ValueError:
                    return []
            last = None
            continue
        elif depth == 0:
            return []  # text before the first object: not records
        last = token if (expect_key and token.startswith('"')) else None
        if token.startswith('"'):
            expect_key = False
            continue
        last = None
    return keys


def _sniff_csv(text: str, gz: bool) -> Sniffed:
    first_line = text.splitlines()[0] if text else ""
    try:
        header = next(csv.reader(io.StringIO(first_line)))
    except (csv.Error, StopIteration):
        return Sniffed(SKIPPED, gz=gz, reason="not a recognised log or export")
    if len(header) < 3:
        return Sniffed(SKIPPED, gz=gz, reason="not a recognised log or export")
    return _by_columns(header, gz, "csv")


def _by_columns(columns: list[str], gz: bool, fmt: str) -> Sniffed:
    table, note = classify_columns(columns)
    if table == "W3CIISLog":
        return Sniffed(W3C_EXPORT, gz=gz, fmt=fmt, aliases=note)
    if table == "SecurityAlert":
        return Sniffed(ALERT_EXPORT, gz=gz, fmt=fmt, aliases=note)
    return Sniffed(SKIPPED, gz=gz, fmt=fmt, reason=note or "columns match neither W3CIISLog nor SecurityAlert")


def _sniff_parquet(path: Path) -> Sniffed:
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    except Exception as exc:  # a damaged file must not stop the scan
        # What was wrong with the file in plain words, not pyarrow's text.
        from engine.evidence.read_errors import describe_read_error

        return Sniffed(SKIPPED, reason=describe_read_error(exc)[0])
    return _by_columns(names, False, "parquet")

