"""Every file in ../shared/realdata is read or skipped as its README says.

Expected counts were verified by hand, independently of exhunt: for raw W3C files with
``awk '{sub(/\\r$/,"")} /^#Fields:/{n=NF-1; next} /^#/{next} /^[ \\t]*$/{next}
{if (NF==n) ok++; else bad++}'`` (awk splits on runs of blanks, like the W3C format), then
by reading each file and its bad lines by eye; for alertlist.csv with Python's csv module
(189 records, 189 distinct SystemAlertId).
"""
from __future__ import annotations

import datetime as dt

import pytest

from engine.case import Case
from tests.evidence.helpers import ingest

pytestmark = pytest.mark.realdata

# path -> (kind, rows, bad_lines)
EXPECTED = {
    "brianary-scripts/ex031118.log": ("iis-w3c", 3, 1),  # line 7: 3 fields under a 4-field #Fields
    "brianary-scripts/ex960101.log": ("iis-w3c", 5, 0),
    "brianary-scripts/u_ex100815.log": ("iis-w3c", 16, 0),  # CRLF, 10 header blocks
    "brianary-scripts/u_ex160110.log": ("iis-w3c", 28, 0),  # 25 header blocks
    "elastic-beats/test.log": ("iis-w3c", 3, 2),  # lines 16-17: 15 fields under 22
    "lnav/logfile_w3c.2": ("iis-w3c", 14, 0),  # no date field: two #Date blocks
    "lnav/logfile_w3c.5": ("iis-w3c", 0, 1),  # 17 fields under a 6-field #Fields
    "lnav/logfile_w3c_big.0": ("iis-w3c", 210, 0),
    "plaso/iis10_edge_cases.log": ("iis-w3c", 15, 0),  # runs of two blanks
    "plaso/iis6.log": ("iis-w3c", 12, 0),
    "msticpy/alertlist.csv": ("securityalert-export", 189, 0),
}
SKIPPED = {
    "brianary-scripts/pf040903.log": "Firewall",
    "brianary-scripts/ex010320.log": "native",
    "elastic-beats/test-iis-7.2.log": "#Fields",
    "elastic-beats/test-x-forward-for-extended.log": "#Fields",
    "azure-sentinel/Microsoft_Defender XDR_AlertEvent_IngestedLogs.csv": "AlertEvidence",
}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    from tests.conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip(f"real evidence samples not present at {REALDATA}")
    case_dir = tmp_path_factory.mktemp("realcase")
    report = ingest(REALDATA, case_dir)
    by_path = {f.path[len(str(REALDATA)) + 1:]: f for f in report.files}
    return REALDATA, case_dir, by_path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hand_counted_files_load_with_their_row_and_bad_line_counts(scanned, name):
    _, _, by_path = scanned
    f = by_path[name]
    assert (f.kind, f.rows, f.bad_lines) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_files_that_are_not_iis_w3c_or_alerts_are_skipped_with_a_reason(scanned, name):
    _, _, by_path = scanned
    f = by_path[name]
    assert f.kind == "skipped" and SKIPPED[name] in f.reason


def test_every_other_iis_file_loads_without_bad_lines(scanned):
    _, _, by_path = scanned
    for name, f in by_path.items():
        if name in EXPECTED or name in SKIPPED or name == "README.md":
            continue
        assert f.kind == "iis-w3c" and f.rows > 0 and f.bad_lines == 0, (name, f)


def test_bad_lines_name_file_and_line(scanned):
    root, case_dir, _ = scanned
    bad = {(b.path[len(str(root)) + 1:], b.line) for b in Case(case_dir).bad_lines()}
    assert bad == {("brianary-scripts/ex031118.log", 7), ("elastic-beats/test.log", 16),
                   ("elastic-beats/test.log", 17), ("lnav/logfile_w3c.5", 2)}


def test_s_computername_and_date_directive_are_honoured(scanned):
    root, case_dir, _ = scanned
    con = Case(case_dir).connect()
    computers = con.execute(
        'SELECT DISTINCT "Computer", "sComputerName" FROM "W3CIISLog" WHERE "FileUri" = ?',
        [str(root / "brianary-scripts/ex960101.log")]).fetchall()
    assert computers == [("WEB1", "WEB1")]
    days = con.execute(
        'SELECT DISTINCT CAST("TimeGenerated" AS DATE) FROM "W3CIISLog" WHERE "FileUri" = ? '
        "ORDER BY 1", [str(root / "lnav/logfile_w3c.2")]).fetchall()
    assert days == [(dt.date(2000, 10, 9),), (dt.date(2000, 10, 10),)]


def test_alertlist_entities_are_json_text(scanned):
    _, case_dir, _ = scanned
    con = Case(case_dir).connect()
    hosts = con.execute(
        "SELECT count(*) FROM \"SecurityAlert\" WHERE json_valid(\"Entities\") "
        "AND \"Entities\" LIKE '%\"Type\": \"host\"%'").fetchone()[0]
    assert hosts > 0
