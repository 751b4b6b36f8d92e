"""The graph model: nodes with stable ids, values stored by name, links from (node, output) to (node, input),
groups (frames). Qt-free; the editor observes it and edits it only through operations (``operations.py``).

Reading is direct (``graph.nodes``, ``graph.links``, the adjacency queries); every change goes through
``graph.apply(op)``, which returns the inverse operation. Each primitive change is announced to the subscribers as
a typed ``Change`` (NodeAdded, LinkRemoved, NodeChanged ...), whoever made it: the views never need to know which
operation caused it. Loaders build a graph in one go with ``Graph.from_parts`` (no changes are announced).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

NODE_MODES = ("normal", "muted", "bypassed")


@dataclass
class Node:
    id: int
    type: str
    title: str = ""
    pos: tuple[float, float] = (0.0, 0.0)
    size: tuple[float, float] | None = None
    #: Widget values by input name (never by position).
    values: dict[str, Any] = field(default_factory=dict)
    #: Value inputs the user turned into sockets (they take their value from a link).
    socket_inputs: frozenset[str] = frozenset()
    mode: str = "normal"
    collapsed: bool = False
    color: str | None = None
    #: The version of the node type the values were saved with.
    type_version: int = 1
    #: Seed-like inputs: what happens to the value after each run ("fixed", "increment", "decrement", "randomize").
    controls: dict[str, str] = field(default_factory=dict)
    #: Fields we don't know (from newer versions or other tools), kept as they are on save.
    extra: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> "Node":
        return Node(self.id, self.type, self.title, tuple(self.pos), None if self.size is None else tuple(self.size),
                    copy.deepcopy(self.values), frozenset(self.socket_inputs), self.mode, self.collapsed,
                    self.color, self.type_version, dict(self.controls), copy.deepcopy(self.extra))

    @property
    def label(self) -> str:
        return self.title or self.type


@dataclass(frozen=True)
class Link:
    id: int
    src: int
    src_output: str
    dst: int
    dst_input: str


@dataclass
class Group:
    """A frame: a titled rectangle; the editor moves the nodes inside it along with it."""

    id: int
    title: str = "Group"
    rect: tuple[float, float, float, float] = (0.0, 0.0, 400.0, 300.0)
    color: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> "Group":
        return Group(self.id, self.title, tuple(self.rect), self.color, copy.deepcopy(self.extra))

    def contains(self, pos: tuple[float, float]) -> bool:
        x, y, w, h = self.rect
        return x <= pos[0] <= x + w and y <= pos[1] <= y + h


# -- changes, as subscribers see them ------------------------------------------------------------------------------
class Change:
    """Base class of the graph's change notifications."""


@dataclass(frozen=True)
class NodeAdded(Change):
    node_id: int


@dataclass(frozen=True)
class NodeRemoved(Change):
    node_id: int


@dataclass(frozen=True)
class NodeChanged(Change):
    """An attribute of a node changed: ``field`` is "values" (then ``name`` is the value's name), "title", "mode",
    "collapsed", "color", "size", "socket_inputs", "type_version" or "controls"."""

    node_id: int
    field: str
    name: str | None = None


@dataclass(frozen=True)
class NodesMoved(Change):
    node_ids: tuple[int, ...]


@dataclass(frozen=True)
class LinkAdded(Change):
    link: Link


@dataclass(frozen=True)
class LinkRemoved(Change):
    link: Link


@dataclass(frozen=True)
class GroupAdded(Change):
    group_id: int


@dataclass(frozen=True)
class GroupRemoved(Change):
    group_id: int


@dataclass(frozen=True)
class GroupChanged(Change):
    group_id: int


@dataclass(frozen=True)
class MetaChanged(Change):
    key: str


Listener = Callable[[Change], None]


