"""Parquet pages measured before anything is decoded, and read in pieces when too large.

Why this exists: pyarrow decodes a whole page before any value's length is known, and a
column chunk's metadata gives only the chunk's total size. A planted 1 GB cell therefore
costs several GB inside pyarrow. Every page starts with a header (a Thrift compact-protocol
struct) that states the page's compressed and uncompressed size and its number of values,
so walking a column chunk's headers -- reading a few hundred bytes per page and skipping
each body by its compressed size -- tells which pages are too large before any is decoded.

What is here, each small and bounded:
- ``CompactReader`` / ``CompactWriter``: the Thrift compact protocol, just enough for page
  headers and for copying a footer's structs verbatim (engine.evidence.parquet_salvage);
- ``walk_column_chunk``: the pages of one column chunk (``Page``), with bounded reads;
- ``PageBody``: one page's decompressed bytes handed out in pieces (``read``/``skip``), for
  UNCOMPRESSED, SNAPPY (a streaming decoder here: pyarrow only decodes whole snappy
  blocks), GZIP, ZSTD and BROTLI; memory is a few MiB whatever the page's size;
- the RLE / bit-packed hybrid encoding of definition levels (decode and encode).

Nothing here trusts a size it reads: every length is checked against what contains it, and
anything not understood raises ``PageError`` (callers fall back to a bounded behaviour).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, BinaryIO, Iterator

if TYPE_CHECKING:  # pyarrow is imported where it is used
    import pyarrow.parquet as pq

# Parquet's enums (parquet.thrift), the values used here.
DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 1, 2, 3
PLAIN, PLAIN_DICTIONARY, RLE, BIT_PACKED, RLE_DICTIONARY = 0, 2, 3, 4, 8
DELTA_LENGTH_BYTE_ARRAY = 6
CODECS = {0: "UNCOMPRESSED", 1: "SNAPPY", 2: "GZIP", 3: "LZO", 4: "BROTLI", 5: "LZ4",
          6: "ZSTD", 7: "LZ4_RAW"}
# Codecs whose pages can be decompressed in pieces (PageBody); LZ4 and LZO cannot here.
STREAMABLE_CODECS = frozenset({"UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "BROTLI"})
# pyarrow's own ceiling for one page header (kDefaultMaxPageHeaderSize).
MAX_HEADER_BYTES = 16 * 1024 * 1024
PIECE = 1024 * 1024  # how much of a page body is decompressed at a time


class PageError(ValueError):
    """A page or header this reader cannot (or will not) read."""


# ---------------------------------------------------------------------------------------
# Thrift compact protocol
# ---------------------------------------------------------------------------------------
T_STOP, T_TRUE, T_FALSE, T_BYTE, T_I16, T_I32, T_I64, T_DOUBLE = 0, 1, 2, 3, 4, 5, 6, 7
T_BINARY, T_LIST, T_SET, T_MAP, T_STRUCT = 8, 9, 10, 11, 12
_MAX_DEPTH = 64  # Parquet's structs nest a few levels; a hostile file must not recurse far


class _NeedMore(PageError):
    """The struct goes on past the bytes given (a header read with too small a window)."""


class CompactReader:
    """Reads Thrift compact-protocol values from ``data`` starting at ``pos``.

    Structs come back as {field id: value}; binaries longer than ``keep_binary`` bytes come
    back as their length only (an int), so a header's statistics never cost their size.
    """

    def __init__(self, data: bytes | memoryview, pos: int = 0,
                 keep_binary: int = 1 << 62) -> None:
        self.data = memoryview(data)
        self.pos = pos
        self.keep_binary = keep_binary

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise _NeedMore("struct runs past the bytes read")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self._byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise PageError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def _take(self, n: int) -> memoryview:
        if n < 0:
            raise PageError("negative length")
        if self.pos + n > len(self.data):
            raise _NeedMore("value runs past the bytes read")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def value(self, ctype: int, depth: int = 0) -> object:
        if depth > _MAX_DEPTH:
            raise PageError("structs nested too deeply")
        if ctype in (T_TRUE, T_FALSE):  # a bool inside a list or map: one byte
            return self._byte() == T_TRUE
        if ctype == T_BYTE:
            b = self._byte()
            return b - 256 if b > 127 else b
        if ctype in (T_I16, T_I32, T_I64):
            return self.zigzag()
        if ctype == T_DOUBLE:
            return struct.unpack("<d", self._take(8))[0]
        if ctype == T_BINARY:
            n = self.varint()
            if n > self.keep_binary:
                self._take(n)
                return n
            return bytes(self._take(n))
        if ctype in (T_LIST, T_SET):
            head = self._byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if size > len(self.data) - self.pos and etype not in (T_TRUE, T_FALSE):
                # Every element takes at least one byte: a larger count is a lie.
                raise _NeedMore("list longer than the bytes read")
            return [self.value(etype, depth + 1) for _ in range(size)]
        if ctype == T_MAP:
            size = self.varint()
            if not size:
                return {}
            kinds = self._byte()
            return {self._key(self.value(kinds >> 4, depth + 1)): self.value(kinds & 15, depth + 1)
                    for _ in range(size)}
        if ctype == T_STRUCT:
            return self.struct(depth + 1)
        raise PageError(f"unknown compact type {ctype}")

    @staticmethod
    def _key(key: object) -> object:
        if isinstance(key, (list, dict)):  # a damaged map: keys are scalars in Parquet
            raise PageError("a map key that is not a scalar")
        return key

    def field_header(self, last: int) -> tuple[int, int]:
        """(field id, compact type) of the next field; (0, T_STOP) at the struct's end."""
        b = self._byte()
        if b == T_STOP:
            return 0, T_STOP
        delta, ctype = b >> 4, b & 0x0F
        fid = last + delta if delta else self.zigzag()
        return fid, ctype

    def struct(self, depth: int = 0) -> dict[int, object]:
        out: dict[int, object] = {}
        last = 0
        while True:
            fid, ctype = self.field_header(last)
            if ctype == T_STOP:
                return out
            out[fid] = (ctype == T_TRUE) if ctype in (T_TRUE, T_FALSE) else self.value(ctype, depth)
            last = fid

    def struct_spans(self) -> list[tuple[int, int, int, int]]:
        """The fields of the struct at ``pos`` as (id, compact type, start, end) of each
        value's bytes, for copying them verbatim; ``pos`` ends after the struct."""
        spans = []
        last = 0
        while True:
            fid, ctype = self.field_header(last)
            if ctype == T_STOP:
                return spans
            start = self.pos
            if ctype not in (T_TRUE, T_FALSE):  # a bool field's value is in its header
                self.value(ctype)
            spans.append((fid, ctype, start, self.pos))
            last = fid

    def list_items(self) -> list[tuple[int, int]]:
        """The (start, end) of each element of the list at ``pos`` (elements: structs)."""
        head = self._byte()
        size, etype = head >> 4, head & 0x0F
        if size == 15:
            size = self.varint()
        if size > len(self.data) - self.pos:
            raise PageError("list longer than its bytes")
        items = []
        for _ in range(size):
            start = self.pos
            self.value(etype)
            items.append((start, self.pos))
        return items


