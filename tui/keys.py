"""Every key the console answers to, in one registry.

The bindings of the app, the main screen and the tables are built from this list, and the
help screen (`?`) renders it, so the help can never disagree with what a key does. Each entry
has a stable id (used in tests and in `Binding.id`).

Choices forced by terminals over SSH: no `alt+` keys (ESC versus Alt is a timing guess), no
`ctrl+enter` (most terminals send plain enter). At 80 columns about nine footer items fit, so
related keys share one footer item through a compact `Binding.Group`.

Hunts are plug-ins, so the number keys are generic: `2`..`9` open the hunts in presentation
order (the seed hunts declare orders 1 and 2, so they stay on `2` and `3`). The registry holds
those keys once; :func:`registry` fills in the names of the hunts of the open case for the
help screen. Hunts beyond `9` open from the overview (`enter`) and the palette.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from textual.binding import Binding

SCREENS = Binding.Group("screens", compact=True)
MARKS = Binding.Group("mark", compact=True)
UNREVIEWED = Binding.Group("unrev", compact=True)

FIRST_HUNT_KEY, LAST_HUNT_KEY = 2, 9
# Number keys shown in the footer (when the case has that many hunts): at 80 columns the
# footer holds "123" and no more; the rest are in the help.
FOOTER_HUNT_KEYS = 3


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
        "Command palette: jump to any hunt, server, file, client IP, account, URL or alert "
        "by fuzzy name.", "app",
        display="^p"),
    # Main screen: moving between screens and panes.
    Key("overview", "1", "show_view('overview')", "overview",
        "Overview: hunts, counts per disposition, evidence, coverage notes.", "main",
        group=SCREENS),
    *(Key(f"hunt-{n}", str(n), f"show_hunt({n - FIRST_HUNT_KEY})", f"hunt {n - 1}",
          f"Hunt {n - 1} of the case, in presentation order (its name shows here once the "
          f"case is loaded).", "main", group=SCREENS, show=n <= FOOTER_HUNT_KEYS)
      for n in range(FIRST_HUNT_KEY, LAST_HUNT_KEY + 1)),
    Key("next-pane", "tab", "app.focus_next", "next pane", "Move to the next pane.", "main",
        show=False),
    Key("prev-pane", "shift+tab", "app.focus_previous", "previous pane",
        "Move to the previous pane.", "main", show=False),
    Key("filter", "slash", "filter", "filter",
        "Fuzzy filter of the focused list over its visible columns; escape clears it.",
        "main", display="/"),
    Key("clear-filter", "escape", "clear_filter", "clear filter",
        "Clear the filter of the focused list.", "main", show=False, display="esc"),
    Key("detail", "enter", "detail", "detail",
        "Show every field of the row under the cursor; on the overview, open the hunt under "
        "the cursor.", "main"),
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


def hunt_key_id(position: int) -> str:
    """The registry id of the number key of the hunt at ``position`` (0: key 2)."""
    return f"hunt-{position + FIRST_HUNT_KEY}"


def registry(hunts: Sequence[str] = ()) -> tuple[Key, ...]:
    """The registry with the number keys named after ``hunts`` (what each opens, in
    presentation order), for the help screen. Once the case's hunts are known, a number key
    with no hunt behind it is left out: it does nothing."""
    out = []
    for k in KEYS:
        if k.id.startswith("hunt-") and hunts:
            position = int(k.key) - FIRST_HUNT_KEY
            if position >= len(hunts):
                continue
            k = replace(k, help=f"{hunts[position]}.")
        out.append(k)
    return tuple(out)


def key(key_id: str) -> Key:
    for k in KEYS:
        if k.id == key_id:
            return k
    raise KeyError(key_id)
