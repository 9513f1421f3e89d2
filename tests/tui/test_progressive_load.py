"""The first load shows each hunt as soon as it has run: on a 10 GB case the twelve hunts
take over a minute, and the analyst can start on the first ones meanwhile. Nothing that
needs every hunt (export, a re-run) runs before they are all in."""
from __future__ import annotations

import threading

import pytest

import engine.hunts
from engine.dispositions import DispositionStore
from engine.rules import load_rules
from tests.seed_hunts import HUNT_A
from tests.tui.conftest import pilot_test, settle, wait_loaded
from tui.app import ExhuntApp
from tui.screens.prompt import PromptScreen
from tui.screens.rows import hunt_tables
from tui.screens.state import in_key_order

# The third hunt in key order (the first after the two seed hunts) is held back.
HELD = in_key_order(load_rules())[2]


@pytest.fixture
def held(monkeypatch):
    """Hold the HELD hunt until the test sets the event."""
    release = threading.Event()
    real = engine.hunts.run_rule

    def run_rule(con, rule, *args, **kwargs):
        if rule.id == HELD.id:
            release.wait(30)
        return real(con, rule, *args, **kwargs)

    monkeypatch.setattr(engine.hunts, "run_rule", run_rule)
    yield release
    release.set()  # never leave the loading thread waiting


async def shown_so_far(pilot, count: int) -> None:
    """Wait until ``count`` hunts are on screen (the load itself is still running)."""
    for _ in range(2000):
        await pilot.pause(0.01)
        data = pilot.app.main.data
        if data is not None and len(data.runs) >= count:
            return
    raise AssertionError(f"{count} hunts were never shown")


async def let_it_finish(pilot, release: threading.Event) -> None:
    """Let the held hunt run and the load end before the app closes (a loading thread left
    waiting would outlive the test)."""
    release.set()
    await wait_loaded(pilot)


def overview_text(app: ExhuntApp) -> str:
    return str(app.main.overview.query_one("#overview-body").render())


@pilot_test
async def test_hunts_that_have_run_are_listed_while_a_later_one_runs(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        assert demo_app.loading
        text = overview_text(demo_app)
        assert all(run.rule_name in text for run in demo_app.main.data.runs)
        assert f"Running {HELD.name}" in text
        assert HELD.name not in [r.rule_name for r in demo_app.main.data.runs]
        await let_it_finish(pilot, held)


@pilot_test
async def test_a_hunt_shown_early_opens_with_its_findings(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        await pilot.press("2")
        await pilot.pause()
        view = demo_app.main.views["servers"]
        assert view.display and len(view.list.table.rows) == len(
            demo_app.main.data.run(HUNT_A).findings) > 0
        await let_it_finish(pilot, held)


@pilot_test
async def test_a_hunt_shown_early_can_be_marked_at_once(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        await pilot.press("2", "home", "t")
        await pilot.pause()
        finding = demo_app.main.views["servers"].list.table.cursor_row.data
        store = DispositionStore(demo_app.main.data.case.dispositions_path)
        assert store.current()[finding.finding_id].disposition == "true-positive"
        await let_it_finish(pilot, held)


@pilot_test
async def test_export_waits_until_every_hunt_has_run(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        await pilot.press("2", "e")
        await pilot.pause()
        assert not isinstance(demo_app.screen, PromptScreen)
        said = [n.message for n in demo_app._notifications]
        assert any("still running" in m and "export once" in m for m in said)
        await let_it_finish(pilot, held)


@pilot_test
async def test_rerun_waits_until_the_load_is_done(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        load = next(w for w in demo_app.workers if w.group == "load")
        await pilot.press("r")
        await pilot.pause()
        assert [w for w in demo_app.workers if w.group == "load"] == [load]
        assert any("Still loading" in n.message for n in demo_app._notifications)
        await let_it_finish(pilot, held)


@pilot_test
async def test_every_hunt_follows_in_key_order_once_the_held_one_has_run(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        held.set()
        await wait_loaded(pilot)
        data = demo_app.main.data
        assert [r.rule_id for r in data.runs] == [r.id for r in in_key_order(load_rules())]
        assert [v.run for v in demo_app.main.views.values()] == data.ordered_runs()
        assert data.pending_hunts == [] and "Running" not in overview_text(demo_app)
        await pilot.press("4")  # the held hunt's key, now live
        await settle(pilot)
        assert demo_app.main.views[list(demo_app.main.views)[2]].run.rule_id == HELD.id


@pilot_test
async def test_a_mark_saved_elsewhere_while_a_hunt_ran_shows_on_its_rows(demo_app, held):
    async with demo_app.run_test(size=(120, 40)) as pilot:
        await shown_so_far(pilot, 2)
        main = demo_app.main
        data = main.data
        run = data.runs[0]
        # The rows of a hunt are built, then another session marks one of its findings
        # before the hunt reaches the screen.
        await main.views.pop(next(iter(main.views))).remove()
        data.runs.remove(run)
        stale = hunt_tables(data, run)
        finding = run.findings[0]
        marks = DispositionStore(data.case.dispositions_path).mark(
            [finding.finding_id], "benign", rule_id=run.rule_id)
        data.apply_marks(marks)
        await main.add_hunt(data, run, stale, marks_seen={})
        await pilot.pause()
        table = next(v for v in main.views.values() if v.run is run).list.table
        assert "benign" in [str(c) for c in table.row_by_key(finding.finding_id).cells]
        await let_it_finish(pilot, held)
