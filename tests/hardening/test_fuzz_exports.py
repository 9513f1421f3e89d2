"""Sentinel exports (CSV, portal CSV, JSON array, JSON lines, Parquet) and Entities values on
cut, mutated and type-confused input: nothing crashes, every file is accounted for, and the
good records of a damaged file still load."""
from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from . import corpus, mutate
from .harness import brief, briefs, check_report, column_values, ingest, missing_markers

SEED = 4026
TABLES = ("W3CIISLog", "SecurityAlert")
KIND = {"W3CIISLog": "w3ciislog-export", "SecurityAlert": "securityalert-export"}


def _expected_complete_records(fmt: str, records: list[dict], cut_data: bytes, full: bytes) -> int:
    """Records a forgiving reader must keep from a cut line-oriented export."""
    if fmt == "jsonl":
        return cut_data.count(b"\n")
    if fmt in ("csv", "portal.csv"):
        # Records end with CRLF outside quotes; count the record ends fully inside the cut.
        ends, in_quotes, i = 0, False, 0
        while i < len(cut_data):
            ch = cut_data[i : i + 1]
            if ch == b'"':
                in_quotes = not in_quotes
            elif ch == b"\n" and not in_quotes:
                ends += 1
            i += 1
        return max(0, ends - 1)  # the first record end closes the header
    return len(records) if cut_data == full else 0


LINE_FORMATS = [
    "csv",
    "jsonl",
]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("fmt", [*LINE_FORMATS, "json", "parquet"])
def test_an_export_cut_anywhere_is_loaded_or_skipped_and_keeps_complete_records(
    evidence_dir, case_dir, fmt, table
):
    seed = corpus.export_seed(table, f"cut{fmt.replace('.', '')}{table[0]}", count=3)
    full = corpus.EXPORT_WRITERS[fmt](seed.records)
    rng = random.Random(SEED)
    cuts = sorted({*rng.sample(range(len(full)), 20), len(full) - 1, len(full)})
    expected = {}
    for cut in cuts:
        path = evidence_dir / f"export_{cut:06d}.{fmt}"
        path.write_bytes(full[:cut])
        expected[path] = _expected_complete_records(fmt, seed.records, full[:cut], full)
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    whole = entries[str(evidence_dir / f"export_{len(full):06d}.{fmt}")]
    assert (whole["kind"], whole["rows"]) == (KIND[table], 3), whole
    for path, complete in expected.items():
        entry = entries[str(path)]
        assert entry["rows"] >= complete, (complete, brief(entry))
        assert entry["rows"] <= 3, entry
    assert not missing_markers(case, table, seed.marker_column, seed.markers)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("fmt", LINE_FORMATS)
def test_garbage_records_between_good_ones_leave_the_good_ones_loaded(
    evidence_dir, case_dir, fmt, table
):
    rng = random.Random(SEED)
    markers = []
    for n in range(12):
        seed = corpus.export_seed(table, f"g{n}{fmt}", count=4)
        good = corpus.EXPORT_WRITERS[fmt](seed.records)
        header, _, body = good.partition(b"\n") if fmt == "csv" else (b"", b"", good)
        # Split on a record boundary so the good records stay whole.
        boundary = _record_boundary(fmt, body)
        first, second = body[:boundary], body[boundary:]
        garbage = mutate.mutate(second[: rng.randint(1, 300)], rng)
        garbage = garbage.replace(b'"', b"'")  # an unbalanced quote would (rightly) eat on
        data = (header + b"\n" if header else b"") + first + garbage + b"\n" + second
        (evidence_dir / f"export_{n:03d}.{fmt}").write_bytes(data)
        markers += seed.markers
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert all(e["kind"] == KIND[table] for e in entries.values()), briefs(entries.values())
    column = corpus.export_seed(table, "x").marker_column
    assert not missing_markers(case, table, column, markers)


