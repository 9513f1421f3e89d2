"""A Parquet row group read within the record limit, whatever its pages hold.

Every column chunk of a row group is walked first (engine.evidence.parquet_pages: headers
only). A row group whose pages are all within the limit is read by pyarrow as it is. For a
row group with a page over it, the column chunks holding such pages are rebuilt, and pyarrow
reads a *virtual* Parquet file: the original file's bytes, then the rebuilt chunks, then a
footer naming only that row group (its other columns still point at the original bytes).

A rebuilt chunk keeps every page within the limit as it is on disk (never decompressed
here). A page over it is read in pieces: a dictionary page (where pyarrow puts a giant
value: it is dictionary-encoded before the writer falls back to PLAIN) and PLAIN data
pages are rewritten value by value, each value over ``max_record`` replaced by a short
marker (its first 80 bytes kept as the excerpt, the rest passed unread), the good values
into new pages of about 1 MiB. A page that cannot be read in pieces (another encoding, a
damaged page, a dictionary whose good values alone exceed the page budget) becomes pages of
markers, one per record it covers. The caller turns every marker back into a bad record:
only the records that held a value over the limit (or sat in such a page) are lost.

Which pages count as too large: in a flat text column (rebuildable), a dictionary page or
a page holding values over ``max_record`` (any value over the limit is in such a page),
a page of dictionary indices (no values) over ``page_budget``. Any other column (nested,
fixed-width, LZ4 or LZO pages) has its pages decoded by pyarrow up to ``page_budget``;
a chunk with a larger page, or whose pages cannot be walked, is *cut* for that row group:
the records load without it (a visible marker in text columns, null otherwise) and the
caller reports it.

The memory bound, beyond DuckDB's own: pyarrow holds, per column, the page it decodes --
at most ``max_record`` for text values, at most ``page_budget`` = max(64 MiB,
``max_record``) otherwise, dictionaries included -- at about three times its size while it
decodes, plus one batch (4,096 records). A rebuild adds the rebuilt dictionary (under the
budget) with its compressed copy, one new page (~1 MiB plus one value under the limit) and
the streams' pieces (a few MiB). A value over the limit is never held, only its first 80
bytes. Rebuilt pages go to a spill file on disk (unlinked when opened).

Batches: records each under the limit may still repeat one large dictionary value (20,000
records x 256 KB from a 263 KB file: 5 GB of text). ``plan_row_group`` also gives
``record_bytes``, an upper bound on one record's decoded bytes from the pages
(record_bound: a dictionary's longest entry, PLAIN bytes per value, fixed widths), and the
caller sizes each row group's batches to it (exports.batch_records: at most
PARQUET_BATCH_BYTES, plus at most one PLAIN page per column, and at least one record).
"""
from __future__ import annotations

import io
import os
from bisect import bisect_right
import secrets
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from engine.evidence.parquet_pages import (
    DATA_PAGE, DATA_PAGE_V2, DELTA_LENGTH_BYTE_ARRAY, DICTIONARY_PAGE, PLAIN, PLAIN_DICTIONARY, RLE,
    RLE_DICTIONARY, STREAMABLE_CODECS, T_STRUCT, CompactReader, CompactWriter,
    Page, PageBody, PageError, bit_width, column_chunk_range, decode_levels, encode_levels,
    walk_column_chunk,
)

# The largest page pyarrow is given (the record limit if that is larger): decoding one
# costs about three times its size. Fixed-width and nested columns' pages (pyarrow writes
# 1 MiB) go to pyarrow up to this; so does a rebuilt dictionary, which pyarrow holds whole
# (any data page may point anywhere in it). A text page over the record limit is read in
# pieces whatever its size.
PAGE_BUDGET = 64 * 1024 * 1024
NEW_PAGE_BYTES = 1024 * 1024  # how much a rewritten page holds (pyarrow's default size)
EXCERPT_BYTES = 80
_INT = struct.Struct("<I")

if TYPE_CHECKING:  # pyarrow is imported where it is used: the engine starts without it
    import pyarrow as pa
    import pyarrow.parquet as pq


@dataclass
class Marker:
    """What one marker value stands for."""
    column: int  # top-level field of the export
    length: int | None  # the value's size in bytes; None: a page not read at all
    excerpt: bytes = b""
    page_size: int = 0  # for a page not read: its uncompressed size
    why: str = ""


