"""Subgraphs: reusable pieces of a graph, stored once and used by any number of instance nodes.

A ``SubgraphDef`` is a graph with declared inputs and outputs (``Port``: name, type). Its inner graph holds two
boundary nodes, as ComfyUI's subgraphs do: the inputs node (id -10, type ``SubgraphInputs``) whose outputs are the
subgraph's inputs, and the outputs node (id -20, type ``SubgraphOutputs``) whose inputs are its outputs; links from
and to them are ordinary links named by port. Every definition (nested ones too) lives in the top graph's
``graph.subgraphs``; an instance is a node whose ``type`` is a definition's id. An instance's sockets are the
definition's ports; a value port (INT, STRING, COMBO ...) is also a value the instance may set for itself (ComfyUI's
promoted widget): unset, the inner node's own value applies, which every instance shares.

Instances are expanded into their inner nodes when a run is planned (``core/subgraph_expand.py``); the editor and
the loaders see them through ``SubgraphTypes``, a registry view that answers for the definitions' ids.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from nodeflow.core import socket_types as st
from nodeflow.core.graph import Graph, Node, freeze
from nodeflow.core.nodedef import Input, NodeType, Output

INPUTS_NODE_ID, OUTPUTS_NODE_ID = -10, -20  # ComfyUI's ids for the boundary nodes
INPUTS_TYPE, OUTPUTS_TYPE = "SubgraphInputs", "SubgraphOutputs"
BOUNDARY_TYPES = (INPUTS_TYPE, OUTPUTS_TYPE)
CATEGORY = "subgraphs"


@dataclass
class Port:
    name: str
    type: str
    label: str = ""
    #: Fields we don't interpret (ComfyUI's port ids and positions ...), kept for the round trip.
    extra: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> "Port":
        return Port(self.name, self.type, self.label, copy.deepcopy(self.extra))


@dataclass
class SubgraphDef:
    id: str
    name: str
    graph: Graph
    inputs: list[Port] = field(default_factory=list)
    outputs: list[Port] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> "SubgraphDef":
        return SubgraphDef(self.id, self.name, self.graph.copy(), [p.copy() for p in self.inputs],
                           [p.copy() for p in self.outputs], copy.deepcopy(self.extra))

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)

    def structure(self) -> tuple:
        ports = tuple((p.name, p.type, p.label, freeze(p.extra)) for p in self.inputs), tuple(
            (p.name, p.type, p.label, freeze(p.extra)) for p in self.outputs)
        return self.name, ports, self.graph.structure(), freeze(self.extra)

    def used_definitions(self) -> set[str]:
        """Ids of the definitions this one's nodes are instances of (one level)."""
        return {n.type for n in self.graph.nodes.values() if n.type not in BOUNDARY_TYPES}


def new_definition(def_id: str, name: str, inputs=(), outputs=(), inputs_pos=(0.0, 0.0),
                   outputs_pos=(600.0, 0.0)) -> SubgraphDef:
    """An empty definition with its two boundary nodes."""
    graph = Graph.from_parts([Node(INPUTS_NODE_ID, INPUTS_TYPE, "Inputs", tuple(inputs_pos)),
                              Node(OUTPUTS_NODE_ID, OUTPUTS_TYPE, "Outputs", tuple(outputs_pos))])
    return SubgraphDef(def_id, name, graph, list(inputs), list(outputs))


def is_instance(graph_root: Graph, node: Node) -> bool:
    return node.type in graph_root.subgraphs


def instances_of(root: Graph, def_id: str) -> list[tuple[str | None, int]]:
    """Where a definition is used: (the definition holding the instance, or None for the top graph, node id)."""
    found = [(None, n.id) for n in root.nodes.values() if n.type == def_id]
    for d in root.subgraphs.values():
        found += [(d.id, n.id) for n in d.graph.nodes.values() if n.type == def_id]
    return found


# -- what the instances and the boundary nodes look like to the editor and validation ---------------------------------
def _fed(defn: SubgraphDef, port: str, registry, subgraphs: dict, depth: int = 0):
    """The first inner (node, input name, input declaration) a subgraph input feeds, through nested instances
    (the declaration is None where a nested instance sets the value itself)."""
    for link in defn.graph.outgoing(INPUTS_NODE_ID):
        node = defn.graph.nodes.get(link.dst)
        if link.src_output != port or node is None:
            continue
        inner = subgraphs.get(node.type)
        if inner is not None:
            if link.dst_input in node.values or depth > 16:
                return node, link.dst_input, None
            found = _fed(inner, link.dst_input, registry, subgraphs, depth + 1)
            if found is not None:
                return found
            continue
        nt = registry.get(node.type)
        inp = nt.input(link.dst_input) if nt is not None else None
        if inp is not None:
            return node, link.dst_input, inp
    return None


def inner_target(defn: SubgraphDef, port: str, registry, subgraphs: dict | None = None) -> Input | None:
    """The inner input a subgraph input feeds (its widget is what an unset instance value shows)."""
    found = _fed(defn, port, registry, subgraphs or {})
    return found[2] if found else None


