"""ctrl+p: jump to any hunt, or to any server, file, client IP, account, URL or alert a
hunt's findings name, by fuzzy name.

What a value *is* comes from the roles a hunt declares for its columns (engine.presentation),
so a hunt dropped in as a rule folder is searchable like the seed hunts. Hits are scored with
rapidfuzz (Textual's own matcher took 682 ms for 200 URLs and its highlighter parses markup,
which crashes on a name containing ``[/]``). Each hit's display is a ``Text`` from
``safe_text`` with the matched characters styled; the palette's ``help`` line is markup, so it
is never used.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from rapidfuzz import fuzz, process
from rich.text import Text
from textual.command import Hit, Hits, Provider

from tui.safe_text import display_str, escape_controls, highlight, safe
from tui.search import Query, match_spans
from tui.screens.hunt_view import view_names
from tui.screens.rows import ascii_fold
from tui.screens.state import CaseData

MAX_HITS = 40
MIN_SCORE = 60.0

# Roles offered as jump targets, in the order a hunt's names are listed. A file, alert or
# URL is named with its server ("x.zip on exch01"): the same name on two servers is two
# findings.
TARGET_ROLES = ("server", "file", "ip", "alert", "account", "url")
NAMED_WITH_SERVER = ("file", "alert", "url")
# Names whose letter case means nothing (host names, addresses, Windows accounts): one entry
# for "exch04.contoso.com" (hunt A) and "EXCH04.contoso.com" (hunt B), the first hunt's.
CASELESS_ROLES = ("server", "ip", "account")


@dataclass(frozen=True)
class Target:
    kind: str  # "hunt" or a role: "server" | "file" | "ip" | "alert" | "account" | "url"
    label: str  # what is matched and shown
    view: str  # the hunt's view name ("servers", "files", "hunt-<slug>")
    finding_id: str  # "" for a hunt: the jump opens its view where the cursor was


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [display_str(v) for v in items if v is not None and display_str(v) != ""]


def jump_targets(data: CaseData) -> list[Target]:
    """Everything the palette can jump to: each hunt, then one entry per name its findings
    carry in a role column (the first finding naming it, hunts in presentation order)."""
    runs = data.ordered_runs()
    views = {id(run): name for run, name in zip(runs, view_names(runs))}
    targets: list[Target] = []
    for run in runs:
        presentation = getattr(run, "presentation", None)
        title = presentation.title if presentation is not None else run.rule_name
        label = title if title.lower() == run.rule_name.lower() else \
            f"{title} · {run.rule_name}"
        targets.append(Target("hunt", label, views[id(run)], ""))
    seen: set[tuple[str, str]] = set()
    for run in runs:
        presentation = getattr(run, "presentation", None)
        if presentation is None:
            continue
        roles = {role: presentation.role_column(role) for role in TARGET_ROLES}
        server_column = roles.get("server")
        for f in run.findings:
            server = ", ".join(_values(f.row.get(server_column))) if server_column else ""
            for role, column in roles.items():
                if not column:
                    continue
                for value in _values(f.row.get(column)):
                    label = value
                    if role in NAMED_WITH_SERVER and server and value != server:
                        label = f"{value} on {server}"
                    seen_as = (role, ascii_fold(label) if role in CASELESS_ROLES else label)
                    if seen_as not in seen:
                        seen.add(seen_as)
                        targets.append(Target(role, label, views[id(run)], f.finding_id))
    return targets


class JumpProvider(Provider):
    """Fuzzy jump over the open case's hunts and the names their findings carry."""

    _targets: list[Target] = []
    _labels: list[str] = []

    async def startup(self) -> None:
        # Once per palette opening, not per keystroke: 100k findings give ~200k names.
        data: CaseData | None = getattr(self.screen, "data", None)
        self._targets = [] if data is None else jump_targets(data)
        self._labels = [escape_controls(t.label).lower() for t in self._targets]

    async def search(self, query: str) -> Hits:
        jump: Callable[[Target], None] | None = getattr(self.screen, "jump_to", None)
        if jump is None or not self._targets or not query.strip():
            return
        targets = self._targets
        parsed = Query.parse(query)
        found = process.extract(query.lower(), self._labels, scorer=fuzz.partial_ratio,
                                processor=None, limit=MAX_HITS, score_cutoff=MIN_SCORE)
        # Equal scores keep the targets' order (hunts, then hunts in presentation order):
        # rapidfuzz does not promise it, and the palette sorts by score alone, so a tie
        # between hunt B's file and another hunt's URL of the same path goes to hunt B.
        found.sort(key=lambda hit: (-hit[1], hit[2]))
        for rank, (_, score, index) in enumerate(found):
            target = targets[index]
            display = Text(f"{target.kind:<7} ", style="dim", end="")
            label = safe(target.label)
            display.append_text(highlight(label, match_spans(label.plain, parsed)))
            yield Hit(score / 100.0 - rank * 1e-6, display, partial(jump, target),
                      text=escape_controls(target.label))
