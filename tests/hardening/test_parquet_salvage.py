"""Parquet row groups with pages over the record limit (engine/evidence/parquet_salvage.py,
read through exports._parquet_batches): every record without a value over the limit loads
with exactly its values, each record with one is a bad record naming its number, column,
size and first bytes -- for every codec, page version and encoding pyarrow writes.

Small limits (4 KiB) keep these in-process and fast; test_hostile_sizes.py runs the big
ones in a child process and measures its memory."""
from __future__ import annotations

import base64
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from engine.evidence.exports import _parquet_batches

LIMIT = 4096


def read(path: Path, tmp: Path, limit: int = LIMIT) -> tuple[list[dict], list[tuple[int, str]],
                                                              list[str]]:
    bad: list[tuple[int, str]] = []
    notes: list[str] = []
    names, reader = _parquet_batches(path, limit, bad, notes, spill_dir=tmp / "spill")
    rows = reader.read_all().to_pylist()
    return ([{"_rec": r["_rec"], **{names[i]: r[f"c{i}"] for i in range(len(names))}}
             for r in rows], bad, notes)


def giant(n: int, seed: int) -> str:
    """Random bytes in base64: compresses poorly, like a planted binary blob."""
    return "/owa/" + base64.b64encode(random.Random(seed).randbytes(n * 3 // 4)).decode()


def records(rows: int, giants: dict[int, str], seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        stem = None if rng.random() < 0.1 else f"/owa/auth/{rng.randint(0, 10**9)}.js"
        out.append({"TimeGenerated": f"2021-03-01T00:00:{i % 60:02d}Z",
                    "csUriStem": giants.get(i, stem), "n": i,
                    "cIP": rng.choice(["1.2.3.4", "5.6.7.8", None])})
    return out


def write(path: Path, recs: list[dict], **options) -> None:
    table = pa.table({k: [r[k] for r in recs] for k in recs[0]})
    pq.write_table(table, path, **options)


def expect(recs: list[dict], lost: set[int]) -> list[dict]:
    return [{"_rec": i + 1, **r} for i, r in enumerate(recs) if i not in lost]


# Giants at a row group's first and last record, in the middle, and the same value twice
# (one dictionary entry that two records point to).
GIANTS = {0: giant(20_000, 1), 777: giant(9_000, 2), 1499: giant(50_000, 3),
          1800: giant(4_097 - 5, 4), 2100: giant(4_097 - 5, 4), 2999: giant(30_000, 5)}


@pytest.mark.parametrize("codec", ["snappy", "zstd", "gzip", "none", "brotli"])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
def test_only_the_records_holding_a_value_over_the_limit_are_lost(
        tmp_path: Path, codec: str, version: str, dictionary: bool) -> None:
    recs = records(3000, GIANTS)
    path = tmp_path / "x.parquet"
    write(path, recs, compression=codec, data_page_version=version, use_dictionary=dictionary,
          row_group_size=1500, data_page_size=16_000)
    rows, bad, notes = read(path, tmp_path)
    assert rows == expect(recs, set(GIANTS))
    assert [b[0] for b in bad] == [i + 1 for i in sorted(GIANTS)]
    for (number, text), i in zip(bad, sorted(GIANTS)):
        value = GIANTS[i]
        assert text.startswith(f"\u2702[record_{number}_of_{len(value)}_bytes_over_the_4096")
        assert f"column csUriStem: {value[:80]}]" in text, text
    assert not [n for n in notes if "not decoded" in n]


def test_pages_over_the_limit_without_a_long_value_lose_nothing(tmp_path: Path) -> None:
    # 3 KB values under a 4 KiB limit: pyarrow's pages hold up to 1,024 of them (3 MB),
    # each over the limit, so each is rewritten into pages of about 1 MiB.
    rng = random.Random(2)
    recs = records(2500, {})
    for r in recs:
        r["csUriStem"] = rng.randbytes(1500).hex()
    path = tmp_path / "x.parquet"
    write(path, recs, compression="snappy", use_dictionary=False)
    rows, bad, _ = read(path, tmp_path)
    assert (rows, bad) == (expect(recs, set()), [])


def test_a_dictionary_with_a_giant_among_a_few_distinct_values(tmp_path: Path) -> None:
    # Repeated values (one dictionary entry each) with a giant among them.
    recs = records(2000, {})
    for i, r in enumerate(recs):
        r["csUriStem"] = ["/a", "/b", None, "/c"][i % 4]
    recs[1000]["csUriStem"] = giant(100_000, 9)
    path = tmp_path / "x.parquet"
    write(path, recs, compression="zstd")
    rows, bad, _ = read(path, tmp_path)
    assert rows == expect(recs, {1000}) and [b[0] for b in bad] == [1001]


def test_a_required_column_and_a_binary_column(tmp_path: Path) -> None:
    recs = records(1200, {})
    blobs = [random.Random(i).randbytes(30) for i in range(1200)]
    blobs[600] = os.urandom(10_000)
    stems = [r["csUriStem"] or "-" for r in recs]
    stems[3] = giant(8_000, 3)
    table = pa.table({"csUriStem": pa.array(stems, pa.string()), "blob": blobs},
                     schema=pa.schema([pa.field("csUriStem", pa.string(), False),
                                       pa.field("blob", pa.binary())]))
    path = tmp_path / "x.parquet"
    pq.write_table(table, path, use_dictionary=["blob"])
    rows, bad, _ = read(path, tmp_path)
    assert [b[0] for b in bad] == [4, 601]
    assert [r["_rec"] for r in rows] == [i + 1 for i in range(1200) if i not in (3, 600)]
    assert all(r["blob"] == blobs[r["_rec"] - 1] and r["csUriStem"] == stems[r["_rec"] - 1]
               for r in rows)
    assert "column blob: " in bad[1][1]


@pytest.mark.parametrize("arrow_type", [pa.large_string(), pa.string_view(),
                                        pa.dictionary(pa.int32(), pa.string()),
                                        pa.large_binary()])
def test_every_arrow_text_type_stored_in_the_file(tmp_path: Path, arrow_type) -> None:
    # pyarrow stores the Arrow type with the file and reads it back as that type: the
    # markers must be found in each.
    recs = records(2000, {5: giant(10_000, 1), 1500: giant(6_000, 2)})
    values = [r["csUriStem"] for r in recs]
    if pa.types.is_large_binary(arrow_type):
        values = [v.encode() if v is not None else None for v in values]
    table = pa.table({"csUriStem": pa.array(values, pa.large_string() if not
                                            pa.types.is_large_binary(arrow_type)
                                            else arrow_type).cast(arrow_type),
                      "n": [r["n"] for r in recs]})
    path = tmp_path / "x.parquet"
    pq.write_table(table, path)
    assert pq.ParquetFile(path).schema_arrow.field(0).type == arrow_type
    rows, bad, _ = read(path, tmp_path)
    assert [b[0] for b in bad] == [6, 1501]
    assert [r["n"] for r in rows] == [i for i in range(2000) if i not in (5, 1500)]
    assert [r["csUriStem"] for r in rows] == [v for i, v in enumerate(values) if i not in (5, 1500)]


def test_a_page_in_another_encoding_costs_the_records_it_covers(tmp_path: Path) -> None:
    # DELTA_LENGTH_BYTE_ARRAY is not read in pieces here: the page over the limit is not
    # decoded, its records are bad records ("in_a_page"), every other record loads.
    recs = records(3000, {1200: giant(20_000, 7)})
    path = tmp_path / "x.parquet"
    write(path, recs, use_dictionary=False, data_page_size=2000, write_batch_size=64,
          column_encoding={"csUriStem": "DELTA_LENGTH_BYTE_ARRAY"})
    rows, bad, notes = read(path, tmp_path)
    lost = {number - 1 for number, _ in bad}
    assert 1200 in lost and len(lost) <= 64  # one pyarrow write batch at most
    assert lost == set(range(min(lost), max(lost) + 1))
    assert rows == expect(recs, lost)
    assert all(text.startswith(f"\u2702[record_{n}_not_decoded_over_the_4096-byte_limit")
               and "DELTA_LENGTH_BYTE_ARRAY-encoded" in text for n, text in bad)
    [note] = [n for n in notes if "DELTA_LENGTH_BYTE_ARRAY-encoded" in n]
    assert note.startswith(f"{len(lost):,} record(s) from record {min(lost) + 1:,} on left out")


def test_a_codec_without_a_streaming_decoder_is_decoded_within_the_page_budget(
        tmp_path: Path) -> None:
    # LZ4 pages are not read in pieces here: under the page budget (64 MiB) pyarrow decodes
    # them and the value over the limit is found after decoding.
    recs = records(3000, {1700: giant(20_000, 8)})
    path = tmp_path / "x.parquet"
    write(path, recs, compression="lz4", row_group_size=1500)
    rows, bad, _ = read(path, tmp_path)
    assert rows == expect(recs, {1700}) and [b[0] for b in bad] == [1701]


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> int:
    from engine.evidence import parquet_salvage

    monkeypatch.setattr(parquet_salvage, "PAGE_BUDGET", 16_384)
    return 16_384


def test_over_the_page_budget_a_column_that_cannot_be_rebuilt_is_cut_and_the_records_kept(
        tmp_path: Path, small_budget: int) -> None:
    recs = records(3000, {1700: giant(20_000, 8)})
    path = tmp_path / "x.parquet"
    write(path, recs, compression="lz4", row_group_size=500)  # pages of ~12 KB but one
    rows, bad, notes = read(path, tmp_path)
    assert [r["_rec"] for r in rows] == list(range(1, 3001))
    kept = [r for r in rows if not 1501 <= r["_rec"] <= 2000]
    assert kept == [r for r in expect(recs, set()) if not 1501 <= r["_rec"] <= 2000]
    assert all(r["csUriStem"] == "\u2702[not_decoded_over_the_4096-byte_limit]"
               for r in rows[1500:2000])
    assert all(r["n"] == r["_rec"] - 1 for r in rows)
    assert [b[0] for b in bad] == [1501] and "records_1501-2000" in bad[0][1]
    [note] = [n for n in notes if "not decoded" in n]
    assert note.startswith("records 1,501-2,000 (one row group): column csUriStem not decoded "
                           "(a page of ") and note.endswith(
        "bytes in a column compressed with LZ4 (not read in pieces here); "
        f"{pq.ParquetFile(path).metadata.row_group(3).column(1).total_uncompressed_size:,} "
        "bytes in this row group), more than can be read within the 4,096-byte record limit; "
        "the records are loaded without it"), note


def test_a_nested_column_over_the_page_budget_is_cut_for_its_row_group(
        tmp_path: Path, small_budget: int) -> None:
    lists = [[f"e{i}"] for i in range(2000)]
    lists[10] = ["x", giant(50_000, 1)]
    table = pa.table({"csUriStem": [f"/s{i}" for i in range(2000)], "Entities": lists})
    path = tmp_path / "x.parquet"
    pq.write_table(table, path, row_group_size=1000)
    rows, bad, notes = read(path, tmp_path)
    assert [r["csUriStem"] for r in rows] == [f"/s{i}" for i in range(2000)]
    assert all(r["Entities"] is None for r in rows[:1000])  # not text: null, not a marker
    assert [r["Entities"] for r in rows[1000:]] == lists[1000:]
    assert [b[0] for b in bad] == [1] and "a nested column" in notes[0]


def test_a_dictionary_over_the_page_budget_costs_the_records_that_use_it(
        tmp_path: Path, small_budget: int) -> None:
    # 1,500 distinct values of ~50 bytes (75 KB of dictionary) with a giant among them:
    # rebuilt, the dictionary would still be over the (patched) 16 KiB budget, so the
    # records of its dictionary-encoded pages are bad records; a PLAIN page after the
    # writer's fallback would load.
    recs = records(1500, {700: giant(20_000, 3)})
    path = tmp_path / "x.parquet"
    write(path, recs, compression="zstd", dictionary_pagesize_limit=1 << 30)
    rows, bad, notes = read(path, tmp_path)
    lost = {n - 1 for n, _ in bad}
    assert lost == {i for i, r in enumerate(recs) if r["csUriStem"] is not None} | {700} or \
        lost == set(range(1500))  # nulls are in the same pages: they are records too
    assert rows == expect(recs, lost)
    assert "its dictionary page" in bad[0][1] and "16,384 bytes" in bad[0][1]


def test_a_damaged_page_header_inside_a_big_chunk_cuts_only_that_column(
        tmp_path: Path) -> None:
    recs = records(2000, {})
    for r in recs:
        r["csUriStem"] = random.Random(r["n"]).randbytes(40).hex()
    path = tmp_path / "x.parquet"
    write(path, recs, compression="none", use_dictionary=False)
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(0).column(1)
    data = bytearray(path.read_bytes())
    data[chunk.data_page_offset] = 0xFF  # the first page header: not a struct any more
    path.write_bytes(bytes(data))
    # The chunk (160 KB) is over the 1 KiB limit and its pages cannot be walked: the
    # column is cut; the other columns (their pages over the limit too) load exactly.
    rows, bad, notes = read(path, tmp_path, limit=1024)
    assert [r["n"] for r in rows] == list(range(2000))
    assert [r["TimeGenerated"] for r in rows] == [r["TimeGenerated"] for r in recs]
    assert [b[0] for b in bad] == [1] and "could not be walked" in notes[0]


@pytest.mark.parametrize("codec", ["snappy", "zstd", "uncompressed"])
def test_a_duckdb_written_export(tmp_path: Path, codec: str) -> None:
    # DuckDB writes PLAIN_DICTIONARY data pages of 100,000 indices (over the 4 KiB limit,
    # but indices hold no values: they stay pyarrow's) and a dictionary with the giants.
    import duckdb

    path = tmp_path / "x.parquet"
    duckdb.execute(
        "COPY (SELECT i AS n, CASE WHEN i IN (7, 30000, 99999) THEN repeat('Z', 50000) || i "
        "WHEN i % 10 = 0 THEN NULL ELSE 'v' || (i % 5000) END AS s FROM range(100000) t(i)) "
        f"TO '{path}' (FORMAT parquet, COMPRESSION {codec})")
    rows, bad, notes = read(path, tmp_path)
    assert [b[0] for b in bad] == [8, 30001, 100000] and "column s: ZZZZ" in bad[0][1]
    assert [(r["n"], r["s"]) for r in rows] == [
        (i, None if i % 10 == 0 else f"v{i % 5000}") for i in range(100000)
        if i not in (7, 30000, 99999)]
    assert not notes


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 2500), giants=st.sets(st.integers(0, 2499), max_size=4),
       codec=st.sampled_from(["snappy", "zstd", "gzip", "none"]),
       version=st.sampled_from(["1.0", "2.0"]), dictionary=st.booleans(),
       page=st.sampled_from([1024, 8192, 1 << 20]), group=st.sampled_from([100, 1000, 5000]),
       nulls=st.floats(0, 1), seed=st.integers(0, 99))
def test_any_writer_layout_keeps_exactly_the_records_without_a_long_value(
        tmp_path_factory, rows, giants, codec, version, dictionary, page, group, nulls,
        seed) -> None:
    tmp = tmp_path_factory.mktemp("layout")
    rng = random.Random(seed)
    giants = {g for g in giants if g < rows}
    stems = [None if rng.random() < nulls else rng.randbytes(rng.randint(0, 60)).hex()
             for _ in range(rows)]
    for g in giants:
        stems[g] = giant(rng.randint(LIMIT + 1, 30_000), g)
    recs = [{"csUriStem": s, "n": i} for i, s in enumerate(stems)]
    path = tmp / "x.parquet"
    write(path, recs, compression=codec, data_page_version=version,
          use_dictionary=dictionary, data_page_size=page, row_group_size=group)
    got, bad, notes = read(path, tmp)
    assert got == expect(recs, giants)
    assert [b[0] for b in bad] == sorted(g + 1 for g in giants)
    assert not notes


@pytest.mark.parametrize("codec", ["snappy", "zstd", "gzip", "none"])
@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_damaged_pages_of_a_rebuilt_column_fail_as_the_readers_own_errors(
        tmp_path: Path, codec: str, version: str) -> None:
    # Random bytes changed in the column chunk that holds the giants (headers most often):
    # a read either completes or fails with pyarrow's or the OS's error, which the ingest
    # turns into a skipped file's reason; never with an error of this reader's own code.
    recs = records(1500, {3: giant(20_000, 1), 900: giant(9_000, 2)})
    base = tmp_path / "base.parquet"
    write(base, recs, compression=codec, data_page_version=version, row_group_size=1000,
          data_page_size=8000)
    data = base.read_bytes()
    chunk = pq.ParquetFile(base).metadata.row_group(0).column(1)
    lo = min(chunk.dictionary_page_offset or chunk.data_page_offset, chunk.data_page_offset)
    hi = lo + chunk.total_compressed_size
    rng = random.Random(f"{codec}{version}")
    for _ in range(40):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(lo, min(hi, lo + 200) if rng.random() < 0.5 else hi)] = \
                rng.randrange(256)
        path = tmp_path / "damaged.parquet"
        path.write_bytes(bytes(damaged))
        try:  # read_all, not to_pylist: a damaged string need not be UTF-8 any more
            _parquet_batches(path, LIMIT, [], [], spill_dir=tmp_path)[1].read_all()
        except (pa.ArrowException, OSError):
            pass