class Graph:
    def __init__(self):
        self.nodes: dict[int, Node] = {}
        self.links: dict[int, Link] = {}
        self.groups: dict[int, Group] = {}
        self.next_node_id = 1
        self.next_link_id = 1
        self.next_group_id = 1
        #: Workflow-level data: name, description, view (canvas position), unknown top-level fields.
        self.meta: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        #: Subgraph definitions by id (``core/subgraph.SubgraphDef``), all of them, nested ones too, at the top
        #: level: an instance is a node whose type is a definition's id.
        self.subgraphs: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        # Indexes kept by the primitive mutations so that lookups stay O(degree) on large graphs.
        self._incoming: dict[tuple[int, str], list[int]] = {}
        self._by_node: dict[int, dict[int, None]] = {}

    # -- observation --------------------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """``listener(change)`` is called after each primitive change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def apply(self, op) -> Any:
        """Apply an operation; returns its inverse (apply that to undo)."""
        return op.apply(self)

    def _notify(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- queries ------------------------------------------------------------------------------------------------
    def links_into(self, node_id: int, input_name: str) -> list[Link]:
        return [self.links[i] for i in self._incoming.get((node_id, input_name), ())]

    def link_into(self, node_id: int, input_name: str) -> Link | None:
        ids = self._incoming.get((node_id, input_name))
        return self.links[ids[-1]] if ids else None

    def incoming(self, node_id: int) -> list[Link]:
        return [l for l in self.links_of(node_id) if l.dst == node_id]

    def outgoing(self, node_id: int) -> list[Link]:
        return [l for l in self.links_of(node_id) if l.src == node_id]

    def links_of(self, node_id: int) -> list[Link]:
        return [self.links[i] for i in self._by_node.get(node_id, ())]

    def predecessors(self, node_id: int) -> set[int]:
        return {l.src for l in self.incoming(node_id)}

    def successors(self, node_id: int) -> set[int]:
        return {l.dst for l in self.outgoing(node_id)}

    def upstream(self, node_id: int) -> set[int]:
        """Every node that feeds ``node_id`` directly or indirectly (not itself); iterative, any depth."""
        return self._reach(node_id, self.predecessors)

    def downstream(self, node_id: int) -> set[int]:
        return self._reach(node_id, self.successors)

    @staticmethod
    def _reach(start: int, step) -> set[int]:
        seen: set[int] = set()
        todo = [start]
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        seen.discard(start)
        return seen

    def find(self, ref: str) -> list[Node]:
        """Nodes matching a reference: a node id, a title, or a type name (CLI ``--set``)."""
        ref = ref.strip()
        if ref.isdigit() and int(ref) in self.nodes:
            return [self.nodes[int(ref)]]
        by_title = [n for n in self.nodes.values() if n.title == ref]
        return by_title or [n for n in self.nodes.values() if n.type == ref]

    # -- id allocation ------------------------------------------------------------------------------------------
    def new_node_id(self) -> int:
        return max([self.next_node_id, *(i + 1 for i in self.nodes if isinstance(i, int))])

    def new_link_id(self) -> int:
        return max([self.next_link_id, *(i + 1 for i in self.links)])

    def new_group_id(self) -> int:
        return max([self.next_group_id, *(i + 1 for i in self.groups)])

    # -- building -----------------------------------------------------------------------------------------------
    @classmethod
    def from_parts(cls, nodes: Iterable[Node] = (), links: Iterable[Link] = (), groups: Iterable[Group] = (),
                   meta: dict | None = None, extra: dict | None = None,
                   subgraphs: Iterable | None = None) -> "Graph":
        """A graph made in one go (file loaders, clipboard): the parts are taken as they are, no change is
        announced. Links may name nodes that do not exist (files can hold that; validation reports them)."""
        g = cls()
        for n in nodes:
            g._put_node(n)
        for link in links:
            g._put_link(link)
        for gr in groups:
            g._put_group(gr)
        g.meta = {} if meta is None else meta
        g.extra = {} if extra is None else extra
        g.subgraphs = {d.id: d for d in subgraphs or ()}
        return g

    # -- primitive mutations (called only by operations); each announces its change -------------------------------
    def _add_node(self, node: Node) -> None:
        self._put_node(node)
        self._notify(NodeAdded(node.id))

    def _remove_node(self, node_id: int) -> Node:
        node = self.nodes.pop(node_id)
        self._notify(NodeRemoved(node_id))
        return node

    def _node_changed(self, node_id: int, field_name: str, name: str | None = None) -> None:
        self._notify(NodeChanged(node_id, field_name, name))

    def _nodes_moved(self, node_ids: tuple[int, ...]) -> None:
        self._notify(NodesMoved(node_ids))

    def _add_link(self, link: Link) -> None:
        self._put_link(link)
        self._notify(LinkAdded(link))

    def _remove_link(self, link_id: int) -> Link:
        link = self._take_link(link_id)
        self._notify(LinkRemoved(link))
        return link

    def _add_group(self, group: Group) -> None:
        self._put_group(group)
        self._notify(GroupAdded(group.id))

    def _remove_group(self, group_id: int) -> Group:
        group = self.groups.pop(group_id)
        self._notify(GroupRemoved(group_id))
        return group

    def _group_changed(self, group_id: int) -> None:
        self._notify(GroupChanged(group_id))

    def _meta_changed(self, key: str) -> None:
        self._notify(MetaChanged(key))

    # -- storage and indexes (no notification) ------------------------------------------------------------------
    def _put_node(self, node: Node) -> None:
        if node.id in self.nodes:
            raise ValueError(f"node id {node.id} already exists")
        self.nodes[node.id] = node
        if isinstance(node.id, int):  # a planned graph's expanded subgraph nodes have ids "outer:inner"
            self.next_node_id = max(self.next_node_id, node.id + 1)

    def _put_link(self, link: Link) -> None:
        if link.id in self.links:
            raise ValueError(f"link id {link.id} already exists")
        self.links[link.id] = link
        self._incoming.setdefault((link.dst, link.dst_input), []).append(link.id)
        self._by_node.setdefault(link.src, {})[link.id] = None
        self._by_node.setdefault(link.dst, {})[link.id] = None
        self.next_link_id = max(self.next_link_id, link.id + 1)

    def _take_link(self, link_id: int) -> Link:
        link = self.links.pop(link_id)
        ids = self._incoming.get((link.dst, link.dst_input), [])
        if link_id in ids:
            ids.remove(link_id)
        if not ids:
            self._incoming.pop((link.dst, link.dst_input), None)
        for end in (link.src, link.dst):
            by = self._by_node.get(end)
            if by is not None:
                by.pop(link.id, None)
                if not by:
                    del self._by_node[end]
        return link

    def _put_group(self, group: Group) -> None:
        if group.id in self.groups:
            raise ValueError(f"group id {group.id} already exists")
        self.groups[group.id] = group
        self.next_group_id = max(self.next_group_id, group.id + 1)

    # -- whole-graph helpers ------------------------------------------------------------------------------------
    def copy(self) -> "Graph":
        """A deep, listener-free copy (the executor runs on a snapshot so the editor can keep editing)."""
        g = Graph.from_parts((n.copy() for n in self.nodes.values()), self.links.values(),
                             (gr.copy() for gr in self.groups.values()), copy.deepcopy(self.meta),
                             copy.deepcopy(self.extra), (d.copy() for d in self.subgraphs.values()))
        g.next_node_id, g.next_link_id, g.next_group_id = self.next_node_id, self.next_link_id, self.next_group_id
        return g

    def subgraph(self, node_ids: Iterable[int], group_ids: Iterable[int] = ()) -> "Graph":
        """A copy of some nodes, the links between them and some groups (copy/paste)."""
        ids = set(node_ids)
        return Graph.from_parts((self.nodes[i].copy() for i in sorted(ids) if i in self.nodes),
                                (l for l in self.links.values() if l.src in ids and l.dst in ids),
                                (self.groups[g].copy() for g in sorted(set(group_ids)) if g in self.groups))

    def structure(self) -> tuple:
        """A comparable description of the graph's content (equality of graphs in tests and round trips)."""
        nodes = tuple(sorted((n.id, n.type, n.title, tuple(n.pos), n.size and tuple(n.size), _freeze(n.values),
                              tuple(sorted(n.socket_inputs)), n.mode, n.collapsed, n.color, n.type_version,
                              _freeze(n.controls), _freeze(n.extra)) for n in self.nodes.values()))
        links = tuple(sorted((l.id, l.src, l.src_output, l.dst, l.dst_input) for l in self.links.values()))
        groups = tuple(sorted((g.id, g.title, tuple(g.rect), g.color, _freeze(g.extra))
                              for g in self.groups.values()))
        subgraphs = tuple(sorted((d.id, d.structure()) for d in self.subgraphs.values()))
        return nodes, links, groups, _freeze(self.meta), _freeze(self.extra), subgraphs

    def __eq__(self, other) -> bool:
        return isinstance(other, Graph) and self.structure() == other.structure()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"<Graph {len(self.nodes)} nodes, {len(self.links)} links, {len(self.groups)} groups>"


def freeze(value: Any) -> Any:
    """A hashable, comparable form of JSON-like data (``structure()`` of graphs and subgraphs)."""
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1.0 and 1 compare equal after a JSON round trip
    return value



def id_order(node_id) -> tuple:
    """A sort key for node ids: integers, and the "outer:inner" ids of expanded subgraph nodes after their
    outermost instance (``5`` < ``"5:3"`` < ``6``)."""
    if isinstance(node_id, str):
        return tuple(int(p) if p.lstrip("-").isdigit() else 0 for p in node_id.split(":"))
    return (node_id,)


def graph_dag(graph: Graph):
    """The graph as a networkx DiGraph of node ids (links between existing nodes): the one place it is built.
    networkx is imported here, on first use, not at editor start."""
    import networkx as nx

    dag = nx.DiGraph()
    dag.add_nodes_from(graph.nodes)
    dag.add_edges_from((l.src, l.dst) for l in graph.links.values() if l.src in graph.nodes and l.dst in graph.nodes)
    return dag
