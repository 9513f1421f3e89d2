"""The ``exhunt`` command: dispatches to one module per subcommand in ``tui/commands``.

Each module defines ``register(subparsers)``, which adds its parser and sets
``func(args) -> int`` as the parser default. ``exhunt`` alone opens the console on the
built-in demo case; ``exhunt PATH...`` is short for ``exhunt open PATH...``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command -> module in tui/commands (``import`` is a Python keyword, hence the mapping).
# Order here is the order ``exhunt --help`` lists them.
COMMAND_MODULES = {
    "open": "open",
    "scan": "scan",
    "hunt": "hunt",
    "kql": "kql",
    "mark": "mark",
    "history": "history",
    "export": "export",
    "import": "import_results",
    "demo": "demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exhunt",
        description="Hunt for Exchange/OWA compromise in local IIS and SecurityAlert evidence.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES.values():
        module = importlib.import_module(f"tui.commands.{module_name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["open"]
    elif argv[0] not in COMMAND_MODULES and not argv[0].startswith("-"):
        argv = ["open", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("exhunt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `exhunt hunt ... | head` closed the pipe: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
