"""Expanding subgraph instances into one flat graph, when a run is planned.

Every instance is replaced by its definition's inner nodes, recursively (nested subgraphs). Inner node ids are
namespaced by the instances around them as ComfyUI's frontend does: node 3 of instance 7 inside instance 5 becomes
``"5:7:3"`` (top-level nodes keep their integer ids). Titles become paths (``"Upscale > Sampler > KSampler"``), so
a problem or an error names where it is. Links through the boundary nodes are joined up: a link into an instance's
input continues to the inner inputs fed by that port, an instance's output is the inner output linked to the
outputs node. An instance's own value for a value port (a promoted widget) replaces the fed inner values; unset,
the inner node's value applies. Nothing else changes, so cache keys (content, never ids) are the same as those of
the same nodes unpacked into the top graph.
"""
from __future__ import annotations

import itertools
from typing import Any

from nodeflow.core.graph import Graph, Link, Node
from nodeflow.core.subgraph import BOUNDARY_TYPES, INPUTS_TYPE, OUTPUTS_TYPE, SubgraphDef

SEPARATOR = ":"
#: How deep instances may nest (a definition that contains itself is reported long before).
MAX_DEPTH = 32

# What feeds a port: ("link", flat node id, output name), ("value", value), or None (nothing: inner values apply).
Binding = tuple | None


class SubgraphProblem(ValueError):
    """A subgraph that cannot be expanded (it contains itself); names the instance path."""

    def __init__(self, message: str, node_id: Any, node_title: str):
        super().__init__(message)
        self.node_id, self.node_title = node_id, node_title


def flatten(graph: Graph) -> tuple[Graph, list[SubgraphProblem]]:
    """The graph with every instance expanded (the graph itself when it has no instances), and the instances
    that could not be expanded (they stay as nodes of an unknown type, which validation reports too)."""
    if not graph.subgraphs or not any(n.type in graph.subgraphs for n in graph.nodes.values()):
        return graph, []
    out = _Flat(graph)
    _Level(out, graph, "", {}, (), (), None).emit_all()
    flat = Graph.from_parts(out.nodes, out.links, (), dict(graph.meta), dict(graph.extra))
    return flat, out.problems


def flat_id(prefix: str, node_id: int) -> Any:
    return node_id if not prefix else f"{prefix}{node_id}"


def top_level_id(flat_node_id: Any) -> int:
    """The top graph's node a flat node belongs to (itself, or the outermost instance around it)."""
    if isinstance(flat_node_id, str):
        return int(flat_node_id.split(SEPARATOR, 1)[0])
    return flat_node_id


class _Flat:
    def __init__(self, root: Graph):
        self.root = root
        self.nodes: list[Node] = []
        self.links: list[Link] = []
        self.problems: list[SubgraphProblem] = []
        self._link_ids = itertools.count(1)

    def link(self, src, output: str, dst, input_name: str) -> None:
        self.links.append(Link(next(self._link_ids), src, output, dst, input_name))


class _Level:
    """One graph level: the top graph, or one instance's copy of a definition."""

    def __init__(self, out: _Flat, graph: Graph, prefix: str, bindings: dict[str, Binding], stack: tuple[str, ...],
                 titles: tuple[str, ...], mode: str | None):
        self.out, self.graph, self.prefix, self.bindings = out, graph, prefix, bindings
        self.stack, self.titles, self.mode = stack, titles, mode
        self._instances: dict[int, dict[str, Binding] | None] = {}

    # -- what feeds a link ----------------------------------------------------------------------------------------
    def source(self, link: Link) -> Binding:
        src = self.graph.nodes.get(link.src)
        if src is None:  # a dangling link stays dangling: validation names it
            return ("link", flat_id(self.prefix, link.src), link.src_output)
        if src.type == INPUTS_TYPE:
            return self.bindings.get(link.src_output)
        if src.type in self.out.root.subgraphs:
            outputs = self.instance(src)
            return None if outputs is None else outputs.get(link.src_output)
        return ("link", flat_id(self.prefix, src.id), link.src_output)

    def instance(self, node: Node) -> dict[str, Binding] | None:
        """Expand an instance once; returns what feeds each of its outputs (None if it cannot be expanded)."""
        if node.id in self._instances:
            return self._instances[node.id]
        self._instances[node.id] = None  # a cycle through instances ends here; validation reports the cycle
        defn: SubgraphDef = self.out.root.subgraphs[node.type]
        label = node.title or defn.name or node.type
        path = " > ".join(self.titles + (label,))
        if defn.id in self.stack or len(self.stack) >= MAX_DEPTH:
            why = "contains itself" if defn.id in self.stack else f"nests more than {MAX_DEPTH} levels deep"
            self.out.problems.append(SubgraphProblem(f"subgraph {defn.name!r} {why}", flat_id(
                self.prefix, node.id), path))
            return None
        bindings: dict[str, Binding] = {}
        for port in defn.inputs:
            link = self.graph.link_into(node.id, port.name)
            if link is not None:
                bindings[port.name] = self.source(link)
            elif port.name in node.values:
                bindings[port.name] = ("value", node.values[port.name])
        mode = self.mode or (node.mode if node.mode != "normal" else None)
        inner = _Level(self.out, defn.graph, f"{flat_id(self.prefix, node.id)}{SEPARATOR}", bindings,
                       self.stack + (defn.id,), self.titles + (label,), mode)
        inner.emit_all()
        outputs = {}
        for link in defn.graph.incoming(_outputs_node(defn.graph)):
            outputs[link.dst_input] = inner.source(link)
        self._instances[node.id] = outputs
        return outputs

    # -- emitting the flat nodes and links ------------------------------------------------------------------------
    def emit_all(self) -> None:
        roots = self.out.root.subgraphs
        for node in self.graph.nodes.values():
            if node.type in BOUNDARY_TYPES and self.stack:
                continue
            if node.type in roots:
                if self.instance(node) is None:
                    self.emit(node)  # kept as a node of an unknown type: it cannot run
                continue
            self.emit(node)

    def emit(self, node: Node) -> None:
        flat = node.copy()
        flat.id = flat_id(self.prefix, node.id)
        if self.titles:
            flat.title = " > ".join(self.titles + (node.label,))
            flat.extra = dict(flat.extra, inner_title=node.title)  # what ComfyUI's prompt names it by
        if self.mode is not None and node.mode == "normal":
            flat.mode = self.mode
        sockets = set(flat.socket_inputs)
        for link in self.graph.incoming(node.id):
            fed = self.source(link)
            if fed is None:
                # An unfed subgraph input: the inner node's own value applies, as in ComfyUI.
                if self._from_boundary(link):
                    sockets.discard(link.dst_input)
                continue
            if fed[0] == "value":
                flat.values[link.dst_input] = fed[1]
                sockets.discard(link.dst_input)
            else:
                self.out.link(fed[1], fed[2], flat.id, link.dst_input)
        flat.socket_inputs = frozenset(sockets)
        self.out.nodes.append(flat)

    def _from_boundary(self, link: Link) -> bool:
        src = self.graph.nodes.get(link.src)
        return src is not None and (src.type == INPUTS_TYPE or src.type in self.out.root.subgraphs)


def _outputs_node(graph: Graph) -> int | None:
    return next((n.id for n in graph.nodes.values() if n.type == OUTPUTS_TYPE), None)
