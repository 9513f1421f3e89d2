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
