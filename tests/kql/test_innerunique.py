"""join kind=innerunique (KQL's default): one arbitrary left row per key, then an inner join.
The compiler keeps that row among the left rows whose key the right side has, grouped
rather than numbered (rare-user-agents on 46 M requests); these pin what may not change."""
from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from engine.kql import compile_kql
from tests.kql.tables import null_db

LEFT = ("datatable(k: string, a: long, b: string) ["
        '"x", 1, "p", "x", 2, "q", "x", 3, "r", "y", 4, "s", "z", 5, "t", "", 6, "u", "", 7, "v"]')
RIGHT = 'datatable(k: string, w: long) ["x", 10, "x", 11, "y", 12, "", 13, "nope", 14]'


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return null_db()


def rows(con, text: str) -> list[tuple]:
    compiled = compile_kql(text)
    return compiled.execute(con).fetchall()


def test_one_left_row_per_key_meets_every_right_row_of_that_key(con):
    got = rows(con, f"{LEFT} | join ({RIGHT}) on k | project k, a, b, w")
    # keys on both sides: x (2 right rows), y (1), "" (1); z and "nope" are on one side only
    assert Counter(r[0] for r in got) == {"x": 2, "y": 1, "": 1}
    left = {("x", 1, "p"), ("x", 2, "q"), ("x", 3, "r"), ("y", 4, "s"), ("", 6, "u"), ("", 7, "v")}
    for key in ("x", "y", ""):
        kept = {r[:3] for r in got if r[0] == key}
        assert len(kept) == 1 and kept <= left, key  # one whole left row, not a mix
    assert sorted(r[3] for r in got if r[0] == "x") == [10, 11]


def test_null_keys_never_join(con):
    con.execute('DELETE FROM "W3CIISLog"')
    con.execute('INSERT INTO "W3CIISLog" ("cIP", "sIP") VALUES (NULL, \'a\'), (NULL, \'b\'), '
                "('1.2.3.4', 'c')")
    got = rows(con, 'W3CIISLog | project cIP, sIP | join (W3CIISLog | project cIP, s2 = sIP) on cIP '
                    '| project cIP, sIP, s2')
    assert got == [("1.2.3.4", "c", "c")]


def test_a_left_side_with_no_joinable_key_gives_no_rows(con):
    assert rows(con, f'{LEFT} | where k == "z" | join ({RIGHT}) on k') == []
