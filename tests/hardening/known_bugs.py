"""Bugs this suite found in code owned by others, one reason string each.

Only the bugs still open are here; the fixed ones are regression tests now (the README's
Robustness section lists them). A test that fails because of one of them is marked
``xfail(strict=True, reason=...)`` with the string below: it keeps running, and once the bug
is fixed the unexpected pass fails the run until the mark is removed.
"""
from __future__ import annotations

import pytest

CASE_INSIDE_EVIDENCE = (
    "open (engine/case.py open_case + tui/commands/common.py): `scan EVIDENCE --case "
    "EVIDENCE/case` is accepted and the case is written inside the evidence folder. The "
    "ingest no longer reads the case's own files back as evidence (fixed): refusing an explicit "
    "--case inside the evidence is left to decide (the default case folder may legitimately "
    "sit inside a very wide evidence path such as a home folder)"
)


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)