def _record_boundary(fmt: str, body: bytes) -> int:
    """Offset just after the second record of ``body``."""
    ends, in_quotes = 0, False
    for i, byte in enumerate(body):
        if byte == ord('"') and fmt == "csv":
            in_quotes = not in_quotes
        elif byte == ord("\n") and not in_quotes:
            ends += 1
            if ends == 2:
                return i + 1
    return len(body)


WRONG_TYPED_VALUES = [12345, 1.5e300, True, None, {"a": [1, 2]}, [1, "x"], "", -1, 2**70]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_numbers_where_strings_belong_neither_crash_nor_drop_the_file(evidence_dir, case_dir, fmt, table):
    seed = corpus.export_seed(table, f"type{fmt}{table[0]}", count=2)
    confused = []
    template = seed.records[0]
    for n, column in enumerate(c for c in template if c not in ("Type",)):
        for value in WRONG_TYPED_VALUES[n % 3 :: 3]:
            record = dict(template)
            record[seed.marker_column] = f"confused-{column}-{n}"
            record[column] = value
            confused.append(record)
    records = seed.records[:1] + confused + seed.records[1:]
    (evidence_dir / f"confused.{fmt}").write_bytes(corpus.EXPORT_WRITERS[fmt](records))
    case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    assert entry["kind"] == KIND[table], brief(entry)
    assert not missing_markers(case, table, seed.marker_column, seed.markers)
    # Nothing vanishes unaccounted: each record is a row or a counted bad record.
    assert entry["rows"] + entry["bad_lines"] >= len(records), entry


@pytest.mark.parametrize("table", TABLES)
def test_a_parquet_export_with_wrong_column_types_loads_or_is_skipped_with_a_reason(
    evidence_dir, case_dir, table
):
    seed = corpus.export_seed(table, f"pq{table[0]}", count=3)
    variants = {
        "numbers.parquet": {c: list(range(3)) for c in seed.records[0] if c != seed.marker_column},
        "nested.parquet": {"Entities": [[{"Type": "host", "HostName": "x"}]] * 3},
        "timestamps-as-text.parquet": {"TimeGenerated": ["not a time", "", "2021-13-45"]},
        "missing-columns.parquet": None,
    }
    for name, override in variants.items():
        records = [dict(r) for r in seed.records]
        if override is None:
            records = [{k: r[k] for k in list(r)[:6] + [seed.marker_column]} for r in records]
        else:
            for column, values in override.items():
                for record, value in zip(records, values):
                    record[column] = value
        try:
            table_obj = pa.Table.from_pylist(records)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        pq.write_table(table_obj, evidence_dir / name)
    (evidence_dir / "good.parquet").write_bytes(corpus.to_parquet(seed.records))
    case, report = ingest(case_dir, [evidence_dir])
    entries = check_report(report, [evidence_dir])
    assert entries[str(evidence_dir / "good.parquet")]["rows"] == 3
    assert not missing_markers(case, table, seed.marker_column, seed.markers)


