"""The Parquet page-header reader (engine/evidence/parquet_pages.py) against pyarrow's own
files and metadata: DataPage v1 and v2, dictionary pages, every codec pyarrow writes,
nulls; the streaming page bodies against pyarrow's own decompression; hostile headers
fail as PageError, never as a crash or an unbounded read."""
from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from engine.evidence.parquet_pages import (
    DATA_PAGE, DATA_PAGE_V2, DICTIONARY_PAGE, STREAMABLE_CODECS, CompactReader, CompactWriter,
    PageBody, PageError, column_chunk_range, decode_levels, encode_levels, parse_page_header,
    read_page_header, walk_column_chunk,
)

CODECS = ["snappy", "zstd", "gzip", "none", "brotli", "lz4"]


def _table(rows: int, seed: int) -> pa.Table:
    rng = random.Random(seed)
    text = [None if rng.random() < 0.2 else os.urandom(rng.randint(0, 120)).hex()
            for _ in range(rows)]
    return pa.table({
        "text": text,  # nulls, mostly distinct
        "few": [rng.choice(["GET", "POST", None]) for _ in range(rows)],  # dictionary-friendly
        "n": pa.array([rng.randint(0, 1 << 40) for _ in range(rows)], pa.int64()),
        "req": pa.array(["x" * rng.randint(0, 5) for _ in range(rows)], pa.string()),
    }, schema=pa.schema([pa.field("text", pa.string()), pa.field("few", pa.string()),
                         pa.field("n", pa.int64()), pa.field("req", pa.string(), False)]))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[tuple[str, str, bool], Path]:
    folder = tmp_path_factory.mktemp("pages")
    table = _table(6000, 1)
    out = {}
    for codec in CODECS:
        for version in ("1.0", "2.0"):
            for dictionary in (True, False):
                path = folder / f"{codec}-{version}-{dictionary}.parquet"
                pq.write_table(table, path, compression=codec, data_page_version=version,
                               use_dictionary=dictionary, data_page_size=8000,
                               row_group_size=2500)
                out[codec, version, dictionary] = path
    return out


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
def test_the_pages_walked_add_up_to_pyarrows_metadata(
        written, codec: str, version: str, dictionary: bool) -> None:
    path = written[codec, version, dictionary]
    meta = pq.ParquetFile(path).metadata
    with open(path, "rb") as f:
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                chunk = meta.row_group(g).column(c)
                start, length = column_chunk_range(chunk)
                pages = walk_column_chunk(f, start, length)
                data = [p for p in pages if p.is_data]
                assert len(data) >= 1
                assert sum(p.num_values for p in data) == chunk.num_values
                assert sum(p.header_size + p.compressed_size for p in pages) == \
                    chunk.total_compressed_size
                assert sum(p.header_size + p.uncompressed_size for p in pages) == \
                    chunk.total_uncompressed_size
                kinds = {p.kind for p in data}
                assert kinds == {DATA_PAGE if version == "1.0" else DATA_PAGE_V2}
                has_dict = pages[0].kind == DICTIONARY_PAGE
                assert has_dict == chunk.has_dictionary_page
                assert [p.kind for p in pages[1:]].count(DICTIONARY_PAGE) == 0
                if has_dict:
                    assert pages[0].offset == chunk.dictionary_page_offset
                    assert data[0].offset == chunk.data_page_offset
                names = {0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 8: "RLE_DICTIONARY"}
                assert {names[p.encoding] for p in pages} <= set(chunk.encodings)
                if version == "2.0":
                    assert sum(p.num_nulls for p in data) == chunk.statistics.null_count
                    assert all(p.num_rows == p.num_values for p in data)  # flat columns
                # Consecutive pages tile the chunk: each starts where the last ended.
                assert all(a.end == b.offset for a, b in zip(pages, pages[1:]))


