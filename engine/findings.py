"""What a hunt run produces: findings (one per KQL output row) and coverage notes.

A finding id is derived from the rule id and the row's group key only, so the same
server or file keeps its id when more evidence arrives and the rest of the row changes.
Dispositions hang on that id.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


def finding_id(rule_id: str, key: tuple[Any, ...]) -> str:
    """Stable id: 16 hex digits of SHA-256 over the rule id and the group key values."""
    payload = json.dumps([rule_id, [("" if v is None else str(v)) for v in key]],
                         ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: a lone surrogate in hostile text must still give an id, not an error.
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    rule_id: str
    finding_id: str
    # The KQL output row: column name -> Python value (str, int, float, bool, None,
    # datetime (naive, UTC), list). Insertion order is KQL's column order.
    row: dict[str, Any]
    # The group key values the id was derived from, in the rule's key order.
    key: tuple[Any, ...] = ()


@dataclass(frozen=True)
class CoverageNote:
    """What the query as written could not see in this evidence, with a count."""
    code: str  # short stable identifier, e.g. "ipv6-clients-dropped"
    count: int
    message: str  # one readable sentence for the analyst, count included


@dataclass
class HuntRun:
    rule_id: str
    rule_slug: str
    rule_name: str
    columns: list[str]  # KQL output columns, in KQL's order
    findings: list[Finding] = field(default_factory=list)
    notes: list[CoverageNote] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # Set by engine.hunts.run_hunts: the rule (engine.rules.Rule) and how the console
    # shows its findings (engine.presentation.Presentation).
    rule: Any = None
    presentation: Any = None
    # Why the rule could not run (its query failed), when run_hunts kept going without it:
    # no findings then means "not run", never "nothing found".
    failed: str | None = None
