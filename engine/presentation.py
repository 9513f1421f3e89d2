"""How the console presents one hunt: its findings list, the roles of its columns, and the
panes that open under a finding. Declared by the hunt (its YAML ``console:`` key, or derived
from the Sentinel metadata when the YAML has none), read by the console.

Pure data: no Textual, no SQL text reaches the console through here. A pane that needs a
query names a drill-down of the hunt (``Pane.drilldown``); the engine runs it
(engine/drilldown.py) with values taken from the finding's row, bound as parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# What a cell shows of a value (lists are sorted first, nulls dropped, for first/last/min/max).
PICKS = ("value", "first", "last", "count", "join")

# Column roles the console understands. A role says what the value *is*, so the console can
# offer it in the jump palette, pivot on it and name it in the status line.
ROLES = ("server", "file", "ip", "time", "account", "alert", "url", "tenant")

# Pane kinds:
#   "rows"      rows of a drill-down query of this hunt, bound from the finding's row;
#   "timeline"  the same, with a histogram of ``Pane.time_column`` drawn above the rows;
#   "findings"  findings of another hunt (``Pane.hunt``) whose ``Pane.match`` columns equal
#               this finding's (ASCII case-insensitively), computed from results in memory.
PANE_KINDS = ("rows", "timeline", "findings")


@dataclass(frozen=True)
class ListColumn:
    """One column of a list (findings list or pane)."""
    source: str  # column of the finding row (or of the pane's rows)
    title: str
    width: int = 12  # minimum width in cells
    flex: bool = False  # takes a share of spare width
    right: bool = False  # right-aligned (numbers)
    optional: bool = False  # dropped first when the terminal is narrow
    pick: str = "value"  # one of PICKS
    empty: str = ""  # text shown for null / missing / empty list
    plus_as_space: bool = False  # IIS writes spaces in user agents as '+'


@dataclass(frozen=True)
class Pane:
    """Something shown under the findings list for the finding under the cursor."""
    id: str  # unique within the hunt
    title: str
    kind: str  # one of PANE_KINDS
    columns: tuple[ListColumn, ...]
    empty_text: str = ""
    drilldown: str | None = None  # kinds rows/timeline: id of the hunt's drill-down query
    time_column: str | None = None  # kind timeline: column of the pane rows to histogram
    hunt: str | None = None  # kind findings: slug or id of the other hunt
    # kind findings: other hunt's column -> this finding's column (equal when ASCII-folded)
    match: Mapping[str, str] = field(default_factory=dict)
    height: int = 1  # share of the screen's height (the findings list has 2)


@dataclass(frozen=True)
class Presentation:
    """The console's view of one hunt."""
    title: str  # list / screen title, e.g. "Exchange servers"
    noun: str  # plural for counts in the status line, e.g. "servers"
    columns: tuple[ListColumn, ...]  # the findings list (the disposition column is added)
    roles: Mapping[str, str] = field(default_factory=dict)  # role -> column of the row
    panes: tuple[Pane, ...] = ()
    empty_text: str = "No findings."

    def role_column(self, role: str) -> str | None:
        return self.roles.get(role)
