"""A join that looks at no right row without a left match (inner, innerunique, leftouter,
leftsemi, leftanti) whose right side groups rows (summarize/distinct) by the join keys, after
a left side that is not a table's rows: the right side groups only the rows whose keys the
left side has (iis-brute-force, alert-linked-requests). The rows are those of the same
query where the restriction cannot be made (a `take` of more rows than there are, after the
grouping, keeps every row and stops it)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest

from engine.kql import compile_kql
from tests.kql.tables import null_db

T0 = datetime(2021, 3, 2, 8, 0, 0)
LEFT = ('W3CIISLog | where scStatus in ("401", "403") '
        '| summarize fails = count(), last = max(TimeGenerated) by Computer, cIP')


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = null_db()  # without NOT NULL: a case's columns can hold nulls
    rows = []
    for i, (computer, ip, status) in enumerate([
            ("EXCH01", "203.0.113.7", "401"), ("EXCH01", "203.0.113.7", "401"),
            ("EXCH01", "203.0.113.7", "200"), ("EXCH01", "203.0.113.7", "200"),
            ("EXCH02", "203.0.113.7", "200"), ("EXCH01", "198.51.100.9", "403"),
            ("EXCH01", "198.51.100.9", "302"), ("EXCH02", "10.0.0.1", "200"),
            ("EXCH02", None, "401"), ("EXCH02", None, "200"), (None, "1.1.1.1", "401"),
            (None, "1.1.1.1", "200"), ("", "", "403"), ("", "", "200"),
            ("ÉXCH", "2001:db8::1", "401"), ("ÉXCH", "2001:db8::1", "200")]):
        rows.append((T0 + timedelta(minutes=i), computer, ip, status, f"/p{i % 3}"))
    con.executemany('INSERT INTO "W3CIISLog" ("TimeGenerated", "Computer", "cIP", "scStatus", '
                    '"csUriStem") VALUES (?, ?, ?, ?, ?)', rows)
    return con


RIGHTS = [
    ("distinct", 'W3CIISLog | where scStatus startswith "20" '
                 '| distinct Computer, cIP, TimeGenerated'),
    ("summarize", 'W3CIISLog | where scStatus == "200" '
                  '| summarize ok = count(), paths = make_set(csUriStem) by Computer, cIP'),
    ("renamed_after", 'W3CIISLog | summarize n = count() by Computer, ip = cIP '
                      '| where n > 0 | project-rename cIP = ip | extend m = n * 2'),
    ("expression_key", 'W3CIISLog | summarize n = count() by Computer = tolower(Computer), cIP'),
]


def rows(con, text: str) -> list[tuple]:
    """The rows in a fixed order, make_set's lists sorted (their order is unspecified)."""
    compiled = compile_kql(text)
    out = []
    for row in compiled.execute(con).fetchall():
        out.append(tuple(sorted(json.loads(v), key=repr) if t == "dynamic" and v is not None else v
                         for t, v in zip(compiled.types, row)))
    return sorted(out, key=repr)


@pytest.mark.parametrize("kind", ["inner", "innerunique", "leftouter", "leftsemi", "leftanti"])
@pytest.mark.parametrize("name, right", RIGHTS, ids=[r[0] for r in RIGHTS])
def test_rows_are_those_of_the_unrestricted_join(con, kind, name, right):
    restricted = f"{LEFT} | join kind={kind} ({right}) on Computer, cIP"
    unrestricted = f"{LEFT} | join kind={kind} ({right} | take 1000000) on Computer, cIP"
    assert " SEMI JOIN q" in compile_kql(restricted).sql
    assert " SEMI JOIN " not in compile_kql(unrestricted).sql
    got = rows(con, restricted)
    assert got == rows(con, unrestricted)
    assert got or kind == "leftanti", name  # some keys meet


def test_the_groups_keep_every_row_of_their_key(con):
    got = rows(con, f"{LEFT} | join kind=inner (W3CIISLog | summarize n = count() by Computer, cIP) "
                    "on Computer, cIP | project Computer, cIP, fails, n")
    assert ("EXCH01", "203.0.113.7", 2, 4) in got  # all four requests of the pair counted
    assert all(r[1] is not None and r[0] is not None for r in got)  # null keys never join


@pytest.mark.parametrize("query", [
    # the left side is a table's rows: reading it twice would materialize it
    'W3CIISLog | join kind=inner (W3CIISLog | summarize n = count() by cIP) on cIP',
    # right rows of other keys appear in these
    f'{LEFT} | join kind=rightouter (W3CIISLog | summarize n = count() by Computer, cIP) on Computer, cIP',
    f'{LEFT} | join kind=fullouter (W3CIISLog | summarize n = count() by Computer, cIP) on Computer, cIP',
    f'{LEFT} | join kind=rightsemi (W3CIISLog | summarize n = count() by Computer, cIP) on Computer, cIP',
    f'{LEFT} | join kind=rightanti (W3CIISLog | summarize n = count() by Computer, cIP) on Computer, cIP',
    # top keeps the first rows of all groups: dropping groups first would change which
    f'{LEFT} | join kind=inner (W3CIISLog | summarize n = count() by Computer, cIP | top 2 by n) '
    'on Computer, cIP',
    # the key is not a grouping key
    f'{LEFT} | join kind=inner (W3CIISLog | summarize cIP = any(cIP) by Computer) on Computer, cIP',
])
def test_no_restriction_where_it_would_not_be_exact_or_would_not_pay(query):
    assert " SEMI JOIN " not in compile_kql(query).sql
