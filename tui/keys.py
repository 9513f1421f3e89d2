"""Every key the console answers to, in one registry.

The bindings of the app, the main screen and the tables are built from this list, and the
help screen (`?`) renders it, so the help can never disagree with what a key does. Each entry
has a stable id (used in tests and in `Binding.id`).

Choices forced by terminals over SSH: no `alt+` keys (ESC versus Alt is a timing guess), no
`ctrl+enter` (most terminals send plain enter). At 80 columns about nine footer items fit, so
related keys share one footer item through a compact `Binding.Group`.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

SCREENS = Binding.Group("screens", compact=True)
MARKS = Binding.Group("mark", compact=True)
UNREVIEWED = Binding.Group("unrev", compact=True)


@dataclass(frozen=True)
class Key:
    id: str
    key: str  # Textual key name(s), comma-separated
    action: str
    description: str  # footer text: short
    help: str  # help screen text: one sentence
    scope: str  # "app" | "main" | "table" | "dialog"
    show: bool = True
    group: Binding.Group | None = None
    priority: bool = False
    display: str | None = None  # how the key is written for people

    @property
    def shown_key(self) -> str:
        return self.display or self.key


KEYS: tuple[Key, ...] = (
    # Whole application.
    Key("quit", "q", "quit", "quit", "Quit exhunt. Marks are already saved.", "app"),
    Key("help", "question_mark", "help", "help", "Show this list of keys.", "app", display="?"),
    Key("palette", "ctrl+p", "command_palette", "jump",
        "Command palette: jump to any server, file, client IP or alert by fuzzy name.", "app",
        display="^p"),
    # Main screen: moving between screens and panes.
    Key("overview", "1", "show_view('overview')", "overview",
        "Overview: hunts, counts per disposition, evidence, coverage notes.", "main",
        group=SCREENS),
    Key("servers", "2", "show_view('servers')", "servers",
        "Exchange servers (hunt A) with each server's alert timeline.", "main", group=SCREENS),
    Key("files", "3", "show_view('files')", "files",
        "Suspicious files (hunt B) with every request behind a finding and an IP pivot.",
        "main", group=SCREENS),
    Key("next-pane", "tab", "app.focus_next", "next pane", "Move to the next pane.", "main",
        show=False),
    Key("prev-pane", "shift+tab", "app.focus_previous", "previous pane",
        "Move to the previous pane.", "main", show=False),
    Key("filter", "slash", "filter", "filter",
        "Fuzzy filter of the focused list over its visible columns; escape clears it.",
        "main", display="/"),
    Key("clear-filter", "escape", "clear_filter", "clear filter",
        "Clear the filter of the focused list.", "main", show=False, display="esc"),
    Key("detail", "enter", "detail", "detail", "Show every field of the row under the cursor.",
        "main"),
    Key("true-positive", "t", "mark('true-positive')", "TP",
        "Mark the selected findings (or the one under the cursor) true positive.", "main",
        group=MARKS),
    Key("false-positive", "f", "mark('false-positive')", "FP",
        "Mark false positive.", "main", group=MARKS),
    Key("benign", "b", "mark('benign')", "benign", "Mark benign.", "main", group=MARKS),
    Key("needs-follow-up", "i", "mark('needs-follow-up')", "follow-up",
        "Mark needs follow-up.", "main", group=MARKS),
    Key("unreviewed", "u", "mark('unreviewed')", "unreviewed",
        "Back to unreviewed (clears the mark; history keeps it).", "main", group=MARKS),
    Key("note", "n", "note", "note", "Edit the note of the finding(s).", "main", show=False),
    Key("select", "space", "toggle_select", "select",
        "Select or unselect the row; marks then apply to every selected finding.", "main",
        show=False),
    Key("next-unreviewed", "right_square_bracket", "next_unreviewed(1)", "next unreviewed",
        "Jump to the next unreviewed finding.", "main", show=False, group=UNREVIEWED,
        display="]"),
    Key("prev-unreviewed", "left_square_bracket", "next_unreviewed(-1)", "previous unreviewed",
        "Jump to the previous unreviewed finding.", "main", show=False, group=UNREVIEWED,
        display="["),
    Key("export", "e", "export", "export",
        "Export the marked findings to CSV (asks for the path).", "main"),
    Key("rerun", "r", "rerun", "re-run", "Re-read changed evidence and re-run the hunts.",
        "main", show=False),
    # Inside a table.
    Key("cursor-down", "down,j", "cursor(1)", "down", "Next row.", "table", show=False,
        display="down j"),
    Key("cursor-up", "up,k", "cursor(-1)", "up", "Previous row.", "table", show=False,
        display="up k"),
    Key("page-down", "pagedown", "page(1)", "page down", "Next page.", "table", show=False,
        display="pgdn"),
    Key("page-up", "pageup", "page(-1)", "page up", "Previous page.", "table", show=False,
        display="pgup"),
    Key("first-row", "home,g", "cursor_to('first')", "first", "First row.", "table",
        show=False, display="home g"),
    Key("last-row", "end,G", "cursor_to('last')", "last", "Last row.", "table", show=False,
        display="end G"),
    # Dialogs (detail, help, prompts).
    Key("close", "escape", "close", "close", "Close the dialog or view.", "dialog",
        display="esc"),
)

SCOPE_TITLES = {
    "app": "Everywhere",
    "main": "Screens and lists",
    "table": "Inside a list",
    "dialog": "Dialogs and detail views",
}


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of one scope, built from the registry."""
    return [
        Binding(k.key, k.action, k.description, show=k.show, id=k.id, group=k.group,
                priority=k.priority, key_display=k.display)
        for k in KEYS
        if k.scope == scope
    ]


def key(key_id: str) -> Key:
    for k in KEYS:
        if k.id == key_id:
            return k
    raise KeyError(key_id)