class CompactWriter:
    """Writes Thrift compact-protocol structs: fields in increasing id order, values either
    built here or copied verbatim (``raw``) from a ``CompactReader.struct_spans`` span."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._last = [0]

    def _varint(self, n: int) -> None:
        while True:
            low = n & 0x7F
            n >>= 7
            if n:
                self.out.append(low | 0x80)
            else:
                self.out.append(low)
                return

    def _zigzag(self, n: int) -> None:
        self._varint((n << 1) ^ (n >> 63))

    def _header(self, fid: int, ctype: int) -> None:
        delta = fid - self._last[-1]
        if 0 < delta <= 15:
            self.out.append(delta << 4 | ctype)
        else:
            self.out.append(ctype)
            self._zigzag(fid)
        self._last[-1] = fid

    def i32(self, fid: int, value: int) -> None:
        self._header(fid, T_I32)
        self._zigzag(value)

    def i64(self, fid: int, value: int) -> None:
        self._header(fid, T_I64)
        self._zigzag(value)

    def boolean(self, fid: int, value: bool) -> None:
        self._header(fid, T_TRUE if value else T_FALSE)

    def binary(self, fid: int, value: bytes) -> None:
        self._header(fid, T_BINARY)
        self._varint(len(value))
        self.out += value

    def raw(self, fid: int, ctype: int, value: bytes | memoryview) -> None:
        """A field whose value bytes were read elsewhere (for a bool: empty)."""
        self._header(fid, ctype)
        self.out += value

    def i32_list(self, fid: int, values: list[int]) -> None:
        self._header(fid, T_LIST)
        self._list_head(len(values), T_I32)
        for v in values:
            self._zigzag(v)

    def raw_list(self, fid: int, etype: int, items: list[bytes | memoryview]) -> None:
        self._header(fid, T_LIST)
        self._list_head(len(items), etype)
        for item in items:
            self.out += item

    def _list_head(self, size: int, etype: int) -> None:
        if size < 15:
            self.out.append(size << 4 | etype)
        else:
            self.out.append(0xF0 | etype)
            self._varint(size)

    def begin(self, fid: int | None = None) -> None:
        """Open a struct: a field's value (``fid``), or a list element / top level (None)."""
        if fid is not None:
            self._header(fid, T_STRUCT)
        self._last.append(0)

    def end(self) -> None:
        self.out.append(T_STOP)
        self._last.pop()

    def getvalue(self) -> bytes:
        return bytes(self.out)


