"""Fixtures for the dispositions tests: a case folder and its store path."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "case"
    folder.mkdir()
    return folder


@pytest.fixture
def store_path(case_dir: Path) -> Path:
    return case_dir / "dispositions.sqlite"
