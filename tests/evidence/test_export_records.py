"""CSV and JSON exports read as a stream (engine/evidence/exports.py) give the records, their
numbers (``_line``, 1-based record numbers) and the csUriQuery '-' count that the reader
before it gave: a DuckDB temporary table of read_csv / read_json_objects numbered by
row_number() OVER (), kept here as the reference (``_temp_table``)."""
from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.case import IngestOptions
from engine.evidence.exports import normalise
from tests.evidence.helpers import ingest, only_file, rows

COLUMNS = ("TimeGenerated", "Computer", "cIP", "csUriStem", "csUriQuery")


def _temp_table(path: Path, fmt: str, gz: bool) -> list[dict]:
    """The records as the reader before streaming numbered and rendered them (its SQL)."""
    con = duckdb.connect()
    compression = "gzip" if gz else "none"
    if fmt == "csv":
        opener = gzip.open if gz else open
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
            names = next(csv.reader(handle), [])
        columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names)))
        con.execute(
            "CREATE TEMP TABLE t AS SELECT row_number() OVER () AS _rec, * FROM "
            f"read_csv($p, header=true, columns={{{columns}}}, quote='\"', escape='\"', "
            "auto_detect=false, delim=',', strict_mode=false, compression=$c)",
            {"p": str(path), "c": compression})
    else:
        params: dict[str, object] = {"p": str(path), "c": compression,
                                     "f": "array" if fmt == "json" else "newline_delimited"}
        names = [r[0] for r in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(json)) AS k, row_number() OVER () AS r "
            "FROM read_json_objects($p, format=$f, compression=$c) "
            "WHERE json_type(json) = 'OBJECT') GROUP BY k ORDER BY min(r)", params).fetchall()]
        selects = []
        for i, name in enumerate(names):
            params[f"k{i}"] = name
            selects.append(f"CASE WHEN json_type(json -> $k{i}) IN ('ARRAY', 'OBJECT') "
                           f"THEN CAST(json -> $k{i} AS VARCHAR) ELSE json ->> $k{i} END AS c{i}")
        con.execute("CREATE TEMP TABLE t AS SELECT row_number() OVER () AS _rec, "
                    f"{', '.join(selects) or 'NULL AS c0'} FROM "
                    "read_json_objects($p, format=$f, compression=$c)", params)
    got = con.execute("SELECT * FROM t ORDER BY _rec").fetchall()
    return [{"_rec": r[0], **dict(zip(names, r[1:]))} for r in got]


def _expected(records: list[dict], strip: bool = False) -> tuple[list[tuple], int]:
    """(the case's (_line, Computer, cIP, csUriStem, csUriQuery) rows, the '-' count). A
    table column comes from the first export column (in the reference's order) whose name,
    without a "[...]" suffix and then case, is the same (as read_export maps them)."""
    source: dict[str, str] = {}
    for name in records[0] if records else ():
        source.setdefault(normalise(name), name)
        source.setdefault(normalise(name).lower(), name)

    def text(record: dict, column: str) -> str:
        value = record.get(source.get(column, source.get(column.lower(), "")))
        return "" if value is None else value

    want = [(r["_rec"], text(r, "Computer"), text(r, "cIP"), text(r, "csUriStem"),
             "" if strip and text(r, "csUriQuery") == "-" else text(r, "csUriQuery"))
            for r in records]
    dashes = sum(1 for r in records if text(r, "csUriQuery").strip(" ") == "-")
    return want, dashes


def _case_rows(case: Path) -> list[tuple]:
    return [(r["_line"], r["Computer"], r["cIP"], r["csUriStem"], r["csUriQuery"]) for r in rows(
        case, 'SELECT _line, "Computer", "cIP", "csUriStem", "csUriQuery" FROM "W3CIISLog" '
              "ORDER BY _line")]


def _check_against_the_temp_table(path: Path, fmt: str, gz: bool, case: Path,
                                  strip: bool = False) -> None:
    report = ingest(path, case, IngestOptions(strip_export_dash=strip))
    entry = only_file(report)
    reference = _temp_table(path, fmt, gz)
    want, dashes = _expected(reference, strip)
    assert (entry.kind, entry.rows, entry.bad_lines) == ("w3ciislog-export", len(want), 0), entry
    assert _case_rows(case) == want
    assert entry.dash_queries == dashes


