"""Every seed and dev-set query compiles and runs on the demo case (written by engine.demo,
ingested like any evidence)."""
from __future__ import annotations

import pytest

from engine.kql import compile_kql, default_now
from tests.kql.queries import QUERIES

demo = pytest.importorskip("engine.demo")
case_module = pytest.importorskip("engine.case")


@pytest.fixture(scope="module")
def demo_con(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    evidence = base / "evidence"
    demo.write_demo(evidence)
    case = case_module.open_case(base / "case", [evidence])
    case.ingest([evidence])
    return case.connect()


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_runs_on_demo_case(demo_con, name):
    now = default_now(demo_con)
    assert now is not None
    compiled = compile_kql(QUERIES[name], now=now)
    rows = compiled.execute(demo_con).fetchall()
    assert all(len(r) == len(compiled.columns) for r in rows)


def test_demo_case_hunt_a_finds_exchange_servers(demo_con):
    rows = compile_kql(QUERIES["ExchangeServersAssociatedSecurityAlerts"]).execute(demo_con).fetchall()
    assert rows, "the demo evidence has Exchange servers"
