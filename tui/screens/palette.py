"""ctrl+p: jump to any server, file, client IP or alert by fuzzy name.

Hits are scored with rapidfuzz (Textual's own matcher took 682 ms for 200 URLs and its
highlighter parses markup, which crashes on a name containing ``[/]``). Each hit's display is
a ``Text`` from ``safe_text`` with the matched characters styled; the palette's ``help``
line is markup, so it is never used.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from rapidfuzz import fuzz, process
from rich.text import Text
from textual.command import Hit, Hits, Provider

from tui.safe_text import escape_controls, highlight, safe
from tui.search import Query, match_spans
from tui.screens.state import HUNT_A, HUNT_B, CaseData

MAX_HITS = 40
MIN_SCORE = 60.0


@dataclass(frozen=True)
class Target:
    kind: str  # "server" | "file" | "ip" | "alert"
    label: str  # what is matched and shown
    view: str  # "servers" | "files"
    finding_id: str


def jump_targets(data: CaseData) -> list[Target]:
    """Everything the palette can jump to, one entry per name."""
    targets: list[Target] = []
    seen_alerts: set[tuple[str, str]] = set()
    for f in data.findings(HUNT_A):
        server = str(f.row.get("ExchangeServer", ""))
        targets.append(Target("server", server, "servers", f.finding_id))
        for name in f.row.get("AlertNames") or []:
            if (server, name) not in seen_alerts:
                seen_alerts.add((server, name))
                targets.append(Target("alert", f"{name} on {server}", "servers", f.finding_id))
    seen_ips: set[str] = set()
    for f in data.findings(HUNT_B):
        stem = str(f.row.get("csUriStem", ""))
        targets.append(Target("file", f"{stem} on {f.row.get('Computer', '')}", "files",
                              f.finding_id))
        for ip in f.row.get("AccessingIPs") or []:
            if ip not in seen_ips:
                seen_ips.add(ip)
                targets.append(Target("ip", str(ip), "files", f.finding_id))
    return targets


class JumpProvider(Provider):
    """Fuzzy jump over the open case's servers, files, client IPs and alerts."""

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
        for _, score, index in found:
            target = targets[index]
            display = Text(f"{target.kind:<6} ", style="dim", end="")
            label = safe(target.label)
            display.append_text(highlight(label, match_spans(label.plain, parsed)))
            yield Hit(score / 100.0, display, partial(jump, target),
                      text=escape_controls(target.label))
