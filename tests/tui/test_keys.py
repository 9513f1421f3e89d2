"""The key registry is the single truth: bindings and help come from it."""
from __future__ import annotations

from tui import keys
from tui.app import ExhuntApp
from tui.screens.help import render_help
from tui.screens.main import MainScreen
from tui.widgets.table import VirtualTable

ISSUE_KEYS = {"1", "2", "3", "slash", "escape", "ctrl+p", "tab", "shift+tab", "enter", "t",
              "f", "b", "i", "u", "n", "space", "right_square_bracket",
              "left_square_bracket", "e", "r", "question_mark", "q"}


def all_keys() -> set[str]:
    return {part for k in keys.KEYS for part in k.key.split(",")}


def test_every_key_the_issue_asks_for_is_registered():
    assert ISSUE_KEYS <= all_keys()


def test_no_binding_uses_alt_or_ctrl_enter():
    assert not any(part.startswith("alt+") or part == "ctrl+enter" for part in all_keys())


def test_ids_are_unique():
    ids = [k.id for k in keys.KEYS]
    assert len(ids) == len(set(ids))


def test_app_screen_and_table_bindings_come_from_the_registry():
    registered = {k.id for k in keys.KEYS}
    for owner in (ExhuntApp, MainScreen, VirtualTable):
        ids = {b.id for b in owner.BINDINGS}
        assert ids and ids <= registered, owner


def test_a_key_has_one_meaning_per_scope():
    for scope in keys.SCOPE_TITLES:
        parts = [p for k in keys.KEYS if k.scope == scope for p in k.key.split(",")]
        assert len(parts) == len(set(parts)), scope


def test_the_help_lists_every_registered_key():
    from rich.console import Console
    console = Console(width=120, record=True)
    console.print(render_help())
    text = console.export_text()
    for k in keys.KEYS:
        assert k.shown_key in text and k.help.split()[0] in text, k.id
