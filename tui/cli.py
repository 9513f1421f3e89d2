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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``exhunt`` parser with every command, or with command ``only``: importing a
    command module imports what it runs (Textual for the console, DuckDB for the rest), so
    ``exhunt hunt`` does not pay for the console's imports at each start."""
    parser = argparse.ArgumentParser(
        prog="exhunt",
        description="Hunt for Exchange/OWA compromise in local IIS and SecurityAlert evidence.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in COMMAND_MODULES.items():
        if only is None or command == only:
            module = importlib.import_module(f"tui.commands.{module_name}")
            module.register(sub)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["open"]
    elif argv[0] not in COMMAND_MODULES and not argv[0].startswith("-"):
        argv = ["open", *argv]
    command = argv[0]
    parser = build_parser(command if command in COMMAND_MODULES else None)
    if command in COMMAND_MODULES:
        # Options may come before, between or after the paths (`exhunt kql 'Q' --now T DIR`):
        # plain parse_args would stop the PATH list at the first option.
        args = _subparsers(parser)[command].parse_intermixed_args(argv[1:])
    else:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("exhunt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `exhunt hunt ... | head` closed the pipe: not an error worth a traceback.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # A full or read-only disk under the case, a vanished folder: one line naming the
        # file, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"exhunt: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