@dataclass
class GroupPlan:
    """What a row group needs. Empty ``rebuild`` and ``cut``: read it as it is."""
    group: int
    rows: int
    rebuild: dict[int, list[Page]] = field(default_factory=dict)  # leaf -> its pages
    cut: dict[int, str] = field(default_factory=dict)  # top-level field -> why
    # An upper bound on one record's decoded bytes, from the page headers (record_bound).
    record_bytes: int = 0

    @property
    def as_is(self) -> bool:
        return not self.rebuild and not self.cut


def leaf_fields(schema_arrow: pa.Schema) -> list[int]:
    """The top-level field each Parquet leaf column belongs to (a struct's or a map's
    leaves all belong to it), in leaf order."""
    import pyarrow as pa

    def leaves(t) -> int:
        if pa.types.is_struct(t):
            return sum(leaves(t.field(i).type) for i in range(t.num_fields))
        if pa.types.is_map(t):
            return leaves(t.key_type) + leaves(t.item_type)
        if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
                or pa.types.is_list_view(t) or pa.types.is_large_list_view(t)):
            return leaves(t.value_type)
        if isinstance(t, pa.ExtensionType):
            return leaves(t.storage_type)
        return 1

    out: list[int] = []
    for i, f in enumerate(schema_arrow):
        out += [i] * leaves(f.type)
    return out


