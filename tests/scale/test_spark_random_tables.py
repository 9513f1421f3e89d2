"""Differential check: both hunts on Spark against DuckDB on random tables drawn from the
hunt tests' alphabets of tricky values (tests/hunts/test_reference_agreement.py): odd
Entities JSON, IPv6/private/malformed clients, non-ASCII names, NULL times, repeats."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest

from engine.tables import SECURITYALERT, W3CIISLOG
from tests.hunts import test_reference_agreement as tricky
from tests.hunts.conftest import add_alerts, add_requests, new_db

pytestmark = pytest.mark.slow

_SPARK_TYPES = {"VARCHAR": "string", "TIMESTAMP": "timestamp_ntz", "INTEGER": "int",
                "BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean"}


def _view(spark, table, rows, defaults):
    """A Spark view with the table's KQL columns, filled like the DuckDB helpers fill them."""
    columns = [c for c in table.kql_columns]
    schema = ", ".join(f"`{c.name}` {_SPARK_TYPES[c.sql_type]}" for c in columns)
    data = [tuple({**defaults, **row}.get(c.name, "" if c.is_string else None)
                  for c in columns) for row in rows]
    spark.createDataFrame(data, schema).createOrReplaceTempView(table.name)


# Few, large examples: every Spark query costs about a second even on tiny data.
@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(w3c=st.lists(tricky.requests, min_size=40, max_size=120),
       sec=st.lists(tricky.alerts, min_size=30, max_size=80))
def test_both_hunts_on_spark_match_duckdb_on_random_tables(spark, builtin_rules, w3c, sec):
    from engine.hunts import run_rule
    from engine.spark import run_rule_on_views
    from tests.hunts.conftest import ALERT_DEFAULTS, REQUEST_DEFAULTS

    con = new_db()
    add_requests(con, *w3c)
    add_alerts(con, *sec)
    _view(spark, W3CIISLOG, w3c, REQUEST_DEFAULTS)
    _view(spark, SECURITYALERT, sec, ALERT_DEFAULTS)
    for rule in builtin_rules.values():
        want = [f.row for f in run_rule(con, rule).findings]
        got = [f.row for f in run_rule_on_views(spark, rule).findings]
        assert got == want, rule.slug
    con.close()
