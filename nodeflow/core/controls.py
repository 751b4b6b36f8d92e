"""'Control after generate': seed-like values that change after each run (fixed, increment, decrement, randomize).

The run uses the value shown; the change applies afterwards (as ComfyUI does), and the seed actually used is
recorded with each result, so what a picture was made with is never in doubt.
"""
from __future__ import annotations

import random

from nodeflow.core import operations as ops
from nodeflow.core.graph import Graph
from nodeflow.core.registry import Registry


def after_run_operations(graph: Graph, registry: Registry, rng: random.Random | None = None) -> ops.Batch:
    rng = rng or random.Random()
    changes: list[ops.Operation] = []
    for node in graph.nodes.values():
        nt = registry.get(node.type)
        if nt is None or node.mode == "muted":
            continue
        for inp in nt.inputs:
            mode = node.controls.get(inp.name, "fixed")
            if not inp.control_after_generate or mode == "fixed" or inp.name in node.socket_inputs:
                continue
            value = node.values.get(inp.name, inp.default) or 0
            lo = int(inp.min if inp.min is not None else 0)
            hi = int(inp.max if inp.max is not None else 2 ** 64 - 1)
            if mode == "increment":
                new = value + 1 if value < hi else lo
            elif mode == "decrement":
                new = value - 1 if value > lo else hi
            else:
                new = rng.randint(lo, min(hi, 2 ** 53))  # stays exact in JSON readers that use doubles
            changes.append(ops.SetValue(node.id, inp.name, new))
    return ops.Batch(tuple(changes), label="change seeds after run")
