"""The demo through the real pipeline (ingest -> case -> rules) yields what the demo planted."""
from __future__ import annotations

import hashlib

import pytest

from engine.case import IngestOptions, open_case
from engine.hunts import run_rules
from engine.rules import load_rules

HUNT_A = "84026aa0-7020-45d0-9f85-d526e43de2ab"
HUNT_B = "a523786c-8382-4029-80e9-f1a7ecd067c1"


def _run(demo_dir, case_dir, options: IngestOptions):
    case = open_case(case_dir, [demo_dir])
    report = case.ingest([demo_dir], options)
    con = case.connect()
    try:
        runs = {r.rule_id: r for r in run_rules(con, load_rules())}
    finally:
        con.close()
    return report, runs


@pytest.fixture(scope="module")
def pipeline(demo_dir, tmp_path_factory):
    return _run(demo_dir, tmp_path_factory.mktemp("case"), IngestOptions())


@pytest.fixture(scope="module")
def pipeline_keep_dash(demo_dir, tmp_path_factory):
    return _run(demo_dir, tmp_path_factory.mktemp("case-dash"), IngestOptions(keep_dash=True))


def _note(run, code):
    return next(n for n in run.notes if n.code == code)


def test_ingest_report_reads_and_skips_each_file_as_the_summary_says(demo, demo_dir, pipeline):
    report, _ = pipeline
    by_path = {f.path: f for f in report.files}
    for f in demo.files:
        got = by_path[str(demo_dir / f.path)]
        assert (got.kind, got.computer, got.rows, got.bad_lines) == (f.kind, f.computer, f.rows, f.bad_lines), f.path
    assert report.tables == {"W3CIISLog": demo.w3c_rows, "SecurityAlert": demo.alert_rows}


def test_hunt_a_lists_each_exchange_server_with_the_alerts_that_join(demo, pipeline):
    _, runs = pipeline
    got = []
    for finding in runs[HUNT_A].findings:
        row = finding.row
        got.append((row["ExchangeServer"], row["Alerts"],
                    None if row["AlertTimes"] is None else tuple(sorted(row["AlertTimes"])),
                    None if row["AlertNames"] is None else tuple(sorted(row["AlertNames"]))))
    expected = [(e.exchange_server, e.alerts, e.alert_times, e.alert_names) for e in demo.hunt_a]
    assert sorted(got, key=lambda r: r[0]) == sorted(expected, key=lambda r: r[0])


def test_hunt_b_finds_the_planted_export_and_nothing_but_the_planted_findings(demo, pipeline):
    _, runs = pipeline
    got = sorted((f.row["TenantId"], f.row["file_name"], f.row["Computer"], f.row["csUriStem"],
                  f.row["StartTime"], f.row["EndTime"], f.row["dcount_cIP"], f.row["AccessingIPs"],
                  sorted(f.row["AccessTimes"]), f.row["Access"]) for f in runs[HUNT_B].findings)
    expected = sorted((e.tenant_id, e.file_name, e.computer, e.cs_uri_stem, e.start_time, e.end_time, 1,
                       [e.client_ip], list(e.access_times), e.access) for e in demo.hunt_b)
    assert got == expected


def test_missing_dns_domain_note_names_the_two_unjoined_servers(demo, pipeline):
    _, runs = pipeline
    note = _note(runs[HUNT_A], "short-name-matches")
    assert note.count == len(demo.missing_dns_domain_servers)
    for server in demo.missing_dns_domain_servers:
        assert server in note.message


def test_ipv6_note_counts_the_requests_hunt_b_dropped(demo, pipeline):
    _, runs = pipeline
    assert _note(runs[HUNT_B], "ipv6-clients-dropped").count == demo.ipv6_candidate_rows


def test_with_dashes_kept_hunt_b_is_blind_and_the_dash_note_says_why(demo, pipeline_keep_dash):
    _, runs = pipeline_keep_dash
    assert runs[HUNT_B].findings == []
    assert _note(runs[HUNT_B], "dash-query-strings").count >= sum(e.access for e in demo.hunt_b)


def test_the_evidence_is_unchanged_after_ingest(demo, demo_dir, pipeline):
    readme = (demo_dir / "README.txt").read_text()
    for f in demo.files:
        if f.path != "README.txt":
            assert f"{hashlib.sha256((demo_dir / f.path).read_bytes()).hexdigest()}  {f.path}" in readme
