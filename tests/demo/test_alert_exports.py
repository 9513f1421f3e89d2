"""The SecurityAlert exports: portal CSV and JSON lines, with Defender-shaped entities and updates."""
from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime

import pytest

CSV = "sentinel/SecurityAlert_query_data.csv"
JSONL = "sentinel/data-export/SecurityAlert/y=2021/m=03/d=03/h=09/m=00/PT1H.json"


@pytest.fixture(scope="module")
def csv_rows(demo_dir):
    with open(demo_dir / CSV, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def jsonl_rows(demo_dir):
    return [json.loads(line) for line in (demo_dir / JSONL).read_text().splitlines()]


def _portal_time(text: str) -> datetime:
    return datetime.strptime(text, "%m/%d/%Y, %I:%M:%S.%f %p")


def _iso7(text: str) -> datetime:
    return datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f")


def test_portal_csv_has_utc_suffixed_time_headers_and_portal_times(csv_rows):
    assert "TimeGenerated [UTC]" in csv_rows[0] and "StartTime [UTC]" in csv_rows[0]
    assert csv_rows[2]["TimeGenerated [UTC]"] == "3/3/2021, 2:13:05.447 AM"


def test_portal_csv_entities_are_multi_line_json_with_ids_and_refs(csv_rows):
    for row in csv_rows:
        assert "\n" in row["Entities"]
        entities = json.loads(row["Entities"])
        ids = {e["$id"] for e in entities}
        refs = {e["Host"]["$ref"] for e in entities if "Host" in e}
        assert refs <= ids
    assert any("Host" in e for row in csv_rows for e in json.loads(row["Entities"]))


def test_json_lines_times_carry_seven_fractional_digits(jsonl_rows):
    assert jsonl_rows[0]["TimeGenerated"] == "2021-03-03T03:05:27.7126400Z"


def test_alert_updates_repeat_the_system_alert_id_with_new_times_and_status(csv_rows, jsonl_rows):
    rows = [(r["SystemAlertId"], r["TimeGenerated [UTC]"], r["Status"]) for r in csv_rows]
    rows += [(r["SystemAlertId"], r["TimeGenerated"], r["Status"]) for r in jsonl_rows]
    repeated = [aid for aid, n in Counter(aid for aid, _, _ in rows).items() if n > 1]
    assert len(repeated) >= 3
    for aid in repeated:
        assert len({t for a, t, _ in rows if a == aid}) == sum(1 for a, _, _ in rows if a == aid)
        assert len({s for a, _, s in rows if a == aid}) >= 2


def _host_keys(entities_json: str) -> list[str]:
    keys = []
    for e in json.loads(entities_json):
        if e.get("Type") == "host":
            keys.append((f"{e['HostName']}.{e['DnsDomain']}" if e.get("DnsDomain") else e["HostName"]).lower())
    return keys


def test_reference_hunt_a_join_of_the_exports_gives_the_expected_servers(demo, csv_rows, jsonl_rows):
    alerts = [(_portal_time(r["TimeGenerated [UTC]"]), r) for r in csv_rows]
    alerts += [(_iso7(r["TimeGenerated"]), r) for r in jsonl_rows]
    for expected in demo.hunt_a:
        hits = [(t, r) for t, r in alerts for k in _host_keys(r["Entities"]) if k == expected.exchange_server]
        if expected.alerts is None:
            assert hits == []
        else:
            assert len({r["SystemAlertId"] for _, r in hits}) == expected.alerts
            assert tuple(sorted(t for t, _ in hits)) == expected.alert_times
            assert tuple(sorted(r["AlertName"] for _, r in hits)) == expected.alert_names


def test_some_but_not_all_exchange_servers_have_joining_alerts(demo):
    joined = [e.exchange_server for e in demo.hunt_a if e.alerts]
    assert 0 < len(joined) < len(demo.hunt_a)


def test_alert_hosts_share_short_names_with_unjoined_exchange_servers(demo, csv_rows, jsonl_rows):
    hosts = {k for r in [*csv_rows, *jsonl_rows] for k in _host_keys(r["Entities"])}
    assert "exch03" in hosts  # HostName only, no DnsDomain
    unjoined = [e.exchange_server for e in demo.hunt_a if e.alerts is None]
    short = lambda name: name.split(".")[0]  # noqa: E731
    matched = sorted(s for s in unjoined if any(short(h) == short(s) for h in hosts))
    assert matched == sorted(demo.missing_dns_domain_servers)