def is_text_type(t: pa.DataType) -> bool:
    """Arrow types a marker value can stand in (and that a cut shows as text)."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_string_view(t)
            or pa.types.is_binary_view(t))


def _oversized(page: Page, limit: int) -> bool:
    return max(page.compressed_size, page.uncompressed_size) > limit


def _too_large(page: Page, max_record: int, budget: int) -> bool:
    """Whether a text column's page cannot go to pyarrow as it is: one that may hold a
    value over the limit (a dictionary, or a data page holding values) over the record
    limit, or a page of dictionary indices over the page budget (it holds no values, so
    only its own size matters)."""
    if page.is_data and page.encoding in (PLAIN_DICTIONARY, RLE_DICTIONARY):
        return _oversized(page, budget)
    return _oversized(page, max_record)


def page_budget(max_record: int) -> int:
    """The largest page (or dictionary) pyarrow is ever given."""
    return max(max_record, PAGE_BUDGET)


def plan_row_group(f: BinaryIO, source: pq.ParquetFile, group: int,
                   max_record: int) -> GroupPlan:
    """Walks every column chunk of ``group`` and says what reading it needs.

    A text column's page over ``max_record`` may hold a value over it: such a chunk is
    rebuilt (or cut if it cannot be). Any other column's pages are pyarrow's up to
    ``page_budget`` (their values are checked after decoding, or are fixed-width); a
    chunk with a larger page is cut."""
    meta = source.metadata.row_group(group)
    plan = GroupPlan(group, meta.num_rows)
    owners = leaf_fields(source.schema_arrow)
    budget = page_budget(max_record)
    for leaf in range(meta.num_columns):
        chunk = meta.column(leaf)
        top = owners[leaf] if leaf < len(owners) else leaf
        why = _cannot_rebuild(source, leaf, top, chunk)
        limit = budget if why else max_record  # for a chunk that cannot be walked
        start, length = column_chunk_range(chunk)
        try:
            pages = walk_column_chunk(f, start, length)
        except (PageError, OSError) as exc:
            # Not walkable here. A chunk whose metadata says it is small cannot hold a big
            # compressed page; pyarrow reads it (and says so if it is damaged).
            if max(chunk.total_compressed_size, chunk.total_uncompressed_size) > limit:
                plan.cut.setdefault(top, f"its pages could not be walked ({exc})")
            else:
                plan.record_bytes += max(chunk.total_uncompressed_size, 0) + VALUE_OVERHEAD
            continue
        plan.record_bytes += record_bound(f, source, leaf, chunk, pages, max_record)
        if why and not any(_oversized(p, budget) for p in pages):
            continue
        if not why and not any(_too_large(p, max_record, budget) for p in pages):
            continue
        why = why or _pages_cannot_be_rebuilt(pages, meta.num_rows)
        if why:
            biggest = max(max(p.compressed_size, p.uncompressed_size) for p in pages)
            plan.cut.setdefault(top, f"a page of {biggest:,} bytes in {why}")
        else:
            plan.rebuild[leaf] = pages
    # A field that is cut is read from nowhere: none of its leaves needs rebuilding.
    for leaf in [leaf for leaf in plan.rebuild if owners[leaf] in plan.cut]:
        del plan.rebuild[leaf]
    return plan


VALUE_OVERHEAD = 16  # an Arrow offset and validity, DuckDB's string header: per value


def record_bound(f: BinaryIO, source: pq.ParquetFile, leaf: int,
                 chunk: pq.ColumnChunkMetaData, pages: list[Page], max_record: int) -> int:
    """An upper bound on the bytes one record's value in this column chunk decodes to,
    from its page headers alone: whatever the records repeat, a value is never longer than
    the page that holds it (a dictionary page for dictionary indices, the data page itself
    for PLAIN or DELTA_LENGTH_BYTE_ARRAY). A text value over ``max_record`` never reaches
    a batch (it is a marker, or a bad record). Fixed-width values: their width. A value
    that may span pages (a nested column's list) or whose encoding can make it longer than
    its page (DELTA_BYTE_ARRAY's shared prefixes): the whole chunk, or the record limit."""
    column = source.schema.column(leaf)
    if column.max_repetition_level:
        return max(chunk.total_uncompressed_size, 0) + VALUE_OVERHEAD
    if column.physical_type != "BYTE_ARRAY":
        width = column.length if column.physical_type == "FIXED_LEN_BYTE_ARRAY" else 12
        return max(width or 0, 12) + VALUE_OVERHEAD
    bound = 0
    for page in pages:
        if page.kind == DICTIONARY_PAGE:
            bound = max(bound, _longest_entry(f, page, chunk.compression, max_record))
        elif page.is_data and page.encoding in (PLAIN, DELTA_LENGTH_BYTE_ARRAY):
            # The values of a batch cost what they cost on the page, not more: per record,
            # the page's bytes per value (a batch may hold one page's worth more). A page
            # over the limit is rebuilt into pages of ~1 MiB whose values are under it.
            if _oversized(page, max_record):
                continue
            bound = max(bound, -(-page.uncompressed_size // max(page.num_values, 1)))
        elif page.is_data and page.encoding not in (PLAIN_DICTIONARY, RLE_DICTIONARY):
            bound = max(bound, max_record)
    return min(bound, max_record) + VALUE_OVERHEAD


def _longest_entry(f: BinaryIO, page: Page, codec: str, max_record: int) -> int:
    """The longest value under ``max_record`` of a PLAIN dictionary page (what any record
    pointing into it decodes to: a longer one becomes a short marker when the page is
    rebuilt), read in pieces without holding a value; the page's size if it cannot be read
    so. A dictionary over the limit is read twice (here and when rebuilt): the price of
    not sizing a whole row group's batches by one planted value."""
    size = page.uncompressed_size
    if page.encoding not in (PLAIN, PLAIN_DICTIONARY) or page.num_values > size // 4:
        return size
    try:
        body = PageBody(f, page.body_offset, page.compressed_size, codec)
        longest = 0
        for _ in range(page.num_values):
            n = _INT.unpack(body.read(4))[0]
            if n <= max_record:
                longest = max(longest, n)
            body.skip(n)
        return min(max(longest, 256), size)  # a marker: under 256 bytes
    except (PageError, OSError, ValueError, struct.error):
        return size


def _cannot_rebuild(source: pq.ParquetFile, leaf: int, top: int,
                    chunk: pq.ColumnChunkMetaData) -> str | None:
    """Why this column's chunks cannot be rebuilt here (None: they can)."""
    column = source.schema.column(leaf)
    field_type = source.schema_arrow.field(top).type
    if leaf_fields(source.schema_arrow).count(top) != 1 or column.max_repetition_level:
        return "a nested column"
    if column.physical_type != "BYTE_ARRAY" or not is_text_type(field_type):
        return f"a column of {column.physical_type} values"
    if chunk.compression not in STREAMABLE_CODECS:
        return f"a column compressed with {chunk.compression} (not read in pieces here)"
    return None


def _pages_cannot_be_rebuilt(pages: list[Page], rows: int) -> str | None:
    data = [p for p in pages if p.is_data]
    if sum(p.num_values for p in data) != rows:
        return "a column whose pages do not add up to the row group's records"
    if any(p.kind == DICTIONARY_PAGE for p in pages[1:]):
        return "a column with a dictionary page after its data pages"
    if any(p.kind not in (DATA_PAGE, DATA_PAGE_V2, DICTIONARY_PAGE, 1) for p in pages):
        return "a column with a page of an unknown type"
    return None


# ---------------------------------------------------------------------------------------
# Rebuilding one column chunk
# ---------------------------------------------------------------------------------------
class _Spill:
    """Rebuilt pages, on disk: (offset, length) of each within the spill file."""

    def __init__(self, folder: Path | None) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self.file = tempfile.TemporaryFile(dir=folder)  # unlinked at once: nothing to clean
        self.size = 0

    def write(self, data: bytes) -> tuple[int, int]:
        self.file.seek(self.size)
        self.file.write(data)
        start = self.size
        self.size += len(data)
        return start, len(data)


@dataclass
class _Chunk:
    """A rebuilt column chunk: its bytes as segments ('orig' or 'spill', offset, length),
    contiguous pieces of the same file merged (a chunk may keep thousands of pages)."""
    segments: list[tuple[str, int, int]] = field(default_factory=list)
    size: int = 0
    dictionary_at: int | None = None  # byte position within the chunk
    first_data_at: int | None = None
    uncompressed: int = 0
    num_values: int = 0
    encodings: set[int] = field(default_factory=set)

    def add(self, where: str, offset: int, length: int) -> None:
        last = self.segments[-1] if self.segments else None
        if last and last[0] == where and last[1] + last[2] == offset:
            self.segments[-1] = (where, last[1], last[2] + length)
        else:
            self.segments.append((where, offset, length))
        self.size += length

    def mark(self) -> tuple:
        return (len(self.segments), self.segments[-1] if self.segments else None, self.size,
                self.first_data_at, self.uncompressed, self.num_values, set(self.encodings))

    def undo(self, mark: tuple) -> None:
        count, last, self.size, self.first_data_at, self.uncompressed, self.num_values, \
            self.encodings = mark
        del self.segments[count:]
        if last is not None:
            self.segments[-1] = last


class _Rebuilder:
    def __init__(self, f: BinaryIO, spill: _Spill, codec: str, max_def: int, top: int,
                 max_record: int, token: bytes, markers: dict[bytes, Marker]) -> None:
        import pyarrow as pa

        self.f, self.spill, self.codec, self.max_def, self.top = f, spill, codec, max_def, top
        self.max_record = max_record
        self.budget = page_budget(max_record)
        self.token, self.markers = token, markers
        self.compressor = None if codec == "UNCOMPRESSED" else pa.Codec(codec.lower())
        self.chunk = _Chunk()

    # -- pieces ------------------------------------------------------------------------
    def marker(self, info: Marker) -> bytes:
        value = self.token + str(len(self.markers)).encode()
        self.markers[value] = info
        return value

    def _compress(self, body: bytes) -> bytes:
        return body if self.compressor is None else self.compressor.compress(body).to_pybytes()

    def _add(self, where: str, offset: int, length: int, uncompressed: int,
             kind: int) -> None:
        if kind == DICTIONARY_PAGE:
            self.chunk.dictionary_at = self.chunk.size
            self.chunk.encodings.add(PLAIN)
        elif self.chunk.first_data_at is None:
            self.chunk.first_data_at = self.chunk.size
        self.chunk.add(where, offset, length)
        self.chunk.uncompressed += uncompressed

    def keep(self, page: Page) -> None:
        """A page within the limit: its bytes as they are on disk."""
        if page.is_data:
            self.chunk.num_values += page.num_values
            self.chunk.encodings.add(page.encoding)
        self._add("orig", page.offset, page.header_size + page.compressed_size,
                  page.header_size + page.uncompressed_size, page.kind)

    def write_page(self, kind: int, body: bytes, num_values: int) -> None:
        packed = self._compress(body)
        w = CompactWriter()
        w.begin()
        w.i32(1, kind)
        w.i32(2, len(body))
        w.i32(3, len(packed))
        if kind == DICTIONARY_PAGE:
            w.begin(7)
            w.i32(1, num_values)
            w.i32(2, PLAIN)
            w.end()
        else:
            w.begin(5)
            w.i32(1, num_values)
            w.i32(2, PLAIN)
            w.i32(3, RLE)
            w.i32(4, RLE)
            w.end()
            self.chunk.num_values += num_values
            self.chunk.encodings.update((PLAIN, RLE))
        w.end()
        header = w.getvalue()
        offset, length = self.spill.write(header + packed)
        self._add("spill", offset, length, len(header) + len(body), kind)

    def write_data(self, levels: bytearray | None, values: bytes | bytearray,
                   num_values: int) -> None:
        body = b""
        if self.max_def:
            encoded = encode_levels(levels or b"", bit_width(self.max_def))
            body = _INT.pack(len(encoded)) + encoded
        self.write_page(DATA_PAGE, body + bytes(values), num_values)

    # -- whole pages -------------------------------------------------------------------
    def cut_page(self, page: Page, why: str) -> None:
        """Markers in every slot of a page that is not read: the records it covers
        become bad records (nulls included: the record's cell cannot be known)."""
        value = self.marker(Marker(self.top, None, page_size=page.uncompressed_size, why=why))
        one = _INT.pack(len(value)) + value
        per_page = max(1, NEW_PAGE_BYTES // len(one))
        left = page.num_values
        while left:
            n = min(left, per_page)
            self.write_data(bytearray([self.max_def]) * n, one * n, n)
            left -= n

    def read_value(self, body: PageBody) -> bytes:
        """The next PLAIN byte array of ``body``: itself, or a marker when it is over the
        limit (only its excerpt read; the rest passed without being held)."""
        n = _INT.unpack(body.read(4))[0]
        if n <= self.max_record:
            return body.read(n)
        head = body.read(min(n, EXCERPT_BYTES))
        body.skip(n - len(head))
        return self.marker(Marker(self.top, n, head))

    def dictionary(self, page: Page, budget: int) -> bool:
        """Rewrites a dictionary page over the limit; False if it cannot be held."""
        if page.encoding not in (PLAIN, PLAIN_DICTIONARY):
            return False
        body = PageBody(self.f, page.body_offset, page.compressed_size, self.codec)
        out = bytearray()
        before = len(self.markers)
        for _ in range(page.num_values):
            value = self.read_value(body)
            out += _INT.pack(len(value)) + value
            if len(out) > budget:
                return False
        if len(self.markers) == before and max(page.compressed_size,
                                               page.uncompressed_size) <= budget:
            self.keep(page)  # nothing over the limit in it, and pyarrow may hold it
        else:
            self.write_page(DICTIONARY_PAGE, bytes(out), page.num_values)
        return True

    def plain_page(self, page: Page) -> None:
        """Rewrites a PLAIN data page over the limit into pages of about 1 MiB."""
        width = bit_width(self.max_def)
        if page.num_values > self.budget:  # one byte per level is held below
            raise PageError(f"{page.num_values:,} values in one page")
        if page.kind == DATA_PAGE:
            body = PageBody(self.f, page.body_offset, page.compressed_size, self.codec)
            levels = None
            if self.max_def:
                if page.def_level_encoding != RLE:
                    raise PageError("levels in the deprecated BIT_PACKED encoding")
                size = _INT.unpack(body.read(4))[0]
                if size > self.budget:
                    raise PageError("levels larger than the page budget")
                levels = decode_levels(body.read(size), width, page.num_values)
        else:
            if page.rep_levels_size:
                raise PageError("repetition levels in a flat column")
            levels = None
            if self.max_def:
                if page.def_levels_size > self.budget:
                    raise PageError("levels larger than the page budget")
                self.f.seek(page.body_offset)
                raw = self.f.read(page.def_levels_size)
                levels = decode_levels(raw, width, page.num_values)
            skip = page.def_levels_size + page.rep_levels_size
            body = PageBody(self.f, page.body_offset + skip, page.compressed_size - skip,
                            self.codec if page.is_compressed else "UNCOMPRESSED")
        out_levels = bytearray()
        out = bytearray()
        for slot in range(page.num_values):
            level = levels[slot] if levels is not None else self.max_def
            if level == self.max_def:
                value = self.read_value(body)
                out += _INT.pack(len(value)) + value
            out_levels.append(level)
            if len(out) >= NEW_PAGE_BYTES:
                self.write_data(out_levels, out, len(out_levels))
                out_levels, out = bytearray(), bytearray()
        if out_levels:
            self.write_data(out_levels, out, len(out_levels))


def rebuild_chunk(f: BinaryIO, spill: _Spill, pages: list[Page], codec: str, max_def: int,
                  top: int, max_record: int, token: bytes,
                  markers: dict[bytes, Marker]) -> _Chunk:
    r = _Rebuilder(f, spill, codec, max_def, top, max_record, token, markers)
    budget = page_budget(max_record)
    unusable = None  # why the dictionary cannot be used, if it cannot
    dictionary = pages[0] if pages and pages[0].kind == DICTIONARY_PAGE else None
    if dictionary is not None:
        if _oversized(dictionary, max_record):
            try:
                if not r.dictionary(dictionary, budget):
                    unusable = (f"its dictionary page ({dictionary.uncompressed_size:,} bytes) "
                                f"holds more than {budget:,} bytes of values under the limit")
            except PageError as exc:
                unusable = (f"its dictionary page ({dictionary.uncompressed_size:,} bytes) "
                            f"could not be read ({exc})")
        else:
            r.keep(dictionary)
    for page in pages:
        if not page.is_data:
            continue  # the dictionary (done) and index pages (readers skip them)
        if page.encoding in (PLAIN_DICTIONARY, RLE_DICTIONARY) and unusable:
            r.cut_page(page, unusable)
        elif not _too_large(page, max_record, budget):
            r.keep(page)
        elif page.encoding == PLAIN:
            mark = r.chunk.mark()
            try:
                r.plain_page(page)
            except PageError as exc:
                r.chunk.undo(mark)  # the pages written for it (their spill bytes unused)
                r.cut_page(page, f"its page of {page.uncompressed_size:,} bytes could not be "
                                 f"read ({exc})")
        else:
            r.cut_page(page, f"its page of {page.uncompressed_size:,} bytes is "
                             f"{_ENCODINGS.get(page.encoding, str(page.encoding))}-encoded, "
                             "which is not read in pieces here")
    return r.chunk


_ENCODINGS = {0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED",
              5: "DELTA_BINARY_PACKED", 6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY",
              8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT"}


# ---------------------------------------------------------------------------------------
# The virtual file
# ---------------------------------------------------------------------------------------
def _read_footer(f: BinaryIO) -> tuple[bytes, int]:
    """(footer bytes, where the footer starts)."""
    size = f.seek(0, io.SEEK_END)
    if size < 12:
        raise PageError("not a Parquet file")
    f.seek(size - 8)
    tail = f.read(8)
    if tail[4:] != b"PAR1":
        raise PageError("not a plain Parquet footer (encrypted or damaged)")
    length = _INT.unpack(tail[:4])[0]
    if length > size - 12:
        raise PageError("footer larger than the file")
    f.seek(size - 8 - length)
    return f.read(length), size - 8 - length


def _spans(data: bytes | memoryview, start: int) -> dict[int, tuple[int, bytes]]:
    r = CompactReader(data, start)
    return {fid: (ctype, bytes(r.data[s:e])) for fid, ctype, s, e in r.struct_spans()}


def _items(value: bytes) -> list[bytes]:
    r = CompactReader(value)
    return [value[s:e] for s, e in r.list_items()]


def _column_chunk(raw: bytes, chunk: _Chunk, base: int) -> bytes:
    """The ColumnChunk struct for a rebuilt chunk starting at virtual offset ``base``:
    the original's type, path and codec, new offsets and sizes, no statistics or indexes
    (they described the old pages)."""
    outer = _spans(raw, 0)
    if 8 in outer or 9 in outer:
        raise PageError("an encrypted column")
    meta = _spans(outer[3][1], 0)
    w = CompactWriter()
    w.begin()
    if 1 in outer:
        w.raw(1, *outer[1])
    w.i64(2, base)
    w.begin(3)
    w.raw(1, *meta[1])
    w.i32_list(2, sorted(chunk.encodings | {RLE}))
    w.raw(3, *meta[3])
    w.raw(4, *meta[4])
    w.i64(5, chunk.num_values)
    w.i64(6, chunk.uncompressed)
    w.i64(7, chunk.size)
    if 8 in meta:
        w.raw(8, *meta[8])
    w.i64(9, base + (chunk.first_data_at or 0))
    if chunk.dictionary_at is not None:
        w.i64(11, base + chunk.dictionary_at)
    w.end()
    w.end()
    return w.getvalue()


class VirtualFile(io.RawIOBase):
    """Read-only file made of segments: ('orig', offset, length) of the original file,
    ('spill', offset, length) of the spill file, or ('bytes', data)."""

    def __init__(self, original: int, spill: int, segments: list[tuple]) -> None:
        super().__init__()
        self._fds = {"orig": original, "spill": spill}
        self._segments = []
        pos = 0
        for seg in segments:
            length = len(seg[1]) if seg[0] == "bytes" else seg[2]
            self._segments.append((pos, length, seg))
            pos += length
        self._size, self._pos = pos, 0
        self._starts = [start for start, _, _ in self._segments]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._size - self._pos
        out = bytearray()
        while n > 0 and self._pos < self._size:
            start, length, seg = self._segments[bisect_right(self._starts, self._pos) - 1]
            within = self._pos - start
            take = min(n, length - within)
            if seg[0] == "bytes":
                data = seg[1][within:within + take]
            else:
                data = os.pread(self._fds[seg[0]], take, seg[1] + within)
                if len(data) != take:
                    raise OSError("evidence file changed while it was read")
            out += data
            self._pos += take
            n -= take
        return bytes(out)


@dataclass
class Rebuilt:
    """A row group rebuilt: open ``parquet()`` and read its row group 0; markers say what
    each marker value in the rebuilt columns (``columns``: top-level fields) stands for."""
    file: VirtualFile
    markers: dict[bytes, Marker]
    columns: set[int]
    spill: _Spill

    def parquet(self, buffer_size: int) -> pq.ParquetFile:
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.ParquetFile(pa.PythonFile(self.file, mode="r"), buffer_size=buffer_size,
                              pre_buffer=False)

    def close(self) -> None:
        self.spill.file.close()


def rebuild_row_group(f: BinaryIO, source: pq.ParquetFile, plan: GroupPlan,
                      max_record: int, spill_dir: Path | None) -> Rebuilt:
    """The virtual file for ``plan.group`` with the chunks in ``plan.rebuild`` rebuilt."""
    footer, footer_start = _read_footer(f)
    top = _spans(footer, 0)
    if 8 in top or 9 in top:
        raise PageError("an encrypted file")
    groups = _items(top[4][1])
    if plan.group >= len(groups):
        raise PageError("row group missing from the footer")
    group = _spans(groups[plan.group], 0)
    columns = _items(group[1][1])
    owners = leaf_fields(source.schema_arrow)
    meta = source.metadata.row_group(plan.group)
    spill = _Spill(spill_dir)
    token = b"\x7f\xe2\x9c\x82exhunt-cut:" + secrets.token_hex(8).encode() + b":"
    markers: dict[bytes, Marker] = {}
    segments: list[tuple] = [("orig", 0, footer_start)]
    pos = footer_start
    try:
        for leaf, pages in sorted(plan.rebuild.items()):
            chunk = rebuild_chunk(f, spill, pages, meta.column(leaf).compression,
                                  source.schema.column(leaf).max_definition_level,
                                  owners[leaf], max_record, token, markers)
            columns[leaf] = _column_chunk(columns[leaf], chunk, pos)
            segments += chunk.segments
            pos += chunk.size
        w = CompactWriter()
        w.begin()
        for fid, (ctype, value) in sorted(group.items()):
            if fid == 1:
                w.raw_list(1, T_STRUCT, columns)
            else:
                w.raw(fid, ctype, value)
        w.end()
        row_group = w.getvalue()
        w = CompactWriter()
        w.begin()
        for fid, (ctype, value) in sorted(top.items()):
            if fid == 3:
                w.i64(3, plan.rows)
            elif fid == 4:
                w.raw_list(4, T_STRUCT, [row_group])
            else:
                w.raw(fid, ctype, value)
        w.end()
        new_footer = w.getvalue()
        spill.file.flush()
        segments += [("bytes", new_footer + _INT.pack(len(new_footer)) + b"PAR1")]
        return Rebuilt(VirtualFile(f.fileno(), spill.file.fileno(), segments), markers,
                       {owners[leaf] for leaf in plan.rebuild}, spill)
    except BaseException:
        spill.file.close()
        raise


__all__ = ["GroupPlan", "Marker", "Rebuilt", "VirtualFile", "is_text_type", "leaf_fields",
           "page_budget", "plan_row_group", "rebuild_row_group"]
