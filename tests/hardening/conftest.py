"""Fixtures for the hardening suite: an evidence folder, a case folder beside it (never inside
it), and a deterministic hypothesis profile so a CI failure can be replayed."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI: derandomized so the same examples run every time; no per-example deadline because an
# ingest opens DuckDB and writes Parquet, which is not what hypothesis deadlines are for.
settings.register_profile(
    "hardening-ci",
    derandomize=True,
    deadline=None,
    max_examples=15,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("EXHUNT_HYPOTHESIS_PROFILE", "hardening-ci"))


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    path = tmp_path / "evidence"
    path.mkdir()
    return path


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    return tmp_path / "case"


@pytest.fixture
def is_root() -> bool:
    return os.geteuid() == 0