@pytest.mark.parametrize("codec", [c for c in CODECS if c.upper() in STREAMABLE_CODECS
                                   or c == "none"])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_page_bodies_read_in_pieces_equal_pyarrows_decompression(
        written, codec: str, version: str) -> None:
    path = written[codec, version, True]
    meta = pq.ParquetFile(path).metadata
    name = {"none": "UNCOMPRESSED"}.get(codec, codec.upper())
    rng = random.Random(3)
    with open(path, "rb") as f:
        for c in range(meta.num_columns):
            chunk = meta.row_group(0).column(c)
            for page in walk_column_chunk(f, *column_chunk_range(chunk)):
                levels = page.def_levels_size + page.rep_levels_size
                f.seek(page.body_offset + levels)
                packed = f.read(page.compressed_size - levels)
                size = page.uncompressed_size - levels
                compressed = name != "UNCOMPRESSED" and page.is_compressed
                want = (pa.Codec(codec).decompress(packed, size).to_pybytes() if compressed
                        else packed)
                body = PageBody(f, page.body_offset + levels, len(packed),
                                name if compressed else "UNCOMPRESSED")
                got, left = [], size
                while left:  # reads and skips of random sizes
                    n = min(left, rng.randint(1, 3000))
                    if rng.random() < 0.3:
                        body.skip(n)
                        got.append(want[size - left:size - left + n])
                    else:
                        got.append(body.read(n))
                    left -= n
                assert b"".join(got) == want
                assert body.rest() == 0


def test_a_page_header_written_here_reads_back_and_pyarrow_agrees(tmp_path: Path) -> None:
    """A dictionary page and a data page v1 built with CompactWriter, in a file whose
    footer pyarrow wrote: pyarrow reads the values back (checked in test_parquet_salvage
    too); here, only that the header round-trips."""
    w = CompactWriter()
    w.begin()
    w.i32(1, DATA_PAGE)
    w.i32(2, 123_456_789)
    w.i32(3, 42)
    w.begin(5)
    w.i32(1, 1000)
    w.i32(2, 0)
    w.i32(3, 3)
    w.i32(4, 3)
    w.end()
    w.end()
    page = parse_page_header(w.getvalue() + b"body", 100)
    assert (page.kind, page.uncompressed_size, page.compressed_size, page.num_values,
            page.header_size, page.body_offset) == (
        DATA_PAGE, 123_456_789, 42, 1000, len(w.getvalue()), 100 + len(w.getvalue()))


@given(st.lists(st.tuples(st.integers(1, 300), st.sampled_from(["i32", "i64", "bin", "bool",
                                                                 "struct"]),
                          st.integers(-(1 << 62), 1 << 62)), max_size=12, unique_by=lambda t: t[0]))
def test_compact_structs_round_trip_and_spans_copy_verbatim(fields) -> None:
    fields = sorted(fields)
    w = CompactWriter()
    w.begin()
    for fid, kind, value in fields:
        if kind == "i32":
            w.i32(fid, value & 0x7FFFFFFF)
        elif kind == "i64":
            w.i64(fid, value)
        elif kind == "bin":
            w.binary(fid, str(value).encode())
        elif kind == "bool":
            w.boolean(fid, value > 0)
        else:
            w.begin(fid)
            w.i64(1, value)
            w.end()
    w.end()
    data = w.getvalue()
    got = CompactReader(data).struct()
    want = {}
    for fid, kind, value in fields:
        want[fid] = {"i32": value & 0x7FFFFFFF, "i64": value, "bin": str(value).encode(),
                     "bool": value > 0, "struct": {1: value}}[kind]
    assert got == want
    # Copying every field verbatim gives the same bytes back.
    copy = CompactWriter()
    copy.begin()
    reader = CompactReader(data)
    for fid, ctype, start, end in reader.struct_spans():
        copy.raw(fid, ctype, data[start:end])
    copy.end()
    assert copy.getvalue() == data and reader.pos == len(data)


@pytest.mark.parametrize("data", [
    b"", b"\x15", b"\x15\x00", b"\x15\x04\x15",  # cut short
    b"\x15\x04\x15\x02\x15\x02\x00",  # no page-type header
    b"\x15\x00\x15\x02\x15\x02\x00",  # a data page without its DataPageHeader
    b"\x15\x06\x15\x03\x15\x02\x00",  # v2 without its header
    b"\x15\x00\x15\x01\x15\x02\x00",  # negative size
    b"\x19" + b"\x1c" * 100_000,  # lists of structs nested deep
    b"\x18\xff\xff\xff\xff\x0f",  # a binary claiming 4 GB
    b"\x1d",  # a compact type that does not exist
])
def test_hostile_page_headers_are_page_errors(data: bytes) -> None:
    with pytest.raises(PageError):
        parse_page_header(data)


