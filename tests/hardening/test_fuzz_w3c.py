"""Raw IIS W3C readers on cut, noisy, huge and hostile files: nothing crashes or hangs, every
file is accounted for, and every good row in a damaged file still loads."""
from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given, strategies as st

from . import corpus, mutate
from .harness import brief, briefs, check_report, column_values, ingest, missing_markers

SEED = 20210302  # fixed: the CI corpus is the same on every run


def _data_lines(text: bytes) -> tuple[int, int]:
    """(complete data lines, data lines incl. a final partial one) of a possibly cut file.

    The reader's contract: blank lines are nothing, ``#`` lines are directives, every other
    line is data that becomes a row or a counted bad line."""
    pieces = text.split(b"\n")
    complete, total = 0, 0
    for index, line in enumerate(pieces):
        line = line.rstrip(b"\r")
        if not line.strip() or line.startswith(b"#"):
            continue
        total += 1
        if index < len(pieces) - 1:
            complete += 1
    return complete, total


def test_a_w3c_file_cut_at_every_byte_keeps_every_complete_row(evidence_dir, case_dir):
    seed = corpus.w3c_header(corpus.W3C_DEFAULT_FIELDS) + "".join(
        corpus.w3c_row(i, corpus.W3C_DEFAULT_FIELDS, stem=f"/owa/{corpus.good_marker('cut', i)}.js")
        + "\n"
        for i in range(3)
    )
    data = seed.encode()
    expected = {}
    for cut in corpus.cut_points(data, sample=15, seed=SEED):
        path = evidence_dir / f"u_ex{cut:05d}.log"
        path.write_bytes(data[:cut])
        expected[path] = (cut, *_data_lines(data[:cut]))

    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    stems = set(column_values(case, "W3CIISLog", "csUriStem"))
    for path, (cut, complete, total) in expected.items():
        entry = entries[str(path)]
        if total:
            assert entry["kind"] == "iis-w3c", (cut, brief(entry))
        assert entry["rows"] >= complete, (cut, brief(entry))
        assert entry["rows"] + entry["bad_lines"] == total, (cut, brief(entry))
    # Every row that was complete in some cut is in the table (the rows are the same three).
    whole_rows = _data_lines(data)[0]
    for i in range(whole_rows):
        assert f"/owa/{corpus.good_marker('cut', i)}.js" in stems


def test_a_crlf_w3c_file_cut_anywhere_keeps_every_complete_row(evidence_dir, case_dir):
    data = corpus.w3c_seed(rows=3, crlf=True)
    expected = {}
    for cut in corpus.cut_points(data, sample=5, seed=SEED)[::2]:
        path = evidence_dir / f"u_ex{cut:05d}.log"
        path.write_bytes(data[:cut])
        expected[path] = _data_lines(data[:cut])
    _case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    for path, (complete, total) in expected.items():
        entry = entries[str(path)]
        assert entry["rows"] >= complete, brief(entry)
        assert entry["rows"] + entry["bad_lines"] == total, brief(entry)


def test_a_gzip_file_cut_at_every_byte_is_loaded_or_skipped_with_a_reason(evidence_dir, case_dir):
    data = corpus.gzip_bytes(corpus.w3c_seed(rows=4))
    for cut in sorted({*random.Random(SEED).sample(range(len(data)), 40), len(data)}):
        (evidence_dir / f"u_ex{cut:05d}.log.gz").write_bytes(data[:cut])
    _case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    full = entries[str(evidence_dir / f"u_ex{len(data):05d}.log.gz")]
    assert (full["kind"], full["rows"], full["bad_lines"]) == ("iis-w3c", 4, 0)
    for entry in entries.values():
        assert entry["rows"] <= 4, entry


