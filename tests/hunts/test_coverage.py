"""Coverage notes: counts of what the hunts as written cannot see."""
from __future__ import annotations

import json

from tests.hunts.conftest import add_alerts, add_requests, run


def notes(con, slug):
    return {n.code: n.count for n in run(con, slug).notes}


def test_public_ipv6_clients_are_counted_but_not_link_local_or_documentation(db):
    stem = {"csUriStem": "/owa/x.png"}
    add_requests(db, {**stem, "cIP": "2a01:111::1"}, {**stem, "cIP": "2a01:111::1"},
                 {**stem, "cIP": "fe80::1"}, {**stem, "cIP": "2001:db8::1"},
                 {**stem, "cIP": "::1"})
    assert notes(db, "owa-export")["ipv6-clients-dropped"] == 2


def test_ipv6_requests_failing_other_filters_are_not_counted(db):
    add_requests(db, {"csUriStem": "/owa/x.aspx", "cIP": "2a01:111::1"},
                 {"csUriStem": "/owa/x.png", "cIP": "2a01:111::1", "csUriQuery": "a=1"})
    assert notes(db, "owa-export")["ipv6-clients-dropped"] == 0


def test_unparsable_clients_are_counted(db):
    add_requests(db, {"csUriStem": "/owa/x.png", "cIP": "-"},
                 {"csUriStem": "/owa/x.png", "cIP": "1.2.3.4:443"})
    assert notes(db, "owa-export")["unparsable-clients-dropped"] == 2


def test_dash_query_strings_among_candidates_are_counted(db):
    add_requests(db, {"csUriStem": "/owa/x.png", "csUriQuery": "-"},
                 {"csUriStem": "/owa/x.png", "csUriQuery": "-", "cIP": "10.0.0.1"},
                 {"csUriStem": "/owa/x.aspx", "csUriQuery": "-"})
    assert notes(db, "owa-export")["dash-query-strings"] == 1


def test_host_entities_past_128_are_counted(db):
    filler = [{"Type": "account"}] * 128
    add_alerts(db, {"Entities": json.dumps(filler + [{"Type": "host", "HostName": "a"},
                                                     {"Type": "host", "HostName": "b"}])})
    assert notes(db, "exchange-alerts")["host-entities-past-128"] == 2


def test_unmatched_servers_sharing_a_short_name_with_an_alert_host(db):
    add_requests(db, {"Computer": "EXCH01"}, {"Computer": "exch02.contoso.com"},
                 {"Computer": "exch03.contoso.com"})
    add_alerts(db, {"Entities": json.dumps([
        {"Type": "host", "HostName": "exch01", "DnsDomain": "contoso.com"},
        {"Type": "host", "HostName": "exch02"},
        {"Type": "host", "HostName": "exch03", "DnsDomain": "contoso.com"}])})
    run_ = run(db, "exchange-alerts")
    note, = [n for n in run_.notes if n.code == "short-name-matches"]
    assert note.count == 2 and "'exch01'" in note.message


def test_every_note_is_present_even_with_count_zero(db):
    assert set(notes(db, "owa-export")) == {"ipv6-clients-dropped",
                                            "unparsable-clients-dropped", "dash-query-strings"}


def test_checks_of_one_run_share_a_query_they_both_need_and_only_within_that_run():
    import duckdb

    from engine import coverage
    from engine.coverage import Check, shared_rows
    from engine.findings import CoverageNote

    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    sql = "SELECT count(*) FROM t WHERE x > $low"

    def counting(code):
        def run(c, params):
            c.execute("INSERT INTO t VALUES (10)")  # changes what a new query would see
            return CoverageNote(code, shared_rows(c, sql, {"low": params["low"]})[0][0], "")
        return Check(code, {"low": "int"}, run)

    checks = {"a": counting("a"), "b": counting("b")}
    first = coverage.run_checks(con, ("a", "b"), {"low": 0}, checks)
    assert [n.count for n in first] == [1, 1]  # b reused a's rows
    second = coverage.run_checks(con, ("a", "b"), {"low": 0}, checks)
    assert [n.count for n in second] == [3, 3]  # a new run queries again
