"""Imported layouts made to fit NodeFlow's node sizes: a ComfyUI workflow was arranged for ComfyUI's (shorter)
nodes, so with NodeFlow's extra rows a node would cover its neighbours' titles and frame headers. The sizes come
from the canvas's Qt-free geometry, the moves from ``core.spread_layout``, and they reach the graph as operations."""
from __future__ import annotations

from nodeflow.app.canvas import node_layout as nl
from nodeflow.core import operations as ops
from nodeflow.core.graph import Graph
from nodeflow.core.spread_layout import spread

#: Room for what the canvas draws around a node's body: the run-state badge above it, an error strip below it.
BADGE_ROOM = 18.0


def node_rects(graph: Graph, registry) -> dict[int, tuple[float, float, float, float]]:
    rects = {}
    links = sorted(graph.links.values(), key=lambda l: l.id)
    for nid, node in graph.nodes.items():
        nt = registry.get(node.type)
        layout = nl.compute_layout(node, nt, [l.dst_input for l in links if l.dst == nid],
                                   [l.src_output for l in links if l.src == nid])
        rects[nid] = (node.pos[0], node.pos[1] - BADGE_ROOM, layout.width, layout.height + BADGE_ROOM)
    return rects


def fit_operation(graph: Graph, registry) -> ops.Operation | None:
    """The moves that make nothing overlap (None when everything fits already)."""
    rects = node_rects(graph, registry)
    result = spread(rects, {gid: tuple(g.rect) for gid, g in graph.groups.items()})
    steps: list[ops.Operation] = []
    if result.positions:
        steps.append(ops.MoveNodes.of({nid: (x, y + BADGE_ROOM) for nid, (x, y) in result.positions.items()}))
    steps += [ops.UpdateGroup.of(gid, rect=rect) for gid, rect in result.frames.items()]
    return ops.Batch(tuple(steps), label="fit imported layout") if steps else None
