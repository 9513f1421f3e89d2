"""Fixtures for driving the real console on the real demo case.

The demo evidence is written and ingested once per test session (per xdist worker); each
test gets its own copy of the ingested case, so marks never leak between tests. HOME points
at the session folder so that paths on screen read ``~/...`` and snapshots are the same on
every machine.
"""
from __future__ import annotations

import asyncio
import functools
import re
import shutil
from pathlib import Path

import pytest

from engine.case import open_case
from engine.demo import write_demo
from tui.app import ExhuntApp
from tui.screens.state import CaseSource


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("tui-home")
    evidence = home / "evidence"
    write_demo(evidence)
    open_case(home / "case-template", [evidence]).ingest([evidence])
    return home


@pytest.fixture
def demo_source(demo_home, request, monkeypatch) -> CaseSource:
    monkeypatch.setenv("HOME", str(demo_home))
    monkeypatch.delenv("NO_COLOR", raising=False)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    case_dir = demo_home / "cases" / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    shutil.copytree(demo_home / "case-template", case_dir)
    return CaseSource(evidence=[demo_home / "evidence"], case_dir=case_dir)


@pytest.fixture
def demo_app(demo_source) -> ExhuntApp:
    return ExhuntApp(demo_source)


async def wait_loaded(pilot) -> None:
    """Wait until the case is loaded and every pane query has answered."""
    app = pilot.app
    for _ in range(1000):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.main.data is not None and not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
    raise AssertionError("the case never finished loading")


async def settle(pilot) -> None:
    """Let key presses and the pane queries they start finish."""
    await pilot.pause()
    await wait_loaded(pilot)


def pilot_test(test):
    """Run an ``async def`` test (no asyncio plugin needed; fixtures still injected)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run
