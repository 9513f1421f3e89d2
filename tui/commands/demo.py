"""``exhunt demo [DIR]``: write the built-in demo evidence folder and say what is in it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.demo import DemoError, demo_evidence_dir, write_demo


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="write the demo evidence folder (synthetic, deterministic)",
        description="Write a realistic, deterministic evidence folder: four Exchange servers and an "
                    "intranet IIS server over three days, a planted mailbox export, ProxyLogon "
                    "probing and Defender alerts. Open it with `exhunt DIR`.",
    )
    parser.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                        help="folder to write (must be empty, new, or a previous demo); "
                             "default: the built-in demo's folder in your data directory")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.dir is None:
            dest = demo_evidence_dir()
            summary = write_demo(dest)
        else:
            summary = write_demo(args.dir)
    except DemoError as exc:
        print(f"exhunt demo: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"exhunt demo: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.quiet:
        print(summary.dest)
    else:
        print(summary.describe())
        print(f"\nNext: exhunt {summary.dest}")
    return 0
