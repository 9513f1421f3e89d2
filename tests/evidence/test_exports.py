"""Sentinel exports: both tables from CSV (incl. the portal's), JSON array, JSON lines, Parquet."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
import pyarrow.parquet as pq

from engine.case import IngestOptions
from tests.evidence.helpers import ingest, only_file, rows, write

ENTITIES = [{"$id": "2", "HostName": "exch01", "DnsDomain": "contoso.com", "Type": "host"},
            {"$ref": "2"}]
ALERT = {
    "TenantId": "t-1", "TimeGenerated": "2021-03-02T08:01:00.1234567Z",
    "DisplayName": "Web shell", "AlertName": "Web shell", "AlertSeverity": "High",
    "SystemAlertId": "a-1", "ProviderName": "MDATP", "IsIncident": "false",
    "ConfidenceScore": "0.5", "StartTime": "2021-03-02T08:00:00Z",
    "Entities": json.dumps(ENTITIES, indent=2), "Type": "SecurityAlert",
}
W3C = {"TenantId": "t-1", "TimeGenerated": "2021-03-02T08:01:00Z", "Computer": "exch01.contoso.com",
       "csUriStem": "/owa/auth/x.zip", "csUriQuery": "-", "cIP": "203.0.113.7", "sPort": "443",
       "csUserAgent": "curl/7.1", "scStatus": "200", "Type": "W3CIISLog"}


def _csv(records: list[dict]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def test_securityalert_csv_with_multiline_entities(tmp_path):
    report = ingest(write(tmp_path / "ev/alerts.csv", _csv([ALERT])), tmp_path / "case")
    assert (only_file(report).kind, only_file(report).rows) == ("securityalert-export", 1)
    (got,) = rows(tmp_path / "case", 'SELECT * FROM "SecurityAlert"')
    assert json.loads(got["Entities"]) == ENTITIES
    assert got["TimeGenerated"] == dt.datetime(2021, 3, 2, 8, 1, 0, 123456)
    assert (got["IsIncident"], got["ConfidenceScore"], got["TenantId"]) == (False, 0.5, "t-1")


def test_portal_export_to_csv_headers_and_timestamps(tmp_path):
    record = {("TimeGenerated [UTC]" if k == "TimeGenerated" else
               "StartTime [UTC]" if k == "StartTime" else k): v for k, v in ALERT.items()}
    record["TimeGenerated [UTC]"] = "3/9/2026, 8:12:41.221 PM"
    record["StartTime [UTC]"] = "03/09/2026, 08:12:41.221"
    ingest(write(tmp_path / "ev/portal.csv", _csv([record])), tmp_path / "case")
    (got,) = rows(tmp_path / "case", 'SELECT * FROM "SecurityAlert"')
    assert got["TimeGenerated"] == dt.datetime(2026, 3, 9, 20, 12, 41, 221000)
    assert got["StartTime"] == dt.datetime(2026, 3, 9, 8, 12, 41, 221000)


def test_securityalert_json_array_with_entities_as_an_array(tmp_path):
    record = dict(ALERT, Entities=ENTITIES)
    ingest(write(tmp_path / "ev/alerts.json", json.dumps([record, record])), tmp_path / "case")
    got = rows(tmp_path / "case", 'SELECT * FROM "SecurityAlert"')
    assert len(got) == 2 and json.loads(got[0]["Entities"]) == ENTITIES


def test_securityalert_json_lines(tmp_path):
    text = "\n".join(json.dumps(dict(ALERT, SystemAlertId=f"a-{i}")) for i in range(3)) + "\n"
    report = ingest(write(tmp_path / "ev/alerts.jsonl", text), tmp_path / "case")
    assert (only_file(report).kind, only_file(report).rows) == ("securityalert-export", 3)


def test_securityalert_parquet(tmp_path):
    table = pa.table({k: [v] for k, v in dict(ALERT, TimeGenerated=None).items()
                      if k != "TimeGenerated"} | {
        "TimeGenerated": pa.array([dt.datetime(2021, 3, 2, 8, 1, 0, 5)], pa.timestamp("us", "UTC"))})
    path = tmp_path / "ev/alerts.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    report = ingest(path, tmp_path / "case")
    assert only_file(report).kind == "securityalert-export"
    (got,) = rows(tmp_path / "case", 'SELECT * FROM "SecurityAlert"')
    assert got["TimeGenerated"] == dt.datetime(2021, 3, 2, 8, 1, 0, 5)


def test_w3ciislog_exports_in_every_format_keep_the_dash_and_say_so(tmp_path):
    ev = tmp_path / "ev"
    write(ev / "a.csv", _csv([W3C]))
    write(ev / "b.json", json.dumps([W3C]))
    write(ev / "c.jsonl", json.dumps(W3C) + "\n")
    pq.write_table(pa.table({k: [v] for k, v in W3C.items()}), ev / "d.parquet")
    report = ingest(ev, tmp_path / "case")
    assert [(f.kind, f.rows, f.dash_queries) for f in report.files] == [
        ("w3ciislog-export", 1, 1)] * 4
    assert all("csUriQuery '-'" in f.notes[0] for f in report.files)
    got = rows(tmp_path / "case")
    assert {r["csUriQuery"] for r in got} == {"-"}
    assert {(r["sPort"], r["Computer"], r["TenantId"]) for r in got} == {
        (443, "exch01.contoso.com", "t-1")}


def test_strip_export_dash_option_empties_the_dash_in_exports(tmp_path):
    ingest(write(tmp_path / "ev/a.csv", _csv([W3C])), tmp_path / "case",
           IngestOptions(strip_export_dash=True))
    assert rows(tmp_path / "case")[0]["csUriQuery"] == ""


def test_msticpy_renamed_columns_are_mapped_and_reported(tmp_path):
    record = {"": "0", "TenantId": "t", "StartTimeUtc": "2019-01-11 06:31:40",
              "EndTimeUtc": "2019-01-12 06:31:40", "ProviderAlertId": "p-1",
              "SystemAlertId": "s-1", "AlertName": "n", "AlertDisplayName": "Display",
              "Severity": "Low", "Entities": "[]", "TimeGenerated": "2019-01-12 06:41:44"}
    report = ingest(write(tmp_path / "ev/alertlist.csv", _csv([record])), tmp_path / "case")
    assert "StartTimeUtc->StartTime" in only_file(report).notes[0]
    (got,) = rows(tmp_path / "case", 'SELECT * FROM "SecurityAlert"')
    assert (got["StartTime"], got["DisplayName"], got["AlertSeverity"], got["VendorOriginalId"]) \
        == (dt.datetime(2019, 1, 11, 6, 31, 40), "Display", "Low", "p-1")


def test_alert_evidence_export_is_skipped_with_a_reason(tmp_path):
    text = "TenantId,TimeGenerated [UTC],AlertId,Title,EntityType,EvidenceRole,Type\r\n" \
           't,"03/09/2026, 08:12:41.221",da1,x,Process,Impacted,AlertEvidence\r\n'
    report = ingest(write(tmp_path / "ev/evidence.csv", text), tmp_path / "case")
    assert only_file(report).kind == "skipped" and "AlertEvidence" in only_file(report).reason


def test_json_lines_records_with_different_keys_keep_every_column(tmp_path):
    first = {"SystemAlertId": "a-1", "AlertName": "x"}
    second = {"SystemAlertId": "a-2", "AlertName": "y", "AlertSeverity": "High"}
    text = json.dumps(first) + "\n" + json.dumps(second) + "\n"
    ingest(write(tmp_path / "ev/alerts.jsonl", text), tmp_path / "case")
    got = rows(tmp_path / "case", 'SELECT "AlertSeverity" FROM "SecurityAlert" ORDER BY _line')
    assert [r["AlertSeverity"] for r in got] == ["", "High"]


def test_the_csv_probe_gives_the_longest_line_of_a_short_file(tmp_path):
    from engine.evidence.exports import _csv_record_probe

    path = write(tmp_path / "e.csv", "a,b\n" + "x" * 5000 + ",1\n" + "y,2")
    assert _csv_record_probe(path, False, 1 << 20) == 5003


def test_the_csv_probe_gives_the_record_limit_when_no_line_ends_inside_it(tmp_path):
    from engine.evidence.exports import CSV_PROBE_BYTES, _csv_record_probe

    path = write(tmp_path / "e.csv", b"a" * (CSV_PROBE_BYTES + 10) + b"\n")
    assert _csv_record_probe(path, False, 1 << 24) == 1 << 24


def test_the_csv_salvage_keeps_a_record_whose_field_is_over_the_csv_modules_default(tmp_path):
    from engine.evidence.exports import _salvage_csv

    agent = "A" * 200_000  # the csv module refuses fields over 131,072 characters by default
    path = write(tmp_path / "e.csv", f'cIP,csUserAgent\n1.2.3.4,{agent}\n5.6.7.8,"cut\n')
    bad = _salvage_csv(path, False, tmp_path / "salvaged.csv", 1 << 20)
    assert [line for line, _ in bad] == [3]
    assert agent in (tmp_path / "salvaged.csv").read_text()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_whose_partitioned_write_runs_out_of_memory_is_written_as_one_file(
        tmp_path, monkeypatch, fmt):
    import duckdb

    from engine.evidence import exports

    real = exports._copy_into_case

    def partitioned_runs_out(*args, partitioned=True, **kwargs):
        if partitioned:  # as thousands of host/day writers of big records do
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate")
        return real(*args, partitioned=partitioned, **kwargs)

    monkeypatch.setattr(exports, "_copy_into_case", partitioned_runs_out)
    records = [dict(W3C, Computer=f"exch0{n}", TimeGenerated=f"2021-03-0{n}T08:00:00Z")
               for n in (1, 2, 3)]
    text = _csv(records) if fmt == "csv" else "".join(json.dumps(r) + "\n" for r in records)
    report = only_file(ingest(write(tmp_path / f"ev/requests.{fmt}", text), tmp_path / "case"))
    assert (report.rows, report.bad_lines) == (3, 0)
    assert any(note.startswith("written as one file") for note in report.notes)
    assert [r["Computer"] for r in rows(tmp_path / "case")] == ["exch01", "exch02", "exch03"]
