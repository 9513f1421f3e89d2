"""What each screen looks like on the demo case at 80x24 and 120x40.

Regenerate with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs
in ``__snapshots__`` before accepting them.
"""
from __future__ import annotations

import pytest

from tests.tui.conftest import settle, wait_loaded

SIZES = [(80, 24), (120, 40)]
SCREENS = {
    "overview": (),
    "servers": ("2",),
    "files": ("3",),
    "detail": ("3", "enter"),
    "help": ("question_mark",),
    "filter": ("3", "slash", "z", "i", "p"),
}


def keys_then_settle(keys):
    async def run_before(pilot):
        await wait_loaded(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_looks_as_accepted(screen, size, demo_app, snap_compare):
    assert snap_compare(demo_app, terminal_size=size,
                        run_before=keys_then_settle(SCREENS[screen]))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_kql_only_hunts_screen_looks_as_accepted(size, demo_source, tmp_path, snap_compare):
    """The screen the console builds for a rule folder holding only Sentinel KQL (the
    presentation the engine derives from its columns and entity mappings)."""
    import dataclasses

    from tests.tui.test_plugin_hunts import RULE_ID, open_from_overview, write_rule
    from tui.app import ExhuntApp

    write_rule(tmp_path / "my-rules")
    app = ExhuntApp(dataclasses.replace(demo_source, rules_dirs=[tmp_path / "my-rules"]))

    async def run_before(pilot):
        await wait_loaded(pilot)
        await open_from_overview(app, pilot, RULE_ID)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