def test_a_header_is_read_with_bounded_windows_and_never_past_its_chunk() -> None:
    class Counting(io.BytesIO):
        largest = 0

        def read(self, n=-1):
            Counting.largest = max(Counting.largest, n)
            return super().read(n)

    # A header whose statistics hold a 3 MB binary: found, read in growing windows.
    w = CompactWriter()
    w.begin()
    w.i32(1, DATA_PAGE)
    w.i32(2, 10)
    w.i32(3, 10)
    w.begin(5)
    w.i32(1, 1)
    w.i32(2, 0)
    w.begin(5)
    w.binary(1, b"m" * 3_000_000)
    w.end()
    w.end()
    w.end()
    header = w.getvalue()
    f = Counting(header + b"x" * 10)
    page = read_page_header(f, 0, len(header) + 10)
    assert page.header_size == len(header) and page.num_values == 1
    assert Counting.largest <= 8 * len(header)
    # The same header in a chunk said to end earlier: cut, not read past.
    with pytest.raises(PageError):
        read_page_header(Counting(header), 0, 1000)
    # Pages that do not tile their chunk.
    with pytest.raises(PageError):
        walk_column_chunk(Counting(header + b"x" * 10), 0, len(header) + 5)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["random", "run", "repeat"]), st.integers(0, 70_000),
                          st.integers(1, 90)), max_size=12),
       st.integers(0, 1000))
def test_snappy_pieces_equal_the_data_whatever_it_holds(parts, seed: int) -> None:
    rng = random.Random(seed)
    data = b"".join(
        os.urandom(n) if kind == "random" else bytes([n % 256]) * n if kind == "run"
        else os.urandom(width) * (n // width) for kind, n, width in parts)
    packed = pa.Codec("snappy").compress(data).to_pybytes()
    body = PageBody(io.BytesIO(b"pad" + packed), 3, len(packed), "SNAPPY")
    got, left = [], len(data)
    while left:
        n = min(left, rng.randint(1, 100_000))
        got.append(body.read(n))
        left -= n
    assert b"".join(got) == data and body.rest() == 0


def test_a_planted_snappy_run_is_passed_quickly_and_damaged_snappy_is_a_page_error() -> None:
    import time

    packed = pa.Codec("snappy").compress(b"A" * (128 << 20)).to_pybytes()
    started = time.monotonic()
    PageBody(io.BytesIO(packed), 0, len(packed), "SNAPPY").skip(128 << 20)
    assert time.monotonic() - started < 5  # identical copies merged: ~0.1 s
    for damaged in (packed[:len(packed) // 2],  # cut
                    b"\x10\x0a\x00\x00",  # a copy from before the start
                    b"\x05\x10abcd"):  # a literal past the stated length
        with pytest.raises(PageError):
            PageBody(io.BytesIO(damaged), 0, len(damaged), "SNAPPY").rest()


@given(st.lists(st.integers(0, 3), max_size=3000), st.sampled_from([1, 2]))
def test_levels_round_trip(levels, width: int) -> None:
    levels = bytes(min(v, (1 << width) - 1) for v in levels)
    assert bytes(decode_levels(encode_levels(levels, width), width, len(levels))) == levels


def test_levels_decode_pyarrows_bit_packed_runs(tmp_path: Path) -> None:
    """Alternating nulls make pyarrow write bit-packed definition levels: decoded here,
    they give the column's validity."""
    rng = random.Random(5)
    values = [None if rng.random() < 0.5 else "v" for _ in range(5000)]
    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"s": values}), path, compression="none", use_dictionary=False,
                   data_page_version="2.0")
    meta = pq.ParquetFile(path).metadata
    got = bytearray()
    with open(path, "rb") as f:
        for page in walk_column_chunk(f, *column_chunk_range(meta.row_group(0).column(0))):
            f.seek(page.body_offset)
            got += decode_levels(f.read(page.def_levels_size), 1, page.num_values)
    assert list(got) == [0 if v is None else 1 for v in values]


def test_a_map_whose_key_is_a_list_is_a_page_error() -> None:
    # Found by mutating pages: a damaged header decoded a list where a map key was.
    data = bytes([0x1B, 0x01, 0x99, 0x19, 0x00, 0x00])  # field 1: map<list, list>
    with pytest.raises(PageError):
        CompactReader(data).struct()