def _readable_prefix(gz: bytes) -> bytes:
    """What a forgiving reader can still decompress from a cut gzip file."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        return inflater.decompress(gz)
    except zlib.error:
        return b""


def test_a_cut_gzip_file_still_loads_the_rows_before_the_cut(evidence_dir, case_dir):
    plain = corpus.w3c_header() + corpus.w3c_good_rows("gzcut", 400)
    data = corpus.gzip_bytes(plain.encode())
    cut = len(data) * 2 // 3
    (evidence_dir / "u_ex210302.log.gz").write_bytes(data[:cut])
    complete, _total = _data_lines(_readable_prefix(data[:cut]))
    assert complete > 100  # the test itself: a real prefix is recoverable
    case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert entry["kind"] == "iis-w3c", brief(entry)
    assert entry["rows"] >= complete, entry
    said = " ".join([entry["reason"] or "", *entry.get("notes", [])]).lower()
    assert "cut" in said or "damage" in said, f"a cut gzip file must say so: {brief(entry)}"
    markers = [corpus.good_marker("gzcut", n) for n in range(complete)]
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def _mutation_corpus(root, rng, count: int, *, keep_nul: bool) -> list[str]:
    base = corpus.w3c_seed(rows=5) + corpus.w3c_seed(rows=3, fields=corpus.W3C_DEFAULT_FIELDS)
    all_markers = []
    for n in range(count):
        garbage = mutate.mutate(base, rng)
        if not keep_nul:
            garbage = garbage.replace(b"\x00", b"\x01")
        data, markers = corpus.w3c_sandwich(f"m{n}", garbage)
        name = f"u_ex{n:04d}.log"
        if n % 5 == 0:
            data, name = corpus.gzip_bytes(data), name + ".gz"
        (root / name).write_bytes(data)
        all_markers += markers
    return all_markers


def test_seeded_mutations_never_lose_the_good_rows_around_them(evidence_dir, case_dir):
    markers = _mutation_corpus(evidence_dir, random.Random(SEED), 30, keep_nul=False)
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert all(e["kind"] == "iis-w3c" for e in entries.values()), briefs(
        e for e in entries.values() if e["kind"] != "iis-w3c"
    )
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def test_seeded_mutations_with_nul_bytes_never_lose_the_good_rows_around_them(evidence_dir, case_dir):
    markers = _mutation_corpus(evidence_dir, random.Random(SEED + 7), 20, keep_nul=True)
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert all(e["kind"] == "iis-w3c" for e in entries.values()), briefs(
        e for e in entries.values() if e["kind"] != "iis-w3c"
    )
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def test_a_nul_byte_inside_a_row_does_not_make_the_log_binary(evidence_dir, case_dir):
    data, markers = corpus.w3c_sandwich("nul1", corpus.w3c_row(99).encode().replace(b"/", b"/\x00", 1))
    (evidence_dir / "u_ex210302.log").write_bytes(data)
    case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert entry["kind"] == "iis-w3c", brief(entry)
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def test_a_bad_line_that_is_not_utf8_leaves_the_rest_of_the_log_loaded(evidence_dir, case_dir):
    # Past the widest layout's fields (where the fast read does not look) and not UTF-8.
    line = b"this line fits no layout " + b"f " * 60 + b"\xff\xfe\xc3\x28 x\n"
    data, markers = corpus.w3c_sandwich("badutf", line)
    (evidence_dir / "u_ex210302.log").write_bytes(data)
    case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert (entry["kind"], entry["bad_lines"]) == ("iis-w3c", 1), brief(entry)
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)
    (bad,) = case.bad_lines()
    assert bad.text.startswith("this line fits no layout"), bad


@pytest.mark.parametrize("stray", [
    b"#Software: Microsoft Exchange Server\n",
    b"#Software: Microsoft Windows Firewall\n",
    b"#Fields: date-time,connector-id,event-id,message-id\n",
])
def test_one_stray_directive_mid_file_does_not_reclassify_the_log(evidence_dir, case_dir, stray):
    data, markers = corpus.w3c_sandwich("stray", stray)
    (evidence_dir / "u_ex210302.log").write_bytes(data)
    case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert entry["kind"] == "iis-w3c", brief(entry)
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def test_a_log_whose_tail_a_crash_filled_with_nul_bytes_keeps_its_rows(evidence_dir, case_dir):
    # What NTFS leaves after power loss: the file's last clusters allocated but zeroed.
    rows = corpus.w3c_header() + corpus.w3c_good_rows("nultail", 40)
    (evidence_dir / "u_ex210302.log").write_bytes(rows.encode() + b"\x00" * 65536)
    case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert entry["kind"] == "iis-w3c", brief(entry)
    assert entry["rows"] == 40, brief(entry)
    markers = [corpus.good_marker("nultail", n) for n in range(40)]
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


def test_big_mutations_a_1mb_line_and_10000_fields_do_not_hide_good_rows(evidence_dir, case_dir):
    rng = random.Random(SEED + 1)
    seed = corpus.w3c_seed(rows=4)
    cases = {
        "u_ex_megaline.log": mutate.huge_line(seed, rng),
        "u_ex_fields.log": mutate.many_fields(seed, rng),
        "u_ex_fieldsline.log": corpus.w3c_seed(rows=2).replace(
            b"#Fields: ", b"#Fields: " + b" ".join(b"x-f%d" % i for i in range(10_000)) + b" ", 1
        ),
        "u_ex_megaline_only.log": b"A" * (1 << 20),
    }
    markers = []
    for n, (name, garbage) in enumerate(cases.items()):
        data, planted = corpus.w3c_sandwich(f"big{n}", garbage)
        (evidence_dir / name).write_bytes(data)
        markers += planted
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert all(e["kind"] == "iis-w3c" for e in entries.values()), briefs(entries.values())
    # Each file's garbage holds at least one line that fits no layout: it is counted.
    assert all(e["bad_lines"] >= 1 for e in entries.values()), briefs(entries.values())
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)


_FIELD_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
    min_size=1,
    max_size=40,
).filter(lambda s: s != "-" and not s.startswith(("#", '"')) and s.strip() == s)


@given(stems=st.lists(_FIELD_TEXT, min_size=1, max_size=12, unique=True))
def test_any_printable_value_without_spaces_round_trips_exactly(tmp_path_factory, stems):
    root = tmp_path_factory.mktemp("roundtrip")
    evidence = root / "evidence"
    evidence.mkdir()
    body = corpus.w3c_header() + "".join(
        corpus.w3c_row(i, stem=stem) + "\n" for i, stem in enumerate(stems)
    )
    (evidence / "u_ex210302.log").write_text(body, encoding="utf-8")
    case, report = ingest(root / "case", [evidence])
    (entry,) = check_report(report, [evidence]).values()
    assert (entry["rows"], entry["bad_lines"]) == (len(stems), 0), entry
    assert sorted(column_values(case, "W3CIISLog", "csUriStem")) == sorted(stems)


@given(garbage=st.binary(max_size=600))
def test_any_bytes_between_good_rows_leave_them_loaded(tmp_path_factory, garbage):
    root = tmp_path_factory.mktemp("binary")
    evidence = root / "evidence"
    evidence.mkdir()
    data, markers = corpus.w3c_sandwich("bin", garbage)
    (evidence / "u_ex210302.log").write_bytes(data)
    case, report = ingest(root / "case", [evidence])
    (entry,) = check_report(report, [evidence]).values()
    assert entry["kind"] == "iis-w3c", brief(entry)
    assert not missing_markers(case, "W3CIISLog", "csUriStem", markers)
