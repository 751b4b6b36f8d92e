"""``nodeflow train-demo --out DIR``: train the built-in shapes model (the training lives in the demo node pack)."""
from __future__ import annotations

import argparse

name = "train-demo"
help = "train NodeFlow's built-in model from scratch (resumable; see assets/models/nodeflow_shapes.md)"
add_help = False  # --help goes to the trainer's own parser


def add_arguments(p):
    p.add_argument("args", nargs=argparse.REMAINDER, help="--out DIR [--steps N] [--seed S] [--device cpu|cuda] ...")


def run(args) -> int:
    from nodes.demo.train import cli

    return cli(list(args.args))
