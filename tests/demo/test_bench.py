"""bench/generate.py writes realistic, reproducible logs; bench/bench.py finds and runs measures."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"exhunt_test_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generate():
    return _load("generate")


@pytest.fixture(scope="module")
def small_logs(generate, tmp_path_factory):
    return generate.generate(tmp_path_factory.mktemp("logs"), 2.0, servers=2, workers=1)


def test_generates_about_the_requested_size_over_several_servers_and_days(small_logs):
    assert 1.8e6 < small_logs.bytes < 2.2e6
    assert len(small_logs.files) == 4  # 2 servers x 2 days
    assert sum(p.stat().st_size for p in small_logs.paths()) == small_logs.bytes


def test_rows_are_the_data_lines_and_follow_a_fields_line(small_logs):
    lines = [line for p in small_logs.paths() for line in p.read_text().splitlines()]
    data = [line for line in lines if not line.startswith("#")]
    assert len(data) == small_logs.rows
    fields = next(line for line in lines if line.startswith("#Fields: ")).split()[1:]
    assert all(len(line.split(" ")) == len(fields) for line in data)


def test_each_file_has_a_second_header_block_and_crlf(small_logs):
    for path in small_logs.paths():
        data = path.read_bytes()
        assert data.count(b"#Fields: ") == 2
        assert data.count(b"\r\n") == data.count(b"\n")


def test_times_increase_through_the_day(small_logs):
    times = [line.split(" ")[1] for line in small_logs.paths()[0].read_text().splitlines()
             if not line.startswith("#")]
    assert times == sorted(times) and times[0] < "01:00:00" and times[-1] > "23:00:00"


def test_same_seed_same_bytes_whatever_the_number_of_workers(generate, small_logs, tmp_path):
    again = generate.generate(tmp_path, 2.0, servers=2, workers=2)
    assert [p.read_bytes() for p in again.paths()] == [p.read_bytes() for p in small_logs.paths()]


def test_a_previous_generation_is_reused_only_for_the_same_size_and_seed(generate, small_logs):
    assert generate.load_existing(small_logs.root, 2.0, 1).rows == small_logs.rows
    assert generate.load_existing(small_logs.root, 3.0, 1) is None
    assert generate.load_existing(small_logs.root, 2.0, 2) is None


def test_baseline_is_discovered_first_and_reads_every_generated_row(small_logs, tmp_path):
    bench = _load("bench")
    measures = bench.discover_measures(["baseline"])
    assert [topic for topic, _ in measures] == ["baseline"]
    ctx = bench.BenchContext(log_dir=small_logs.root, work_dir=tmp_path, size_mb=small_logs.size_mb,
                             rows=small_logs.rows, files=small_logs.paths(), bytes=small_logs.bytes,
                             repeats=1)
    rows = dict(measures[0][1].measure(ctx))
    assert "baseline: scan row count MISMATCH" not in rows
    assert "MB/s" in rows["baseline: DuckDB read_csv hunt B SQL"]
    assert ctx.baseline_mb_s and ctx.baseline_mb_s > 0


def test_run_python_reports_the_childs_own_peak_memory(tmp_path, small_logs):
    bench = _load("bench")
    ctx = bench.BenchContext(log_dir=small_logs.root, work_dir=tmp_path, size_mb=1, rows=0)
    small = ctx.run_python("result = 1")
    big = ctx.run_python("block = bytearray(200 * 1024 * 1024)\nresult = len(block)")
    assert big.value == 200 * 1024 * 1024
    assert big.peak_rss_mib - small.peak_rss_mib > 150


def test_a_measure_that_fails_to_import_comes_back_as_its_error_beside_the_others(tmp_path, monkeypatch):
    bench = _load("bench")
    broken = tmp_path / "measure_broken.py"
    broken.write_text("raise ImportError('no such engine')\n")
    fine = tmp_path / "measure_fine.py"
    fine.write_text("def measure(ctx):\n    return [('fine: value', '1 s')]\n")
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path)
    found = dict(bench.discover_measures())
    assert isinstance(found["broken"], ImportError)
    assert found["fine"].measure(None) == [("fine: value", "1 s")]


@pytest.fixture(scope="module")
def distinct_logs(generate, tmp_path_factory):
    return generate.generate(tmp_path_factory.mktemp("distinct"), 2.0, servers=2, workers=1,
                             clients="distinct")


def _fields(logs, name: str) -> list[str]:
    lines = [line for p in logs.paths() for line in p.read_text().splitlines()]
    fields = next(line for line in lines if line.startswith("#Fields: ")).split()[1:]
    return [line.split(" ")[fields.index(name)] for line in lines if not line.startswith("#")]


def test_distinct_clients_gives_nearly_every_request_its_own_public_ipv4(distinct_logs):
    import ipaddress

    clients = _fields(distinct_logs, "c-ip")
    assert len(set(clients)) > 0.99 * len(clients)
    assert all(ipaddress.IPv4Address(ip).is_global for ip in clients)


def test_distinct_clients_leaves_about_half_the_queries_empty(distinct_logs):
    queries = _fields(distinct_logs, "cs-uri-query")
    assert 0.45 < queries.count("-") / len(queries) < 0.55


def test_distinct_clients_is_a_generation_of_its_own(generate, distinct_logs):
    assert generate.load_existing(distinct_logs.root, 2.0, 1, "distinct").rows == distinct_logs.rows
    assert generate.load_existing(distinct_logs.root, 2.0, 1) is None
