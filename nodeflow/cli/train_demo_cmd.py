"""``nodeflow train-demo --out DIR``: train the built-in shapes model (the training lives in the demo node pack)."""
from __future__ import annotations

name = "train-demo"
help = "train NodeFlow's built-in model from scratch (resumable; see assets/models/nodeflow_shapes.md)"
#: Every argument after the command name goes to the trainer's own parser (so --help shows its options).
passthrough = True


def add_arguments(p):
    pass


def run_argv(argv: list[str]) -> int:
    from nodes.demo.train import cli

    return cli(list(argv))