def _deep(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


HOSTILE_ENTITIES = {
    "deep-array": _deep(100_000),
    "deep-object": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "unclosed": "[" * 5000,
    "not-json": "this is not json",
    "number": "12345",
    "huge-number": "1" * 5000,
    "null": "null",
    "empty": "",
    "object": json.dumps(corpus.host_entity(1, "exch01", "contoso.com")),
    "hostname-number": json.dumps([{"Type": "host", "HostName": 7, "DnsDomain": 8}]),
    "type-list": json.dumps([{"Type": ["host"], "HostName": "exch01"}]),
    "refs-only": json.dumps([{"$ref": "1"}, {"$ref": "1"}]),
    "thousands": json.dumps(
        [corpus.host_entity(i, f"h{i}", "contoso.com") for i in range(10_000)]
    ),
    "markup": json.dumps([{"Type": "host", "HostName": "[link=http://x]y[/link]\x1b]8;;x\x07",
                           "DnsDomain": "=cmd|' /C calc'!A0"}]),
    "nul": '[{"Type": "host", "HostName": "ex\\u0000ch", "DnsDomain": "c\x00"}]',
    "surrogate": '[{"Type": "host", "HostName": "\\ud800"}]',
    "bom": "\ufeff" + json.dumps([corpus.host_entity(1, "exch01", "contoso.com")]),
}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_hostile_entities_values_load_and_hunt_a_still_runs(evidence_dir, case_dir, fmt):
    records = []
    for n, (label, entities) in enumerate(HOSTILE_ENTITIES.items()):
        record = corpus.securityalert_record(n, alert_id=f"entities-{label}")
        record["Entities"] = entities
        records.append(record)
    good = corpus.export_seed("SecurityAlert", f"ent{fmt}", count=2)
    records += good.records
    (evidence_dir / f"alerts.{fmt}").write_bytes(corpus.EXPORT_WRITERS[fmt](records))
    iis = evidence_dir / "EXCH01" / "W3SVC1"
    iis.mkdir(parents=True)
    (iis / "u_ex210302.log").write_bytes(corpus.w3c_seed(rows=4))
    case, report = ingest(case_dir, [evidence_dir])
    check_report(report, [evidence_dir])
    assert report["tables"]["SecurityAlert"] == len(records), report
    ids = set(column_values(case, "SecurityAlert", "SystemAlertId"))
    assert {f"entities-{label}" for label in HOSTILE_ENTITIES} <= ids
    _run_both_hunts(case)


def _run_both_hunts(case) -> list:
    from engine.hunts import run_rules
    from engine.rules import load_rules

    con = case.connect()
    try:
        return run_rules(con, load_rules())
    finally:
        con.close()


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_record_nested_100000_deep_does_not_crash_the_reader(evidence_dir, case_dir, fmt):
    seed = corpus.export_seed("W3CIISLog", f"deep{fmt}", count=2)
    deep = json.dumps(seed.records[0])[:-1] + ', "Extra": ' + _deep(100_000) + "}"
    if fmt == "json":
        text = "[" + ",".join([json.dumps(seed.records[0]), deep, json.dumps(seed.records[1])]) + "]"
    else:
        text = "\n".join([json.dumps(seed.records[0]), deep, json.dumps(seed.records[1])]) + "\n"
    (evidence_dir / f"deep.{fmt}").write_text(text)
    _case, report = ingest(case_dir, [evidence_dir])
    (entry,) = check_report(report, [evidence_dir]).values()
    if fmt == "jsonl":
        assert entry["rows"] >= 2, entry  # the two good lines around it


_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_ENTITY_KEYS = st.sampled_from(["Type", "HostName", "DnsDomain", "$id", "$ref", "Address", "x"])
_JSON_VALUES = st.recursive(
    _JSON_SCALARS | st.sampled_from(["host", "ip", "account"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_ENTITY_KEYS, inner, max_size=5),
    max_leaves=25,
)


@given(entities=st.lists(_JSON_VALUES.map(json.dumps) | st.text(max_size=40), min_size=1, max_size=12))
def test_any_entities_value_loads_and_both_hunts_run(tmp_path_factory, entities):
    root = tmp_path_factory.mktemp("entities")
    evidence = root / "evidence"
    evidence.mkdir()
    records = []
    for n, value in enumerate(entities):
        record = corpus.securityalert_record(n, alert_id=f"any-{n}")
        record["Entities"] = value
        records.append(record)
    (evidence / "alerts.jsonl").write_bytes(corpus.to_jsonl(records))
    case, report = ingest(root / "case", [evidence])
    check_report(report, [evidence])
    assert report["tables"]["SecurityAlert"] == len(records)
    assert sorted(column_values(case, "SecurityAlert", "Entities")) == sorted(entities)
    _run_both_hunts(case)
