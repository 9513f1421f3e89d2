"""``exhunt mark FINDING... --as DISPOSITION [--note TEXT] [--analyst NAME] --case DIR``.

The headless twin of the console's ``t``/``f``/``b``/``i``/``u`` keys. Each finding's rule id
comes from the case's current hunt results; an id that is not among them is still recorded
(it may belong to evidence not loaded yet, or to a finding that went away) with a warning.

Also home of the small helpers the other dispositions commands share (``history``,
``export``): locating the case, opening its store, running its hunts.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.dispositions import DISPOSITIONS, DispositionError, DispositionStore, default_analyst
from engine.export import evidence_conflict
from engine.findings import HuntRun
from tui.safe_text import escape_controls

if TYPE_CHECKING:
    from engine.case import Case

STORE_FILE_NAME = "dispositions.sqlite"  # Case.dispositions_path, for readers that need no Case
# A finding id is opaque text, but it is printed back and stored: keep it to one visible word.
_FINDING_ID = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]{1,200}")


class CommandError(Exception):
    """A problem the user can fix; printed as ``exhunt <command>: <message>``, exit 1."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mark",
        help="set the disposition of findings",
        description="Record a disposition (and optional note) for one or more findings of a "
                    "case. Each change is kept in the case's history; 'unreviewed' clears a mark.",
    )
    parser.add_argument("findings", nargs="+", metavar="FINDING", help="finding id(s)")
    parser.add_argument("--as", dest="disposition", required=True, type=_disposition,
                        metavar="DISPOSITION", help="one of: " + ", ".join(DISPOSITIONS))
    parser.add_argument("--note", default=None, metavar="TEXT",
                        help="free-text note (replaces the current note; omitted: keep it)")
    parser.add_argument("--analyst", default=None, metavar="NAME",
                        help="who is marking (default: your login name)")
    add_case_arguments(parser)
    parser.set_defaults(func=run)


def add_case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", required=True, metavar="DIR", type=Path,
                        help="case folder (as created by 'exhunt open/scan')")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR", type=Path,
                        help="extra folder of rule YAML files (repeatable)")


def _disposition(text: str) -> str:
    value = text.strip().lower()
    if value not in DISPOSITIONS:
        raise argparse.ArgumentTypeError(
            f"invalid disposition {text!r}; choose one of: " + ", ".join(DISPOSITIONS))
    return value


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (CommandError, DispositionError, ValueError) as exc:
        print(f"exhunt mark: {escape_controls(str(exc))}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    ids = [fid.strip() for fid in args.findings]
    for fid in ids:
        if not _FINDING_ID.fullmatch(fid):
            raise CommandError(f"{escape_controls(fid)!s} is not a finding id")
    case_dir = case_folder(args.case)
    case = open_case_strict(case_dir)
    runs = hunt_runs_or_warn(case, args.rules)
    by_finding = {f.finding_id: run for run in (runs or []) for f in run.findings}
    ids = [_known_spelling(fid, by_finding) for fid in ids]
    rule_ids = {}
    for fid in ids:
        run = by_finding.get(fid)
        if run is not None:
            rule_ids[fid] = run.rule_id
        elif runs is not None:
            warn(f"{fid}: finding not in current results (recorded with no rule id)")
    with open_store(case) as store:
        before = {fid: store.get(fid) for fid in ids}
        marks = store.mark(ids, args.disposition, rule_id=rule_ids, note=args.note,
                           analyst=args.analyst)
    for mark in marks:
        old = before.get(mark.finding_id)
        was = old.disposition if old is not None else "unreviewed"
        run = by_finding.get(mark.finding_id)
        where = run.rule_name if run is not None else "finding not in current results"
        change = f"{was} -> {mark.disposition}" if was != mark.disposition else f"{mark.disposition} (unchanged)"
        print(f"{escape_controls(mark.finding_id)}  {change}  {escape_controls(where)}")
    who = (args.analyst or "").strip() or default_analyst()
    print(f"marked {len(marks)} finding{'s' if len(marks) != 1 else ''} as {args.disposition}"
          f" (analyst {escape_controls(who)})")
    return 0


def _known_spelling(fid: str, known: dict[str, HuntRun]) -> str:
    """Finding ids are lower-case hex; accept one typed in upper case."""
    if fid not in known and fid.lower() in known:
        return fid.lower()
    return fid


# -- shared by mark, history and export ---------------------------------------------------

def warn(message: str) -> None:
    print(f"warning: {escape_controls(message)}", file=sys.stderr)


def case_folder(path: Path) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CommandError(f"no case folder at {folder}")
    return folder


def open_case_strict(case_dir: Path) -> Case:
    """The case in ``case_dir``; it must already be one (ingested at least once), so that a
    mistyped --case never turns some other folder, evidence included, into a case."""
    try:
        from engine.case import open_case
        case = open_case(case_dir, evidence=[])
        manifest = case.read_manifest()
    except Exception as exc:
        raise CommandError(f"could not open case {case_dir}: {exc}") from exc
    if not manifest:
        raise CommandError(f"{case_dir} is not an exhunt case (nothing was ingested there); "
                           f"create it with 'exhunt scan EVIDENCE --case {case_dir}'")
    return case


def hunt_runs(case: Case, rule_dirs: Sequence[Path], only: Sequence[str] = ()) -> list[HuntRun]:
    """Run the case's hunts (every loaded rule, or those named by id or slug in ``only``)."""
    from engine.hunts import run_hunts
    from engine.rules import find_rule, load_rules
    rules = load_rules(rule_dirs)
    if only:
        chosen = {}
        for name in only:
            rule = find_rule(rules, name)
            chosen[rule.id] = rule
        rules = list(chosen.values())
    con = case.connect()
    try:
        return run_hunts(con, case.path, rules)
    finally:
        con.close()


def hunt_runs_or_warn(case: Case, rule_dirs: Sequence[Path]) -> list[HuntRun] | None:
    try:
        return hunt_runs(case, rule_dirs)
    except Exception as exc:
        warn(f"could not run the hunts to check finding ids ({exc}); recording without rule ids")
        return None


def open_store(case: Case) -> DispositionStore:
    path = case.dispositions_path
    conflict = evidence_conflict(path, case.evidence_paths)
    if conflict is not None:
        raise CommandError(f"refusing to keep marks in {path}: {conflict}; use a case folder "
                           f"outside the evidence")
    store = DispositionStore(path)
    for message in store.warnings:
        warn(message)
    return store