# ---------------------------------------------------------------------------------------
# Ordinary exports, generated
# ---------------------------------------------------------------------------------------
_QUERIES = st.sampled_from(["-", " - ", "", "id=1", "--", "- ", None, "a-b"])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_RECORDS = st.lists(st.fixed_dictionaries({
    "Computer": st.sampled_from(["EXCH01", "exch02.contoso.com", ""]),
    "cIP": st.sampled_from(["1.2.3.4", "10.0.0.5"]),
    "csUriStem": _TEXT.map(lambda t: "/owa/" + t),
    "csUriQuery": _QUERIES,
}), min_size=1, max_size=40)


def _write_export(path: Path, fmt: str, gz: bool, records: list[dict], layout: int) -> None:
    """``records`` as an export the way different tools write one (``layout`` picks line
    ends, quoting, blank lines, indentation); a missing csUriQuery is left out of JSON."""
    full = [{"TimeGenerated": f"2021-03-01T00:00:{i % 60:02d}Z", **r} for i, r in enumerate(records)]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n" if layout % 2 else "\n",
                            quoting=csv.QUOTE_ALL if layout % 3 == 0 else csv.QUOTE_MINIMAL)
        writer.writerow(COLUMNS)
        writer.writerows([r[c] if r[c] is not None else "" for c in COLUMNS] for r in full)
        text = buf.getvalue()
    else:
        objects = [{k: v for k, v in r.items() if v is not None or layout % 2} for r in full]
        if fmt == "jsonl":
            end = "\r\n" if layout % 2 else "\n"
            text = "".join(json.dumps(o) + end + ("\n" if layout % 3 == 0 else "")
                           for o in objects)
        else:
            text = json.dumps(objects, indent=[None, 1, "\t"][layout % 3])
    data = ("\ufeff" if layout % 5 == 0 else "") + text
    path.write_bytes(gzip.compress(data.encode()) if gz else data.encode())


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(records=_RECORDS, fmt=st.sampled_from(["csv", "jsonl", "json"]), gz=st.booleans(),
       layout=st.integers(0, 29), strip=st.booleans())
def test_records_their_numbers_and_the_dash_count_are_the_temporary_tables(
        records: list[dict], fmt: str, gz: bool, layout: int, strip: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ev" / f"w3c_export.{fmt}{'.gz' if gz else ''}"
        path.parent.mkdir()
        _write_export(path, fmt, gz, records, layout)
        _check_against_the_temp_table(path, fmt, gz, Path(tmp) / "case", strip)


# ---------------------------------------------------------------------------------------
# Odd exports that DuckDB's readers took as they were
# ---------------------------------------------------------------------------------------
_HEAD = "TimeGenerated,Computer,cIP,csUriStem,csUriQuery"
_FIRST = {"TimeGenerated": "2021-03-01T00:00:01Z", "Computer": "EXCH01", "cIP": "1.2.3.4",
          "csUriStem": "/owa/1", "csUriQuery": "-"}
_J = json.dumps(_FIRST)

ODD = {
    "csv": {
        "quoted line ends": _HEAD + '\r\nt,E,1.1.1.1,"/a\r\nb",-\nt,E,2.2.2.2,"/c\nd", - \n',
        "empty lines between records": _HEAD + "\nt,E,1,/a,-\n\n\nt,E,2,/b,x\n",
        "text after a closing quote": _HEAD + '\nt,E,1,"/a"x,-\nt,E,2,/b,-\n',
        "a blank before a quote": _HEAD + '\nt,E,1, "/a",-\n',
        "a trailing comma": _HEAD + "\nt,E,1,/a,-,\n",
        "carriage returns alone": _HEAD + "\rt,E,1,/a,-\rt,E,2,/b,-\r",
        "no last line end": _HEAD + "\nt,E,1,/a,-\nt,E,2,/b,-",
        "doubled quotes": _HEAD + '\nt,E,1,"/a""b",-\nt,E,2,/a""b,"-"\n',
        "quoted empties": _HEAD + '\nt,E,1,"",""\n',
        "a byte order mark": "\ufeff" + _HEAD + "\nt,E,1,/a,-\n",
    },
    "jsonl": {
        "blank and white lines": _J + "\n\n \t \n" + _J + "\n",
        "CRLF": _J + "\r\n" + _J + "\r\n",
        "records that are not objects": _J + '\n[1,2]\n"s"\n3\nnull\n' + _J + "\n",
        "a trailing comma, NaN": _J + '\n{"csUriStem": "/b", "cIP": NaN, "csUriQuery": "-",}\n',
        "duplicate keys": _J + '\n{"csUriStem": "/a", "csUriStem": "/b"}\n',
        "numbers and nested values": _J + '\n{"csUriStem": 1.50, "cIP": 1e5, "csUriQuery": '
                                          '{"x": [1.0, "\\u00e9"]}, "Computer": true}\n',
        "keys in another order, some missing": _J + '\n{"csUriQuery": " - ", "csUriStem": "/b"}\n',
        "escaped keys and values": _J + '\n{"cs\\u0055riStem": "\\"/b\\"\\n", "cIP": "\\u0000"}\n',
        "blanks around records, no last line end": "  " + _J + "  \n" + _J,
        # Both name csUriStem: the one seen first (in an earlier record) is the column.
        "a column named twice, in different records": '{"csUriStem [x]": "/first", "cIP": '
                                                        '"1"}\n' + _J + "\n",
        "a byte order mark": "\ufeff" + _J + "\n",
    },
    "json": {
        "blanks around everything": " \n [ \n " + _J + " , \n\t" + _J + " \n ] \n",
        "records that are not objects": "[" + _J + ', 2, "x", [1], null, {}, ' + _J + "]",
        "brackets in strings": '[' + _J + ', {"csUriStem": "]}[{\\"", "cIP": "[,]"}]',
        "nested values and numbers": "[" + _J + ', {"csUriStem": [1, {"a": null}], '
                                                '"cIP": -0, "csUriQuery": 12345678901234567890}]',
        "a trailing comma inside a record": "[" + _J + ', {"csUriStem": "/b",}]',
        "a byte order mark": "\ufeff[" + _J + "]",
    },
}


@pytest.mark.parametrize("fmt, name", [(f, n) for f, cases in ODD.items() for n in cases])
def test_odd_exports_give_the_records_and_numbers_the_temporary_table_gave(
        tmp_path: Path, fmt: str, name: str) -> None:
    path = tmp_path / "ev" / f"w3c_export.{fmt}"
    path.parent.mkdir()
    path.write_bytes(ODD[fmt][name].encode())
    _check_against_the_temp_table(path, fmt, False, tmp_path / "case")


# ---------------------------------------------------------------------------------------
# The JSON record splitter, whatever the read boundaries
# ---------------------------------------------------------------------------------------
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12)