def inner_value(defn: SubgraphDef, port: str, registry, subgraphs: dict | None = None) -> Any:
    """The value an instance uses for a value port it does not set: the fed inner node's own value."""
    found = _fed(defn, port, registry, subgraphs or {})
    if found is None:
        return None
    node, name, inp = found
    if name in node.values:
        return node.values[name]
    return inp.default if inp is not None else None


def instance_type(defn: SubgraphDef, registry, subgraphs: dict | None = None) -> NodeType:
    """The node type an instance of ``defn`` presents: the ports as sockets, value ports also as its values."""
    inputs = []
    for p in defn.inputs:
        target = inner_target(defn, p.name, registry, subgraphs)
        # a value the instance can set when what it feeds inside is a value (a socket-only input stays a socket)
        if target.is_widget if target is not None else st.is_value_type(p.type):
            t = target.type if target is not None else p.type
            inputs.append(Input(p.name, t, default=inner_value(defn, p.name, registry, subgraphs), optional=True,
                                kind="either", label=p.label or None,
                                choices=target.choices if target is not None else None,
                                files=target.files if target is not None else None,
                                min=target.min if target is not None else None,
                                max=target.max if target is not None else None,
                                step=target.step if target is not None else None,
                                multiline=target.multiline if target is not None else False))
        else:
            inputs.append(Input(p.name, p.type, optional=True, kind="socket", label=p.label or None))
    outputs = tuple(Output(p.name, p.type) for p in defn.outputs)
    return NodeType(defn.id, defn.name or "Subgraph", CATEGORY, None, tuple(inputs), outputs,
                    description=f"subgraph {defn.name!r}: {len(defn.graph.nodes) - 2} nodes inside",
                    extra={"subgraph": defn.id})


def boundary_type(defn: SubgraphDef, which: str) -> NodeType:
    """The inputs node shows the subgraph's inputs as outputs, the outputs node its outputs as inputs."""
    if which == INPUTS_TYPE:
        return NodeType(INPUTS_TYPE, "Subgraph inputs", CATEGORY, None, (),
                        tuple(Output(p.name, p.type) for p in defn.inputs), ui_only=True)
    return NodeType(OUTPUTS_TYPE, "Subgraph outputs", CATEGORY, None,
                    tuple(Input(p.name, p.type, optional=True, kind="socket") for p in defn.outputs), (),
                    ui_only=True)


def holds(subgraphs: dict, outer: str, inner: str) -> bool:
    """Is ``inner`` ``outer`` or nested in it, at any depth?"""
    seen, todo = set(), [outer]
    while todo:
        d = todo.pop()
        if d == inner:
            return True
        if d in seen or d not in subgraphs:
            continue
        seen.add(d)
        todo.extend(subgraphs[d].used_definitions())
    return False


class SubgraphTypes:
    """A registry view for one graph being edited: the registry's types, plus a node type for each definition of
    ``root`` (instances), plus the boundary nodes of ``current`` (the definition shown, if any). Everything else
    is the underlying registry's."""

    def __init__(self, registry, root: Graph, current: SubgraphDef | None = None):
        self.base = registry
        self.root = root
        self.current = current
        #: def id -> (what the type is made from, the type): views are asked for types at every paint
        self._made: dict[str, tuple] = {}

    def _instance_type(self, defn: SubgraphDef) -> NodeType:
        fed = []
        for link in defn.graph.outgoing(INPUTS_NODE_ID):
            node = defn.graph.nodes.get(link.dst)
            fed.append((link.src_output, link.dst, link.dst_input, node.type if node else None,
                        repr(node.values.get(link.dst_input)) if node else None))
        key = (defn.name, tuple((p.name, p.type, p.label) for p in defn.inputs),
               tuple((p.name, p.type) for p in defn.outputs), tuple(fed), len(defn.graph.nodes))
        made = self._made.get(defn.id)
        if made is None or made[0] != key:
            made = (key, instance_type(defn, self.base, self.root.subgraphs))
            self._made[defn.id] = made
        return made[1]

    def scoped(self, current: SubgraphDef | None) -> "SubgraphTypes":
        return SubgraphTypes(self.base, self.root, current)

    def get(self, type_name: str) -> NodeType | None:
        defn = self.root.subgraphs.get(type_name)
        if defn is not None:
            return self._instance_type(defn)
        if type_name in BOUNDARY_TYPES and self.current is not None:
            return boundary_type(self.current, type_name)
        return self.base.get(type_name)

    def __contains__(self, type_name: str) -> bool:
        return self.get(type_name) is not None

    def __iter__(self):
        # what can be added here: no definition that holds the one shown (it would contain itself)
        extra = [self._instance_type(d) for d in self.root.subgraphs.values()
                 if self.current is None or not holds(self.root.subgraphs, d.id, self.current.id)]
        return iter(list(self.base) + sorted(extra, key=lambda t: t.display_name))

    def categories(self) -> dict[str, list[NodeType]]:
        out: dict[str, list[NodeType]] = {}
        for t in self:
            out.setdefault(t.category, []).append(t)
        return out

    def __getattr__(self, name: str):  # socket_types, errors, packs, warm_up ...: the registry's
        return getattr(self.base, name)
