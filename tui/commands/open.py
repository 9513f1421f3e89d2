"""`exhunt open PATH... [--case DIR]`: the triage console on a case.

With no PATH it opens the built-in demo case, writing the demo evidence on first use under
the user's data directory. The console paints at once and loads the case in the
background; ingest progress shows on its status line, not on stderr.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from tui.commands.common import add_evidence_arguments

    parser = subparsers.add_parser(
        "open", help="open the triage console (the demo case when no PATH is given)",
        description="Open the keyboard-driven triage console on evidence folders or files. "
                    "Without PATH, open the built-in demo case.")
    add_evidence_arguments(parser)
    if not any("--rules" in a.option_strings for a in parser._actions):
        parser.add_argument("--rules", dest="rules_dirs", metavar="DIR", type=Path,
                            action="append", default=[],
                            help="also load the rules in DIR (repeatable)")
    parser.add_argument("--mouse", action="store_true",
                        help="turn on mouse support (off by default: over SSH the terminal's "
                             "mouse reporting gets in the way of a keyboard-driven tool)")
    parser.set_defaults(func=run)


def source_from_args(args: argparse.Namespace):
    """What to open: the named evidence and case, or the demo when no PATH is given."""
    from tui.commands.common import options_from_args
    from tui.screens.state import CaseSource

    evidence = [Path(p) for p in (getattr(args, "paths", None) or [])]
    options = options_from_args(args)
    rules_dirs = [Path(p) for p in (getattr(args, "rules_dirs", None) or [])]
    case_dir = getattr(args, "case", None)
    return CaseSource(evidence=evidence, case_dir=Path(case_dir) if case_dir else None,
                      options=options, rules_dirs=rules_dirs, demo=not evidence)


def run(args: argparse.Namespace) -> int:
    from tui.app import ExhuntApp

    app = ExhuntApp(source_from_args(args))
    app.run(mouse=bool(args.mouse))
    return int(app.return_code or 0)
