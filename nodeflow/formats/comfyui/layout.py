"""Positions for a graph that has none (an API prompt): columns left to right by depth (the longest path from a
node with no inputs), nodes stacked in each column in the prompt's order."""
from __future__ import annotations

from nodeflow.core.graph import Graph

COLUMN_WIDTH = 400.0
ROW_GAP = 40.0
ROW_HEIGHT = 26.0
TITLE_HEIGHT = 40.0


def depths(graph: Graph) -> dict[int, int]:
    """Longest path from a source for each node (the graph must be acyclic)."""
    preds: dict[int, list[int]] = {n: [] for n in graph.nodes}
    succ: dict[int, list[int]] = {n: [] for n in graph.nodes}
    for l in graph.links.values():
        if l.src in graph.nodes and l.dst in graph.nodes:
            preds[l.dst].append(l.src)
            succ[l.src].append(l.dst)
    indeg = {n: len(p) for n, p in preds.items()}
    ready = [n for n, d in indeg.items() if d == 0]
    depth = {n: 0 for n in ready}
    while ready:
        n = ready.pop()
        for m in succ[n]:
            depth[m] = max(depth.get(m, 0), depth[n] + 1)
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return depth


def auto_layout(graph: Graph, registry, order: list[int]) -> None:
    """Place every node; ``order`` is the prompt's node order (rows follow it within a column)."""
    depth = depths(graph)
    column_y: dict[int, float] = {}
    for node_id in order:
        node = graph.nodes[node_id]
        col = depth.get(node_id, 0)
        y = column_y.get(col, 0.0)
        node.pos = (col * COLUMN_WIDTH, y)
        column_y[col] = y + _height(node, registry) + ROW_GAP


def _height(node, registry) -> float:
    nt = registry.get(node.type)
    if nt is None:
        rows = len(node.values) + 2
    else:
        rows = max(len(nt.outputs), len([i for i in nt.inputs if i.kind == "socket"])) + len(nt.widget_inputs)
    return TITLE_HEIGHT + ROW_HEIGHT * max(rows, 1)