# ---------------------------------------------------------------------------------------
# Page headers
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    """One page of a column chunk, as its header describes it."""
    kind: int  # DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 (or another number)
    offset: int  # file offset of the header
    header_size: int
    compressed_size: int  # the body's bytes on disk
    uncompressed_size: int
    num_values: int = 0  # slots (nulls included); entries for a dictionary page
    encoding: int = PLAIN
    def_level_encoding: int = RLE  # v1
    num_nulls: int | None = None  # v2
    num_rows: int | None = None  # v2
    def_levels_size: int = 0  # v2: uncompressed bytes at the start of the body
    rep_levels_size: int = 0
    is_compressed: bool = True  # v2: whether the values part is compressed

    @property
    def body_offset(self) -> int:
        return self.offset + self.header_size

    @property
    def end(self) -> int:
        return self.body_offset + self.compressed_size

    @property
    def is_data(self) -> bool:
        return self.kind in (DATA_PAGE, DATA_PAGE_V2)


def _as_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PageError(f"page header without a valid {what}")
    return value


def parse_page_header(data: bytes | memoryview, offset: int = 0) -> Page:
    """The page header at the start of ``data`` (``offset``: its place in the file)."""
    reader = CompactReader(data, keep_binary=64)
    fields = reader.struct()
    kind = _as_int(fields.get(1), "type")
    uncompressed = _as_int(fields.get(2), "uncompressed size")
    compressed = _as_int(fields.get(3), "compressed size")
    if uncompressed < 0 or compressed < 0:
        raise PageError("negative page size")
    extra: dict[str, object] = {}
    if kind == DATA_PAGE:
        h = fields.get(5)
        if not isinstance(h, dict):
            raise PageError("data page without its header")
        extra = dict(num_values=_as_int(h.get(1), "value count"),
                     encoding=_as_int(h.get(2), "encoding"),
                     def_level_encoding=_as_int(h.get(3, RLE), "level encoding"))
    elif kind == DICTIONARY_PAGE:
        h = fields.get(7)
        if not isinstance(h, dict):
            raise PageError("dictionary page without its header")
        extra = dict(num_values=_as_int(h.get(1), "value count"),
                     encoding=_as_int(h.get(2, PLAIN), "encoding"))
    elif kind == DATA_PAGE_V2:
        h = fields.get(8)
        if not isinstance(h, dict):
            raise PageError("data page v2 without its header")
        def_size = _as_int(h.get(5), "level size")
        rep_size = _as_int(h.get(6), "level size")
        if def_size < 0 or rep_size < 0 or def_size + rep_size > compressed:
            raise PageError("v2 levels larger than the page")
        extra = dict(num_values=_as_int(h.get(1), "value count"),
                     num_nulls=_as_int(h.get(2), "null count"),
                     num_rows=_as_int(h.get(3), "row count"),
                     encoding=_as_int(h.get(4), "encoding"),
                     def_levels_size=def_size, rep_levels_size=rep_size,
                     is_compressed=h.get(7, True) is not False)
    if _as_int(extra.get("num_values", 0), "value count") < 0:
        raise PageError("negative value count")
    return Page(kind, offset, reader.pos, compressed, uncompressed,
                **extra)  # type: ignore[arg-type]


