"""The only ways to change a graph. Each operation applies itself and returns its exact inverse, so the editor's
undo stack is just a list of (operation, inverse) pairs; the graph announces every primitive change it makes to
its subscribers (``graph.Change``).

``Batch`` groups the operations of one user gesture (paste, delete a selection, drag a wire that replaces another)
into one undo step.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from nodeflow.core.graph import NODE_MODES, Graph, Group, Link, Node
from nodeflow.core.nodedef import SEED_CONTROLS

_MISSING = object()


class OperationError(ValueError):
    """An operation that cannot apply to this graph (unknown id, bad field); the graph is left unchanged."""


class Operation:
    label = "edit"

    def apply(self, graph: Graph) -> "Operation":  # pragma: no cover - interface
        raise NotImplementedError


def _node(graph: Graph, node_id: int) -> Node:
    try:
        return graph.nodes[node_id]
    except KeyError:
        raise OperationError(f"no node with id {node_id}") from None


def _group(graph: Graph, group_id: int) -> Group:
    try:
        return graph.groups[group_id]
    except KeyError:
        raise OperationError(f"no group with id {group_id}") from None


def _swap(mapping: dict, key: str, value: Any) -> Any:
    """Store a copy of ``value`` under ``key`` (``_MISSING`` removes the key); returns what was there (or
    ``_MISSING``), the inverse's value."""
    old = mapping.get(key, _MISSING)
    if value is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = copy.deepcopy(value)
    return old


@dataclass(frozen=True)
class AddNode(Operation):
    node: Node
    label = "add node"

    def apply(self, graph):
        if self.node.mode not in NODE_MODES:
            raise OperationError(f"mode {self.node.mode!r} must be one of {NODE_MODES}")
        graph._add_node(self.node.copy())
        inverse = RemoveNode(self.node.id)
        return inverse


@dataclass(frozen=True)
class RemoveNode(Operation):
    """Removes a node and every link touching it; the inverse restores both."""

    node_id: int
    label = "remove node"

    def apply(self, graph):
        node = _node(graph, self.node_id)
        restore: list[Operation] = []
        for link in graph.links_of(self.node_id):
            restore.append(RemoveLink(link.id).apply(graph))
        graph._remove_node(self.node_id)
        inverse = Batch((AddNode(node.copy()), *reversed(restore)), label="restore node")
        return inverse


@dataclass(frozen=True)
class AddLink(Operation):
    """Adds a link; an input holds one link, so an existing link into the same input is replaced."""

    link: Link
    label = "connect"

    def apply(self, graph):
        for nid in (self.link.src, self.link.dst):
            _node(graph, nid)
        replaced = [RemoveLink(old.id).apply(graph) for old in graph.links_into(self.link.dst, self.link.dst_input)]
        graph._add_link(self.link)
        inverse = RemoveLink(self.link.id) if not replaced else Batch(
            (RemoveLink(self.link.id), *reversed(replaced)), label="disconnect")
        return inverse


@dataclass(frozen=True)
class RemoveLink(Operation):
    link_id: int
    label = "disconnect"

    def apply(self, graph):
        if self.link_id not in graph.links:
            raise OperationError(f"no link with id {self.link_id}")
        link = graph._remove_link(self.link_id)
        inverse = _RestoreLink(link)
        return inverse


@dataclass(frozen=True)
class _RestoreLink(Operation):
    """Puts a removed link back exactly (no replacement: the input was free when it was removed)."""

    link: Link
    label = "connect"

    def apply(self, graph):
        graph._add_link(self.link)
        inverse = RemoveLink(self.link.id)
        return inverse


@dataclass(frozen=True)
class SetValue(Operation):
    node_id: int
    name: str
    value: Any = _MISSING  # _MISSING removes the value (the declared default applies)
    label = "set value"

    def apply(self, graph):
        old = _swap(_node(graph, self.node_id).values, self.name, self.value)
        graph._node_changed(self.node_id, "values", self.name)
        inverse = SetValue(self.node_id, self.name, old)
        return inverse


@dataclass(frozen=True)
class MoveNodes(Operation):
    positions: tuple[tuple[int, tuple[float, float]], ...]
    label = "move"

    @classmethod
    def of(cls, positions: dict[int, tuple[float, float]]) -> "MoveNodes":
        return cls(tuple((nid, (float(p[0]), float(p[1]))) for nid, p in positions.items()))

    def apply(self, graph):
        old = []
        for nid, pos in self.positions:
            node = _node(graph, nid)
            old.append((nid, node.pos))
        for nid, pos in self.positions:
            graph.nodes[nid].pos = (float(pos[0]), float(pos[1]))
        graph._nodes_moved(tuple(nid for nid, _ in self.positions))
        inverse = MoveNodes(tuple(old))
        return inverse


#: Node attributes SetNodeField may change, with a check of the new value.
_NODE_FIELDS = {
    "title": lambda v: isinstance(v, str),
    "mode": lambda v: v in NODE_MODES,
    "collapsed": lambda v: isinstance(v, bool),
    "color": lambda v: v is None or isinstance(v, str),
    "size": lambda v: v is None or (isinstance(v, tuple) and len(v) == 2),
    "socket_inputs": lambda v: isinstance(v, frozenset),
    "type_version": lambda v: isinstance(v, int),
    "controls": lambda v: isinstance(v, dict) and all(c in SEED_CONTROLS for c in v.values()),
}


