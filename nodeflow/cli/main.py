"""``nodeflow``: the editor by default; ``run``, ``validate``, ``nodes`` and friends for the command line.

Exit codes: 0 success; 2 invalid workflow or arguments (nothing executed, nothing written); 1 failure during a run.
"""
from __future__ import annotations

import argparse
import sys

from nodeflow.cli.errors import CliError, EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    from nodeflow.cli import commands

    parser = argparse.ArgumentParser(prog="nodeflow", description="Node-based image-generation pipelines.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands.COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(handler=getattr(command, "run", None))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].endswith((".json", ".png")) and not argv[0].startswith("-")):
        argv = ["gui", *argv]  # `nodeflow` and `nodeflow FILE` open the editor
    from nodeflow.cli.commands import COMMANDS

    for command in COMMANDS:
        if getattr(command, "passthrough", False) and argv[0] == command.name:
            return int(command.run_argv(argv[1:]) or 0)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad arguments, 0 on --help
        return int(e.code or 0)
    try:
        return int(args.handler(args) or 0)
    except CliError as e:
        print(f"nodeflow: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("nodeflow: interrupted", file=sys.stderr)
        return 1


def entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main", "EXIT_INVALID"]