def _pieces(data: bytes, sizes: list[int]):
    """A read() handing out ``data`` in pieces of the given sizes (then what is left)."""
    chunks, at = [], 0
    for size in sizes:
        chunks.append(data[at:at + size])
        at += size
    chunks.append(data[at:])
    queue = [c for c in chunks if c] + [b""]
    return lambda: queue.pop(0) if len(queue) > 1 else b""


_SPLITS = [("json", blanks, True) for blanks in ("", " ", "\n\t ", "\r\n")] + [
    ("jsonl", blanks, end) for blanks in ("", " ", "\n\t ", "\r\n") for end in (True, False)]


@pytest.mark.parametrize("fmt, blanks, last_line_end", _SPLITS)
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # the same patch for all
@given(values=st.lists(_JSON_VALUES, max_size=8), sizes=st.lists(st.integers(1, 40), max_size=30))
def test_the_json_splitter_finds_every_record_whatever_the_read_boundaries(
        monkeypatch: pytest.MonkeyPatch, fmt: str, blanks: str, last_line_end: bool,
        values: list, sizes: list[int]) -> None:
    from engine.evidence import exports

    monkeypatch.setattr(exports, "_JSON_READ", 16)  # forget what was read every few bytes
    texts = [json.dumps(v, ensure_ascii=False, indent=1 if fmt == "json" and i % 2 else None)
             for i, v in enumerate(values)]
    if fmt == "json":
        data = blanks + "[" + blanks + ("," + blanks).join(texts) + blanks + "]" + blanks
        found = list(exports._json_array_records(_pieces(data.encode(), sizes), 1 << 20))
    else:
        data = "".join(t + "\n" + blanks.replace("\r\n", "\n") for t in texts)
        data = data if last_line_end else data.rstrip("\n")
        found = [(t.decode(), n) for t, n in
                 exports._jsonl_records(_pieces(data.encode(), sizes), 1 << 20)]
    assert [json.loads(t) for t, _n in found] == values
    assert [n for _t, n in found] == [len(t.encode()) for t, _n in found]
