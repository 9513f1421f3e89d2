"""A costly where test of one column, made once per distinct value (engine/kql/pervalue.py):
the rows are those of the same query with every test made per row, on edge values (null,
"", duplicates, non-ASCII, IPv6, values only some rows have), in the same order; and the
rewrite is made where it pays and nowhere else."""
from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.kql import compile_kql, execute_within_memory, install, pervalue
from engine.tables import create_tables
from tests.kql.tables import null_db

T0 = datetime(2021, 3, 2, 8, 1, 0)

# Client addresses, user agents and URIs a hunt's tests treat differently, and None: a
# string column of a case (a view over Parquet files) can hold a null, which the compiler
# otherwise never produces.
IPS = ["203.0.113.7", "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "::1",
       "2001:db8::1", "FE80::1", "fe80::2", "1.2.3.4:443", "", "-", "999.1.1.1", None]
AGENTS = ["Mozilla/5.0+(Windows+NT+10.0)", "okhttp/3.12", "MSRPC", "msrpc", "-", "",
          "İnternet Explorer ", "Mozilla/4.0+(compatible;+Internet+Explorer+6)", "ÉXCH-agent",
          "python-requests/2.31", None]
STEMS = ["/owa/auth/x.js", "/OWA/Auth/logon.aspx", "/ecp/a.flt", "/ecp/healthcheck.htm",
         "/owa/ｏwa/", "/ews/exchange.asmx", "", "/autodiscover/autodiscover.json", None]
QUERIES = ["", "-", "whoami", "cmd.exe%20/c%20dir", "a=whoami&b=1", "@evil.com/mapi/x",
           "Protocol=x", "x:443/", None]
STATUSES = ["200", "302", "401", "403", "500", None]