def test_damaged_data_in_one_row_group_costs_only_that_row_group_from_the_damage_on(
        tmp_path: Path) -> None:
    recs = records(3000, {})
    base = tmp_path / "base.parquet"
    write(base, recs, compression="zstd", row_group_size=1000)  # a data page per chunk
    damaged = bytearray(base.read_bytes())
    chunk = pq.ParquetFile(base).metadata.row_group(1).column(1)  # csUriStem, records 1001-2000
    rng = random.Random(7)
    for at in range(chunk.data_page_offset + 60, chunk.data_page_offset + 260):  # a page body
        damaged[at] = rng.randrange(256)
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(damaged))
    rows, bad, notes = read(path, tmp_path, limit=1 << 20)  # every page under the limit
    [(lost, text)] = bad
    assert 1001 <= lost <= 2000 and text.endswith("]")
    assert f"records_{lost}-2000 not decoded: damaged Parquet data" in text
    assert rows == [r for r in expect(recs, set()) if not lost <= r["_rec"] <= 2000]
    assert any(note.startswith(f"records {lost:,}-2,000 (of one row group) not decoded")
               for note in notes), notes


_ARROW_PEAK = """
import sys
from pathlib import Path
import pyarrow as pa
from engine.evidence.exports import _parquet_batches
names, reader = _parquet_batches(Path(sys.argv[1]), int(sys.argv[2]), [], [], Path(sys.argv[3]))
for batch in reader:
    pass
print(pa.default_memory_pool().max_memory())
"""


@pytest.mark.parametrize("giant_mib", [0, 64])
def test_arrow_never_holds_a_whole_column_chunk_or_a_value_over_the_limit(
        tmp_path: Path, giant_mib: int) -> None:
    # A 48 MiB column chunk of 1 KiB incompressible values, and (second case) a 64 MiB
    # incompressible value among them: the peak of pyarrow's own allocations, in a fresh
    # process, stays far under either. (pyarrow's defaults read the whole chunk: 57 MiB.)
    import subprocess
    import sys

    from tests.hardening.harness import REPO

    rng = random.Random(4)
    values = [base64.b64encode(rng.randbytes(768)).decode() for _ in range(48 * 1024)]
    if giant_mib:
        values[20_000] = base64.b64encode(rng.randbytes(giant_mib * 3 << 18)).decode()
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"csUriStem": values}), path, row_group_size=1 << 20,
                   use_dictionary=False)
    del values
    done = subprocess.run([sys.executable, "-c", _ARROW_PEAK, str(path), str(4 << 20),
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    peak = int(done.stdout.split()[-1])
    assert peak < 24 << 20, f"pyarrow peaked at {peak >> 20} MiB"
