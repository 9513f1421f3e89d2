"""Fixtures shared by every test folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared/realdata beside the checkout; EXHUNT_REALDATA overrides (CI clones sit beside it too).
REALDATA = Path(os.environ.get("EXHUNT_REALDATA", REPO.parent / "shared" / "realdata"))
SHARED_HUNTS = REALDATA.parent / "hunts"


@pytest.fixture
def realdata_dir() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real evidence samples not present at {REALDATA}")
    return REALDATA


@pytest.fixture
def shared_hunts_dir() -> Path:
    if not SHARED_HUNTS.is_dir():
        pytest.skip(f"shared hunts not present at {SHARED_HUNTS}")
    return SHARED_HUNTS


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Never touch the real user's data directory: platformdirs honours XDG_* on Linux."""
    base = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))
