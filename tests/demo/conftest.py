"""The demo folder is written once per test session: every test here only reads it."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.demo import DemoSummary, write_demo
from tests.demo.reference import Row, read_demo_iis


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> DemoSummary:
    return write_demo(tmp_path_factory.mktemp("demo") / "evidence")


@pytest.fixture(scope="session")
def demo_dir(demo) -> Path:
    return demo.dest


@pytest.fixture(scope="session")
def demo_rows(demo_dir) -> list[Row]:
    return read_demo_iis(demo_dir)[0]


@pytest.fixture(scope="session")
def demo_bad_lines(demo_dir) -> dict[str, list[int]]:
    return read_demo_iis(demo_dir)[1]
