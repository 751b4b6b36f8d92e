"""Building graphs in code: new nodes with their declared defaults, a small fluent builder for scripts and tests."""
from __future__ import annotations

from nodeflow.core import operations as ops
from nodeflow.core.graph import Graph, Node
from nodeflow.core.registry import Registry


def new_node(registry: Registry, type_name: str, node_id: int, pos=(0.0, 0.0), title: str | None = None,
             settings=None, **values) -> Node:
    """A node of a registered type with its declared defaults; a choice without a default takes the first choice."""
    nt = registry.get(type_name)
    if nt is None:
        raise KeyError(f"unknown node type {type_name!r}")
    vals = nt.default_values()
    for inp in nt.widget_inputs:
        if inp.name not in vals and inp.name not in values and (inp.choices is not None or inp.files):
            choices = inp.choice_list(settings)
            if choices:
                vals[inp.name] = choices[0]
    vals.update(values)
    return Node(node_id, type_name, nt.display_name if title is None else title, (float(pos[0]), float(pos[1])),
                values=vals, type_version=nt.version)


class GraphBuilder:
    """``b = GraphBuilder(reg); a = b.add("A", x=1); b.link(a, "OUT", b.add("B"), "in"); b.graph``"""

    def __init__(self, registry: Registry, graph: Graph | None = None, settings=None):
        self.registry = registry
        self.graph = graph or Graph()
        self.settings = settings
        self._x = 0.0

    def add(self, type_name: str, title: str | None = None, pos=None, **values) -> int:
        node_id = self.graph.new_node_id()
        if pos is None:
            pos, self._x = (self._x, 0.0), self._x + 260.0
        self.graph.apply(ops.AddNode(new_node(self.registry, type_name, node_id, pos, title, self.settings,
                                              **values)))
        return node_id

    def link(self, src: int, output: str, dst: int, input_name: str) -> int:
        op = ops.connect(self.graph, src, output, dst, input_name)
        self.graph.apply(op)
        return op.link.id