@dataclass(frozen=True)
class SetNodeField(Operation):
    """Title, mode (normal/muted/bypassed), collapsed, colour, size, socket_inputs, controls."""

    node_id: int
    field: str
    value: Any
    label = "edit node"

    def apply(self, graph):
        node = _node(graph, self.node_id)
        check = _NODE_FIELDS.get(self.field)
        if check is None or not check(self.value):
            raise OperationError(f"cannot set {self.field!r} to {self.value!r}")
        old = getattr(node, self.field)
        setattr(node, self.field, self.value)
        graph._node_changed(self.node_id, self.field)
        inverse = SetNodeField(self.node_id, self.field, old)
        return inverse


@dataclass(frozen=True)
class AddGroup(Operation):
    group: Group
    label = "add frame"

    def apply(self, graph):
        graph._add_group(self.group.copy())
        inverse = RemoveGroup(self.group.id)
        return inverse


@dataclass(frozen=True)
class RemoveGroup(Operation):
    group_id: int
    label = "remove frame"

    def apply(self, graph):
        group = graph._remove_group(_group(graph, self.group_id).id)
        inverse = AddGroup(group)
        return inverse


@dataclass(frozen=True)
class UpdateGroup(Operation):
    group_id: int
    changes: tuple[tuple[str, Any], ...]
    label = "edit frame"

    @classmethod
    def of(cls, group_id: int, **changes) -> "UpdateGroup":
        return cls(group_id, tuple(changes.items()))

    def apply(self, graph):
        group = _group(graph, self.group_id)
        old = []
        for key, value in self.changes:
            if key not in ("title", "rect", "color"):
                raise OperationError(f"cannot set group field {key!r}")
            old.append((key, getattr(group, key)))
            setattr(group, key, tuple(value) if key == "rect" else value)
        graph._group_changed(self.group_id)
        inverse = UpdateGroup(self.group_id, tuple(old))
        return inverse


@dataclass(frozen=True)
class SetMeta(Operation):
    key: str
    value: Any = _MISSING
    label = "edit workflow"

    def apply(self, graph):
        inverse = SetMeta(self.key, _swap(graph.meta, self.key, self.value))
        graph._meta_changed(self.key)
        return inverse


@dataclass(frozen=True)
class Batch(Operation):
    """Several operations as one (one undo step). If one fails, those already applied are rolled back."""

    ops: tuple[Operation, ...] = field(default_factory=tuple)
    label: str = "edit"

    def apply(self, graph):
        inverses: list[Operation] = []
        try:
            for op in self.ops:
                inverses.append(op.apply(graph))
        except Exception:
            for inv in reversed(inverses):
                inv.apply(graph)
            raise
        return Batch(tuple(reversed(inverses)), label=self.label)


# -- helpers that build operations for common gestures ---------------------------------------------------------------
def connect(graph: Graph, src: int, src_output: str, dst: int, dst_input: str) -> AddLink:
    return AddLink(Link(graph.new_link_id(), src, src_output, dst, dst_input))


def route_through(graph: Graph, link: Link, node_id: int, input_name: str, output_name: str) -> tuple[AddLink, AddLink]:
    """Insert a node into ``link``: its source feeds ``input_name``, ``output_name`` feeds its target (that second
    link replaces ``link`` in the target's input, one link per input, so no removal is needed)."""
    first = graph.new_link_id()
    return (AddLink(Link(first, link.src, link.src_output, node_id, input_name)),
            AddLink(Link(first + 1, node_id, output_name, link.dst, link.dst_input)))


def set_socket_input(graph: Graph, node_id: int, input_name: str, as_socket: bool) -> Operation:
    """Turn a value widget into an input socket (or back; turning back drops the link feeding it)."""
    node = _node(graph, node_id)
    sockets = set(node.socket_inputs)
    (sockets.add if as_socket else sockets.discard)(input_name)
    ops: list[Operation] = []
    if not as_socket:
        ops += [RemoveLink(l.id) for l in graph.links_into(node_id, input_name)]
    ops.append(SetNodeField(node_id, "socket_inputs", frozenset(sockets)))
    return Batch(tuple(ops), label="convert to input" if as_socket else "convert to widget")


def remove_nodes(graph: Graph, node_ids) -> Batch:
    return Batch(tuple(RemoveNode(i) for i in node_ids if i in graph.nodes), label="delete")


def add_nodes_with_links(graph: Graph, nodes: list[Node], links: list[Link], offset=(0.0, 0.0),
                         feeding: list[Link] = ()) -> tuple[Batch, dict]:
    """Paste/duplicate: nodes and links between them get fresh ids; returns the batch and old->new id map.
    ``feeding``: links from nodes already in ``graph`` (kept as they are) into the added ones (paste with links)."""
    id_map: dict[int, int] = {}
    next_id = graph.new_node_id()
    ops: list[Operation] = []
    for n in nodes:
        id_map[n.id] = next_id
        moved = replace(n.copy(), id=next_id, pos=(n.pos[0] + offset[0], n.pos[1] + offset[1]))
        ops.append(AddNode(moved))
        next_id += 1
    ends = [(id_map[l.src], l) for l in links if l.src in id_map and l.dst in id_map]
    ends += [(l.src, l) for l in feeding if l.src in graph.nodes and l.dst in id_map]
    next_link = graph.new_link_id()
    for src, l in ends:
        ops.append(AddLink(Link(next_link, src, l.src_output, id_map[l.dst], l.dst_input)))
        next_link += 1
    return Batch(tuple(ops), label="paste"), id_map