def read_page_header(f: BinaryIO, offset: int, end: int) -> Page:
    """The header at ``offset``, read with a small window grown only as the header needs
    (statistics can make one long), never past ``end`` or ``MAX_HEADER_BYTES``."""
    window = 512
    while True:
        size = min(window, end - offset)
        if size <= 0:
            raise PageError("page header past the end of its column chunk")
        f.seek(offset)
        data = f.read(size)
        try:
            return parse_page_header(data, offset)
        except _NeedMore:
            if len(data) < size or size == end - offset or window >= MAX_HEADER_BYTES:
                raise PageError("page header cut or too long") from None
            window *= 8


def walk_column_chunk(f: BinaryIO, start: int, length: int,
                      max_pages: int = 10_000_000) -> list[Page]:
    """Every page of the column chunk at ``start`` (``length`` bytes on disk), bodies
    skipped unread. Raises PageError if the headers do not tile the chunk exactly."""
    pages: list[Page] = []
    pos, end = start, start + length
    while pos < end:
        page = read_page_header(f, pos, end)
        if page.end > end:
            raise PageError(f"page at byte {pos:,} runs past its column chunk")
        pages.append(page)
        if len(pages) > max_pages:
            raise PageError("too many pages")
        pos = page.end
    return pages


def column_chunk_range(meta: pq.ColumnChunkMetaData) -> tuple[int, int]:
    """(start, length) of a column chunk on disk from pyarrow's ColumnChunkMetaData, as
    pyarrow itself computes it (a dictionary offset of 0 means none: some writers set it)."""
    start = meta.data_page_offset
    dictionary = meta.dictionary_page_offset
    if meta.has_dictionary_page and dictionary and 0 < dictionary < start:
        start = dictionary
    return start, meta.total_compressed_size


# ---------------------------------------------------------------------------------------
# Page bodies in pieces
# ---------------------------------------------------------------------------------------
def _file_pieces(f: BinaryIO, offset: int, size: int, piece: int = PIECE) -> Iterator[bytes]:
    """``size`` bytes of the file from ``offset``, ``piece`` at a time (the file position
    is set before every read: other readers share the handle between pieces)."""
    done = 0
    while done < size:
        f.seek(offset + done)
        data = f.read(min(piece, size - done))
        if not data:
            raise PageError("file ends inside a page")
        done += len(data)
        yield data


def _gzip_pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj(47)  # gzip or zlib header, whichever the writer used
    for data in raw:
        while data:
            try:
                out = inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise PageError(f"damaged gzip page: {exc}") from None
            if out:
                yield out
            data = inflater.unconsumed_tail
            if inflater.eof:
                if inflater.unused_data:  # another gzip member (concatenated writers)
                    data, inflater = inflater.unused_data, zlib.decompressobj(47)
                else:
                    break
    while True:
        out = inflater.flush(PIECE) if not inflater.eof else b""
        if not out:
            return
        yield out


class _Slice:
    """A file-like view of ``size`` bytes from ``offset`` (for pyarrow's streams)."""

    closed = False

    def __init__(self, f: BinaryIO, offset: int, size: int) -> None:
        self._f, self._offset, self._size, self._pos = f, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._pos if n is None or n < 0 else min(n, self._size - self._pos)
        if n <= 0:
            return b""
        self._f.seek(self._offset + self._pos)
        data = self._f.read(min(n, PIECE))
        self._pos += len(data)
        return data

    def close(self) -> None:
        self.closed = True


def _arrow_pieces(f: BinaryIO, offset: int, size: int, codec: str) -> Iterator[bytes]:
    import pyarrow as pa

    stream = pa.CompressedInputStream(pa.PythonFile(_Slice(f, offset, size), mode="r"),
                                      codec.lower())
    try:
        while True:
            try:
                out = stream.read(PIECE)
            except (OSError, pa.ArrowException) as exc:
                raise PageError(f"damaged {codec.lower()} page: {exc}") from None
            if not out:
                return
            yield out
    finally:
        stream.close()