# (name, KQL): each has at least one costly test of one column.
CASES = [
    ("ipv4_is_private", 'W3CIISLog | where ipv4_is_private(cIP) == false'),
    ("ipv4_is_private_is_null", 'W3CIISLog | where isnull(ipv4_is_private(cIP))'),
    ("not_private_and_affixes",
     'W3CIISLog | where ipv4_is_private(cIP) == false and cIP !startswith "fe80" '
     'and cIP !startswith "::" and cIP !startswith "127."'),
    ("has_any", 'W3CIISLog | where csUriStem has_any ("/owa/auth/", "/ecp/healthcheck.htm")'),
    ("matches_regex", 'W3CIISLog | where csUriStem matches regex @"\\/owa\\/auth\\/[A-Za-z0-9]{1,30}\\.js"'),
    ("has_or_regex_on_three_columns",
     'let command = "(?i)cmd(.exe)?(%20){1,}/c(%20){1,}";\n'
     'W3CIISLog | where (csUriQuery has "whoami" or csUriQuery matches regex command) or '
     '(csUriStem has "whoami" or csUriStem matches regex command) or '
     '(csUserAgent has "whoami")'),
    ("in_ci_and_contains", 'W3CIISLog | where csUserAgent !in~ ("-", "MSRPC") and csUserAgent contains "e"'),
    ("startswith_letters", 'W3CIISLog | where csUserAgent startswith "mozilla" or cIP startswith "FE80"'),
    ("null_kept_by_the_test", 'W3CIISLog | where strcat(cIP, "") == ""'),
    ("null_kept_in_an_or", 'W3CIISLog | where strcat(cIP, "") == "" or csUriStem has "zzz"'),
    ("not_of_a_test", 'W3CIISLog | where not(csUriQuery has "whoami")'),
    ("values_only_some_rows_have",
     'W3CIISLog | where scStatus == "401" | where csUriQuery has "whoami" and cIP has "1"'),
    ("consecutive_wheres",
     'W3CIISLog | where scStatus in ("401", "403") | where cIP !startswith "192.168." '
     '| where ipv4_is_private(cIP) == false | where csUserAgent has "mozilla"'),
    ("computed_column",
     'W3CIISLog | extend UserAgent = replace("\\\\+", " ", csUserAgent) '
     '| where UserAgent matches regex "Internet Explorer |okhttp/" | where UserAgent !startswith "okhttp/"'),
    ("renamed_column", 'W3CIISLog | project-rename Client = cIP | where ipv4_is_private(Client) == false'),
    ("projected_column", 'W3CIISLog | project ip = tolower(cIP), TimeGenerated | where ip has "fe80"'),
    ("sorted_then_filtered",
     'W3CIISLog | sort by TimeGenerated desc, cIP asc | where csUriStem has "owa" | project TimeGenerated, cIP'),
    ("ago", 'W3CIISLog | where todatetime(csUriQuery) > ago(1h) or csUriStem has "ecp"'),
    ("summarize_after",
     'W3CIISLog | where ipv4_is_private(cIP) == false | summarize n = count(), c = dcount(csUserAgent) by cIP'),
    ("join_sides",
     'W3CIISLog | where csUriStem has "owa" | project cIP, csUriStem '
     '| join kind=inner (W3CIISLog | where ipv4_is_private(cIP) == false | distinct cIP) on cIP'),
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return null_db()


def fill(con, rows: list[dict]) -> None:
    con.execute('DELETE FROM "W3CIISLog"')
    for row in rows:
        names = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        con.execute(f'INSERT INTO "W3CIISLog" ({names}) VALUES ({marks})', list(row.values()))


def edge_rows() -> list[dict]:
    """Every client with every agent, stem, query and status at least once, some twice
    (duplicates), each at its own time."""
    rows = []
    for i, ip in enumerate(IPS * 2):
        for j, agent in enumerate(AGENTS):
            rows.append({"TimeGenerated": T0 + timedelta(minutes=i * 10 + j), "cIP": ip,
                         "sIP": "10.0.0.5", "csUserAgent": agent,
                         "csUriStem": STEMS[(i + j) % len(STEMS)],
                         "csUriQuery": QUERIES[(i * 3 + j) % len(QUERIES)],
                         "scStatus": STATUSES[(i + 2 * j) % len(STATUSES)]})
    return rows


def run(con, text: str, policy) -> tuple[list[tuple], list[str]]:
    compiled = compile_kql(text, now=T0 + timedelta(hours=1), per_value=policy)
    return compiled.execute(con).fetchall(), compiled.per_value


def same_rows(a: list[tuple], b: list[tuple], ordered: bool) -> bool:
    if ordered:
        return a == b
    return sorted(a, key=repr) == sorted(b, key=repr)


@pytest.mark.parametrize("name, text", CASES, ids=[c[0] for c in CASES])
def test_rows_are_those_of_the_per_row_tests_on_edge_values(con, name, text):
    fill(con, edge_rows())
    per_value, rewritten = run(con, text, pervalue.always)
    per_row, none = run(con, text, pervalue.never)
    assert rewritten and not none
    assert same_rows(per_value, per_row, ordered="sort" in text), name


def test_the_edge_values_reach_every_case(con):
    """The cases above are not vacuous: each keeps some rows and drops others."""
    fill(con, edge_rows())
    total = len(edge_rows())
    for name, text in CASES:
        if "summarize" in text or "join" in text:
            continue
        kept = len(run(con, text, pervalue.always)[0])
        assert 0 < kept < total, name


def test_a_null_value_keeps_its_row_exactly_when_the_per_row_test_does(con):
    fill(con, [{"TimeGenerated": T0, "cIP": None, "csUriStem": "/a"},
               {"TimeGenerated": T0, "cIP": "", "csUriStem": "/b"},
               {"TimeGenerated": T0, "cIP": "1.2.3.4", "csUriStem": "/c"}])
    for text in ('W3CIISLog | where strcat(cIP, "") == "" | project csUriStem',
                 'W3CIISLog | where strcat(cIP, "") == "" or csUriStem has "zzz" | project csUriStem'):
        rows, rewritten = run(con, text, pervalue.always)
        assert rewritten
        assert sorted(rows) == [("/a",), ("/b",)]
    text = 'W3CIISLog | where ipv4_is_private(cIP) == false | project cIP'
    assert run(con, text, pervalue.always)[0] == [("1.2.3.4",)]  # null and "": not IPv4


def test_duplicate_rows_are_all_kept(con):
    fill(con, [{"TimeGenerated": T0, "cIP": "203.0.113.7"}] * 5 + [{"TimeGenerated": T0, "cIP": "10.1.1.1"}])
    rows, rewritten = run(con, 'W3CIISLog | where ipv4_is_private(cIP) == false | count', pervalue.always)
    assert rewritten and rows == [(5,)]


def test_a_value_only_rows_dropped_by_a_cheap_test_have_is_not_tested(con):
    """The values tested per distinct value are those of the rows the cheap tests keep:
    a value seen only on other rows does not reach the list, and changes nothing."""
    fill(con, [{"TimeGenerated": T0, "scStatus": "401", "csUriQuery": "whoami"},
               {"TimeGenerated": T0, "scStatus": "200", "csUriQuery": "x whoami"},
               {"TimeGenerated": T0, "scStatus": "401", "csUriQuery": "nothing"}])
    compiled = compile_kql('W3CIISLog | where scStatus == "401" and csUriQuery has "whoami" '
                           '| project scStatus, csUriQuery', per_value=pervalue.always)
    assert compiled.per_value == ["W3CIISLog.csUriQuery"]
    assert compiled.execute(con).fetchall() == [("401", "whoami")]


def test_sorted_rows_keep_their_order(con):
    fill(con, edge_rows())
    text = ('W3CIISLog | sort by TimeGenerated desc | where ipv4_is_private(cIP) == false '
            '| project TimeGenerated, cIP')
    per_value, rewritten = run(con, text, pervalue.always)
    assert rewritten and per_value == run(con, text, pervalue.never)[0]
    assert per_value == sorted(per_value, key=lambda r: r[0], reverse=True)


def test_ago_without_an_anchor_is_the_same_time_in_both(con):
    """Without --now, ago() reads the latest TimeGenerated: one subquery, as in the per-row
    SQL."""
    fill(con, [{"TimeGenerated": T0, "csUriQuery": (T0 - timedelta(minutes=m)).isoformat()}
               for m in (0, 30, 90, 600)])
    text = 'W3CIISLog | where todatetime(csUriQuery) > ago(1h)'
    a = compile_kql(text, per_value=pervalue.always)
    b = compile_kql(text, per_value=pervalue.never)
    assert a.per_value == ["W3CIISLog.csUriQuery"]
    assert sorted(a.execute(con).fetchall()) == sorted(b.execute(con).fetchall())
    assert len(a.execute(con).fetchall()) == 2


# ------------------------------------------------------------ where it is made, where not
def applied(text: str, policy=pervalue.always) -> list[str]:
    return compile_kql(text, per_value=policy).per_value


@pytest.mark.parametrize("test, column", [
    ('ipv4_is_private(cIP) == false', "cIP"), ('csUriStem has "/ecp"', "csUriStem"),
    ('csUriStem contains "owa"', "csUriStem"), ('csUriStem matches regex "x+"', "csUriStem"),
    ('csUriStem has_any ("a", "b")', "csUriStem"), ('cIP startswith "fe80"', "cIP"),
    ('strlen(tolower(cIP)) > 3', "cIP"), ('not(csUriQuery has "whoami")', "csUriQuery"),
])
def test_a_costly_test_of_one_column_is_made_per_value(test, column):
    assert applied(f"W3CIISLog | where {test}") == [f"W3CIISLog.{column}"]


@pytest.mark.parametrize("test", [
    'cIP == "1.2.3.4"', 'cIP != "::1"', 'scStatus in ("401", "403")', 'isnotempty(csUserAgent)',
    'csUserAgent !in~ ("-", "MSRPC")', 'csMethod =~ "POST"', 'cIP !startswith "192.168."',
    'scStatus startswith "20"', 'TimeGenerated > ago(1h)', 'sPort == 443',
])
def test_a_cheap_test_stays_per_row(test):
    assert applied(f"W3CIISLog | where {test}") == []


def test_a_test_of_two_columns_stays_per_row():
    assert applied('W3CIISLog | where strcat(cIP, sIP) has "1"') == []


def test_a_test_after_summarize_stays_per_row():
    """A few groups: grouping the table's column again would cost more than the test."""
    assert applied('W3CIISLog | summarize count() by cIP | where ipv4_is_private(cIP) == false') == []


def test_a_test_after_take_stays_per_row():
    assert applied('W3CIISLog | take 10 | where ipv4_is_private(cIP) == false') == []


def test_a_column_computed_from_one_column_is_followed_to_it():
    text = ('W3CIISLog | extend UserAgent = replace("\\\\+", " ", csUserAgent) '
            '| where UserAgent matches regex "okhttp"')
    assert applied(text) == ["W3CIISLog.csUserAgent"]


def test_a_column_computed_from_two_columns_is_not_followed():
    assert applied('W3CIISLog | extend x = strcat(cIP, sIP) | where x has "1"') == []


def test_the_tests_of_one_column_in_consecutive_wheres_are_made_together():
    text = ('W3CIISLog | where ipv4_is_private(cIP) == false | where csUriStem has "owa" '
            '| where cIP !startswith "fe80"')
    assert applied(text) == ["W3CIISLog.cIP", "W3CIISLog.csUriStem"]


def test_the_policy_decides_per_table_column():
    text = 'W3CIISLog | where ipv4_is_private(cIP) == false and csUriStem has "owa"'
    assert applied(text, pervalue.never) == []
    assert applied(text, lambda table, column: column == "csUriStem") == ["W3CIISLog.csUriStem"]


def test_a_row_dependent_function_is_never_made_per_value():
    from engine.kql import ast as A
    call = A.Call(1, 1, "rand", [])
    test = A.Binary(1, 1, "==", A.Name(1, 1, "cIP"), A.Call(1, 1, "tostring", [call]))
    assert not pervalue.per_value_safe(test, lambda name: None)
    assert pervalue.per_value_safe(A.Call(1, 1, "ipv4_is_private", [A.Name(1, 1, "cIP")]),
                                   lambda name: None)


# ------------------------------------------------------------ the sampling policy
def test_sampled_policy_rewrites_repeated_values_and_not_distinct_ones():
    con = null_db()
    con.execute('INSERT INTO "W3CIISLog" ("cIP", "csUriQuery") '
                "SELECT '10.0.0.' || (i % 7), 'q=' || i FROM range(5000) r(i)")
    policy = pervalue.sampled(con)
    assert policy("W3CIISLog", "cIP") is True
    assert policy("W3CIISLog", "csUriQuery") is False
    assert policy("SecurityAlert", "AlertName") is False  # no rows: nothing to gain


def test_sampled_policy_works_while_the_connection_holds_an_unfinished_result():
    con = null_db()
    con.execute('INSERT INTO "W3CIISLog" ("cIP") SELECT \'10.0.0.1\' FROM range(100)')
    con.execute("SELECT * FROM range(10000)")  # not fetched
    assert pervalue.sampled(con)("W3CIISLog", "cIP") is True


# ------------------------------------------------------------ random tables
row_strategy = st.fixed_dictionaries({
    "cIP": st.sampled_from(IPS), "csUserAgent": st.sampled_from(AGENTS),
    "csUriStem": st.sampled_from(STEMS), "csUriQuery": st.sampled_from(QUERIES),
    "scStatus": st.sampled_from(STATUSES),
    "TimeGenerated": st.integers(0, 120).map(lambda m: T0 + timedelta(minutes=m)),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, max_size=25), case=st.sampled_from(CASES))
def test_random_tables_give_the_same_rows_with_and_without_per_value_tests(con, rows, case):
    fill(con, rows)
    name, text = case
    assert same_rows(run(con, text, pervalue.always)[0], run(con, text, pervalue.never)[0],
                     ordered="sort" in text), name


# ------------------------------------------------------------ a sample that misleads
def test_a_per_value_list_over_the_memory_limit_runs_again_per_row_with_the_same_rows(tmp_path):
    # 65,536 requests from 50 clients, then one client per request: the sample says the
    # column repeats, and the list of passing values does not fit 32 MB.
    con = duckdb.connect(config={"memory_limit": "32MB", "threads": 2,
                                 "temp_directory": str(tmp_path)})
    create_tables(con)
    install(con)
    con.execute("""INSERT INTO "W3CIISLog" ("cIP") SELECT CASE WHEN i < 65536
                   THEN '203.0.113.' || (i % 50) ELSE (21 + (i >> 24)) || '.' ||
                   ((i >> 16) & 255) || '.' || ((i >> 8) & 255) || '.' || (i & 255) END
                   FROM range(1000000) r(i)""")
    text = "W3CIISLog | where ipv4_is_private(cIP) == false | summarize n = count()"
    policy = pervalue.sampled(con)
    misled = compile_kql(text, per_value=policy)
    assert misled.per_value == ["W3CIISLog.cIP"]
    with pytest.raises(duckdb.OutOfMemoryException):
        misled.execute(con).fetchall()
    ran, described, rows = execute_within_memory(con, misled, text, policy)
    assert (ran.per_value, described, rows) == ([], [("n", "BIGINT")], [(1_000_000,)])
    assert policy("W3CIISLog", "cIP") is False  # the rest of the run tests it per row
