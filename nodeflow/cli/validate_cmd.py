"""``nodeflow validate FILE...``: print every problem of each workflow; exit 2 if there is any."""
from __future__ import annotations

from nodeflow.cli.common import add_settings_arguments, environment_from_args, load_any
from nodeflow.cli.errors import EXIT_INVALID, EXIT_OK, CliError

name = "validate"
help = "check workflow files and print all problems"


def add_arguments(p):
    p.add_argument("files", nargs="+", metavar="FILE")
    add_settings_arguments(p)


def run(args) -> int:
    from nodeflow.core.validation import validate

    env = environment_from_args(args)
    code = EXIT_OK
    for path in args.files:
        try:
            graph = load_any(path, env)
        except CliError as e:
            print(f"{e}")
            code = EXIT_INVALID
            continue
        problems = validate(graph, env.registry, env.settings)
        for p in problems:
            print(f"{path}: {p}")
        if problems:
            code = EXIT_INVALID
        else:
            print(f"{path}: ok ({len(graph.nodes)} nodes, {len(graph.links)} links)")
    return code