SNAPPY_WINDOW = 64 * 1024  # snappy's compressors copy from at most 64 KiB back


def _snappy_pieces(raw: Iterator[bytes]) -> Iterator[bytes]:
    """Decodes a snappy block (raw format, as Parquet stores pages) in pieces, keeping only
    the last 64 KiB of output for copies. Runs of identical copy elements (how snappy
    writes a long repeat: 64 bytes at a time) are merged, so a planted run of one byte
    costs a few memory compares per MiB rather than a Python step per 64 bytes."""
    src = b""
    pos = 0
    stream = iter(raw)

    def need(n: int) -> None:
        nonlocal src, pos
        while len(src) - pos < n:
            more = next(stream, None)
            if more is None:
                raise PageError("snappy page cut short")
            src = src[pos:] + more
            pos = 0

    def have(n: int) -> bool:
        try:
            need(n)
        except PageError:
            return False
        return True

    # The preamble: the uncompressed length (varint).
    total = shift = 0
    while True:
        need(1)
        b = src[pos]
        pos += 1
        total |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 35:
            raise PageError("snappy length too long")
    hist = bytearray()  # the output's last bytes (at most 2x the window)
    out = bytearray()
    produced = 0

    def emit(data: bytes | bytearray) -> None:
        nonlocal hist, produced
        out.extend(data)
        produced += len(data)
        hist += data[-SNAPPY_WINDOW:]
        if len(hist) > 2 * SNAPPY_WINDOW:
            del hist[:-SNAPPY_WINDOW]

    while produced < total:
        if len(out) >= PIECE:
            yield bytes(out)
            out.clear()
        need(1)
        tag = src[pos]
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n < 60:
                pos += 1
                n += 1
            else:
                extra = n - 59
                need(1 + extra)
                n = int.from_bytes(src[pos + 1:pos + 1 + extra], "little") + 1
                pos += 1 + extra
            if produced + n > total:
                raise PageError("snappy literal past the stated length")
            while n:
                if pos >= len(src):
                    need(1)
                take = min(n, len(src) - pos, PIECE)
                emit(src[pos:pos + take])
                pos += take
                n -= take
                if len(out) >= PIECE:
                    yield bytes(out)
                    out.clear()
            continue
        size = (1, 2, 3, 5)[kind]
        need(size)
        element = src[pos:pos + size]
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | src[pos + 1]
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(src[pos + 1:pos + 3], "little")
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(src[pos + 1:pos + 5], "little")
        pos += size
        # Identical elements that follow: one copy of their total length (each one copies
        # from the same distance back, so together they continue the same pattern).
        repeats = 1
        if have(size * 2) and src[pos:pos + size] == element:
            step = 1
            # At most 1 MiB of compressed elements at a time: src must not grow unbounded.
            while size * step * 2 <= PIECE:
                if not have(size * step * 2):
                    break
                if src[pos:pos + size * step * 2] != element * (step * 2):
                    break
                step *= 2
            lo, hi = step, step * 2  # src holds `lo` more copies, not `hi`
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if have(size * mid) and src[pos:pos + size * mid] == element * mid:
                    lo = mid
                else:
                    hi = mid
            pos += size * lo
            repeats += lo
        length *= repeats
        if offset == 0 or offset > produced:
            raise PageError("snappy copy from before the start")
        if offset > len(hist):
            raise PageError("snappy copy from further back than 64 KiB")
        if produced + length > total:
            raise PageError("snappy copy past the stated length")
        base = len(hist) - offset
        if offset >= length:
            emit(bytes(hist[base:base + length]))
            continue
        pattern = bytes(hist[base:])
        while length:
            take = min(length, PIECE)
            emit((pattern * (take // offset + 1))[:take])
            # The copy goes on from where the last piece stopped within the pattern.
            pattern = pattern[take % offset:] + pattern[:take % offset]
            length -= take
            if len(out) >= PIECE:
                yield bytes(out)
                out.clear()
    if out:
        yield bytes(out)


class PageBody:
    """The decompressed bytes of ``size`` compressed bytes at ``offset``, handed out in
    pieces: ``read(n)`` returns exactly n bytes, ``skip(n)`` passes n bytes holding none of
    them. Memory: about two pieces (1 MiB each) plus the codec's own window."""

    def __init__(self, f: BinaryIO, offset: int, size: int, codec: str) -> None:
        raw = _file_pieces(f, offset, size)
        if codec == "UNCOMPRESSED":
            self._pieces = raw
        elif codec == "SNAPPY":
            self._pieces = _snappy_pieces(raw)
        elif codec == "GZIP":
            self._pieces = _gzip_pieces(raw)
        elif codec in ("ZSTD", "BROTLI"):
            self._pieces = _arrow_pieces(f, offset, size, codec)
        else:
            raise PageError(f"{codec} pages cannot be read in pieces")
        self._buf = b""
        self._pos = 0
        self.consumed = 0

    def _fill(self) -> bool:
        piece = next(self._pieces, None)
        if piece is None:
            return False
        self._buf = self._buf[self._pos:] + piece
        self._pos = 0
        return True

    def read(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n:
            if not self._fill():
                raise PageError("page ends before its values do")
        out = self._buf[self._pos:self._pos + n]
        self._pos += n
        self.consumed += n
        return out

    def skip(self, n: int) -> None:
        while n:
            if self._pos >= len(self._buf):
                self._buf, self._pos = b"", 0
                if not self._fill():
                    raise PageError("page ends before its values do")
            take = min(n, len(self._buf) - self._pos)
            self._pos += take
            self.consumed += take
            n -= take

    def rest(self) -> int:
        """Passes what is left; returns its length (a sanity check against the header)."""
        left = len(self._buf) - self._pos
        self._buf, self._pos = b"", 0
        for piece in self._pieces:
            left += len(piece)
        self.consumed += left
        return left


# ---------------------------------------------------------------------------------------
# Levels: the RLE / bit-packed hybrid
# ---------------------------------------------------------------------------------------
def bit_width(max_level: int) -> int:
    return max_level.bit_length()


def decode_levels(data: bytes, width: int, count: int) -> bytearray:
    """``count`` levels (one byte each) from RLE / bit-packed hybrid ``data``."""
    out = bytearray()
    reader = CompactReader(data)  # only for its varint
    value_bytes = (width + 7) // 8
    mask = (1 << width) - 1
    while len(out) < count:
        if reader.pos >= len(data):
            raise PageError("levels end early")
        head = reader.varint()
        if head & 1:  # bit-packed: groups of 8 values, `width` bytes per group
            groups = head >> 1
            chunk = data[reader.pos:reader.pos + groups * width]
            reader.pos += groups * width
            n = min(groups * 8, count - len(out))
            if len(chunk) < (n * width + 7) // 8:
                raise PageError("levels end early")
            if width == 0:
                out += bytes(n)
            elif width == 1:
                bits = int.from_bytes(chunk, "little")
                text = bin(bits)[2:].zfill(len(chunk) * 8)[::-1][:n]
                out += text.encode().translate(_BITS)
            else:
                bits = int.from_bytes(chunk, "little")
                out += bytes((bits >> (i * width)) & mask for i in range(n))
        else:  # a run: one value repeated
            n = head >> 1
            if reader.pos + value_bytes > len(data):
                raise PageError("levels end early")
            value = int.from_bytes(data[reader.pos:reader.pos + value_bytes], "little")
            reader.pos += value_bytes
            if value > 255:
                raise PageError("level out of range")
            out += bytes([value]) * min(n, count - len(out))
    return out


_BITS = bytes.maketrans(b"01", b"\x00\x01")


def encode_levels(levels: bytes | bytearray, width: int) -> bytes:
    """RLE runs only (valid hybrid encoding, compact for the long runs levels have)."""
    out = bytearray()
    value_bytes = (width + 7) // 8
    for value, run in groupby(levels):
        n = sum(1 for _ in run)
        w = CompactWriter()
        w._varint(n << 1)
        out += w.out + value.to_bytes(value_bytes, "little")
    return bytes(out)
