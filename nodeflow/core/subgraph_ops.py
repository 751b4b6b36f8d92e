"""Operations on subgraphs; like every operation (``operations.py``) each returns its exact inverse.

They apply to the top graph (which owns every definition): ``AddSubgraph`` / ``RemoveSubgraph`` /
``SetSubgraphPorts`` change the definitions, ``InSubgraph(def_id, op)`` applies any operation to a definition's
inner graph (editing inside an opened subgraph, undone on the same stack as the rest). The gesture helpers build
batches: ``convert_to_subgraph`` (a selection becomes a definition and one instance; wires crossing the selection
become its inputs and outputs) and ``unpack`` (an instance is replaced by a copy of its inner nodes).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from nodeflow.core.graph import Graph, Link, Node
from nodeflow.core.operations import AddLink, AddNode, Batch, Operation, OperationError, RemoveNode
from nodeflow.core.subgraph import (BOUNDARY_TYPES, INPUTS_NODE_ID, OUTPUTS_NODE_ID, Port, SubgraphDef,
                                    instances_of, new_definition)
from nodeflow.core.validation import output_type


def _definition(root: Graph, def_id: str) -> SubgraphDef:
    try:
        return root.subgraphs[def_id]
    except KeyError:
        raise OperationError(f"no subgraph with id {def_id!r}") from None


@dataclass(frozen=True)
class AddSubgraph(Operation):
    """Adds a definition. The object itself is stored (not a copy): an editor showing its inner graph, and undo
    steps made inside it, keep working across remove and re-add."""

    definition: SubgraphDef
    label = "add subgraph"

    def apply(self, graph):
        if self.definition.id in graph.subgraphs:
            raise OperationError(f"subgraph id {self.definition.id!r} already exists")
        graph.subgraphs[self.definition.id] = self.definition
        graph._meta_changed("subgraphs")
        return RemoveSubgraph(self.definition.id)


@dataclass(frozen=True)
class RemoveSubgraph(Operation):
    def_id: str
    label = "remove subgraph"

    def apply(self, graph):
        defn = _definition(graph, self.def_id)
        del graph.subgraphs[self.def_id]
        graph._meta_changed("subgraphs")
        return AddSubgraph(defn)


@dataclass(frozen=True)
class SetSubgraphPorts(Operation):
    """Replaces a definition's inputs and outputs (add, rename, reorder) and optionally its name."""

    def_id: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    name: str | None = None
    label = "edit subgraph ports"

    def apply(self, graph):
        defn = _definition(graph, self.def_id)
        inverse = SetSubgraphPorts(self.def_id, tuple(p.copy() for p in defn.inputs),
                                   tuple(p.copy() for p in defn.outputs), defn.name)
        defn.inputs, defn.outputs = [p.copy() for p in self.inputs], [p.copy() for p in self.outputs]
        if self.name is not None:
            defn.name = self.name
        for nid in (INPUTS_NODE_ID, OUTPUTS_NODE_ID):
            if nid in defn.graph.nodes:
                defn.graph._node_changed(nid, "socket_inputs")  # the boundary nodes' sockets follow the ports
        for owner, nid in instances_of(graph, self.def_id):
            (graph if owner is None else graph.subgraphs[owner].graph)._node_changed(nid, "socket_inputs")
        graph._meta_changed("subgraphs")
        return inverse


@dataclass(frozen=True)
class InSubgraph(Operation):
    """``op`` applied to the inner graph of definition ``def_id``."""

    def_id: str
    op: Operation

    @property
    def label(self):  # noqa: D401 - the wrapped operation's label
        return getattr(self.op, "label", "edit")

    def apply(self, graph):
        return InSubgraph(self.def_id, _definition(graph, self.def_id).graph.apply(self.op))


def in_level(def_id: str | None, op: Operation) -> Operation:
    """``op`` for the top graph (``def_id`` None) or for a definition's inner graph."""
    return op if def_id is None else InSubgraph(def_id, op)


# -- gestures ---------------------------------------------------------------------------------------------------------
def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def convert_to_subgraph(root: Graph, node_ids, registry, *, inside: str | None = None, name: str = "Subgraph",
                        def_id: str | None = None, instance_id: int | None = None) -> tuple[Operation, str, int]:
    """The nodes ``node_ids`` of the top graph (or of definition ``inside``) become a new definition and one
    instance in their place. Each distinct source feeding the selection from outside becomes an input, each
    selected output used outside an output. ``registry`` answers output types (a ``SubgraphTypes`` view, so that
    instances in the selection are typed too). Returns (operation, definition id, instance node id)."""
    level = root if inside is None else _definition(root, inside).graph
    sel = {i for i in node_ids if i in level.nodes and level.nodes[i].type not in BOUNDARY_TYPES}
    if not sel:
        raise OperationError("select the nodes to put into a subgraph")
    def_id = def_id or str(uuid.uuid4())
    crossing_in = sorted((l for l in level.links.values() if l.dst in sel and l.src not in sel), key=lambda l: l.id)
    crossing_out = sorted((l for l in level.links.values() if l.src in sel and l.dst not in sel), key=lambda l: l.id)
    taken_in: set[str] = set()
    taken_out: set[str] = set()
    in_ports: dict[tuple, Port] = {}
    for l in crossing_in:
        if (l.src, l.src_output) not in in_ports:
            t = output_type(level, registry, l.src, l.src_output) or "*"
            in_ports[(l.src, l.src_output)] = Port(_unique(l.dst_input, taken_in), t)
    out_ports: dict[tuple, Port] = {}
    for l in crossing_out:
        if (l.src, l.src_output) not in out_ports:
            t = output_type(level, registry, l.src, l.src_output) or "*"
            out_ports[(l.src, l.src_output)] = Port(_unique(l.src_output, taken_out), t)
    xs = [level.nodes[i].pos[0] for i in sel]
    ys = [level.nodes[i].pos[1] for i in sel]
    defn = new_definition(def_id, name, list(in_ports.values()), list(out_ports.values()),
                          (min(xs) - 260, sum(ys) / len(ys)), (max(xs) + 320, sum(ys) / len(ys)))
    inner = defn.graph
    for i in sorted(sel):
        inner._put_node(level.nodes[i].copy())
    for l in level.links.values():
        if l.src in sel and l.dst in sel:
            inner._put_link(l)
    next_link = inner.new_link_id()
    for l in crossing_in:
        inner._put_link(Link(next_link, INPUTS_NODE_ID, in_ports[(l.src, l.src_output)].name, l.dst, l.dst_input))
        next_link += 1
    for key, port in out_ports.items():
        inner._put_link(Link(next_link, key[0], key[1], OUTPUTS_NODE_ID, port.name))
        next_link += 1
    inst_id = instance_id if instance_id is not None else level.new_node_id()
    instance = Node(inst_id, def_id, name, (sum(xs) / len(xs), sum(ys) / len(ys)))
    steps: list[Operation] = [RemoveNode(i) for i in sorted(sel)] + [AddNode(instance)]
    link_id = level.new_link_id()
    for key, port in in_ports.items():
        steps.append(AddLink(Link(link_id, key[0], key[1], inst_id, port.name)))
        link_id += 1
    for l in crossing_out:
        steps.append(AddLink(Link(link_id, inst_id, out_ports[(l.src, l.src_output)].name, l.dst, l.dst_input)))
        link_id += 1
    op = Batch((AddSubgraph(defn), in_level(inside, Batch(tuple(steps)))), label="convert to subgraph")
    return op, def_id, inst_id


def unpack(root: Graph, node_id: int, *, inside: str | None = None) -> tuple[Operation, dict[int, int]]:
    """Replace instance ``node_id`` by a copy of its definition's inner nodes (one level: nested instances stay
    instances), wired as the instance was; the instance's own values go into the inner inputs they fed. The
    definition stays (other instances may use it). Returns (operation, inner id -> new id)."""
    level = root if inside is None else _definition(root, inside).graph
    inst = level.nodes.get(node_id)
    if inst is None or inst.type not in root.subgraphs:
        raise OperationError(f"node {node_id} is not a subgraph instance")
    defn = root.subgraphs[inst.type]
    inner = defn.graph
    members = [n for n in inner.nodes.values() if n.type not in BOUNDARY_TYPES]
    xs = [n.pos[0] for n in members] or [0.0]
    ys = [n.pos[1] for n in members] or [0.0]
    dx, dy = inst.pos[0] - min(xs), inst.pos[1] - min(ys)
    next_id = max(level.new_node_id(), node_id + 1)
    id_map = {}
    for n in sorted(members, key=lambda n: n.id):
        id_map[n.id] = next_id
        next_id += 1
    feeding = {l.dst_input: l for l in level.incoming(node_id)}
    values: dict[int, dict] = {}
    links: list[tuple] = []
    for l in inner.links.values():
        if l.dst not in id_map:
            continue
        if l.src == INPUTS_NODE_ID:
            outer = feeding.get(l.src_output)
            if outer is not None:
                links.append((outer.src, outer.src_output, id_map[l.dst], l.dst_input))
            elif l.src_output in inst.values:
                values.setdefault(l.dst, {})[l.dst_input] = inst.values[l.src_output]
        elif l.src in id_map:
            links.append((id_map[l.src], l.src_output, id_map[l.dst], l.dst_input))
    for out in level.outgoing(node_id):
        into = inner.link_into(OUTPUTS_NODE_ID, out.src_output)
        if into is None:
            continue
        if into.src == INPUTS_NODE_ID:  # an input passed straight through
            outer = feeding.get(into.src_output)
            if outer is not None:
                links.append((outer.src, outer.src_output, out.dst, out.dst_input))
        elif into.src in id_map:
            links.append((id_map[into.src], into.src_output, out.dst, out.dst_input))
    steps: list[Operation] = [RemoveNode(node_id)]
    for n in sorted(members, key=lambda n: n.id):
        copy = n.copy()
        own = values.get(n.id, {})
        copy.values.update(own)
        sockets = set(copy.socket_inputs) - set(own)
        unfed = {l.dst_input for l in inner.incoming(n.id) if l.src == INPUTS_NODE_ID
                 and l.src_output not in feeding}
        copy = replace(copy, id=id_map[n.id], pos=(n.pos[0] + dx, n.pos[1] + dy),
                       socket_inputs=frozenset(sockets - unfed))
        steps.append(AddNode(copy))
    link_id = level.new_link_id()
    for src, output, dst, input_name in links:
        steps.append(AddLink(Link(link_id, src, output, dst, input_name)))
        link_id += 1
    return in_level(inside, Batch(tuple(steps), label="unpack subgraph")), id_map


def add_port(root: Graph, def_id: str, side: str, port: Port) -> Operation:
    """A new input or output of the definition (at the end)."""
    defn = _definition(root, def_id)
    ports = list(getattr(defn, side))
    if not port.name or any(p.name == port.name for p in ports):
        raise OperationError(f"subgraph {defn.name!r} already has an {side[:-1]} named {port.name!r}"
                             if port.name else "a port needs a name")
    ports.append(port)
    ins, outs = (ports, defn.outputs) if side == "inputs" else (defn.inputs, ports)
    return SetSubgraphPorts(def_id, tuple(ins), tuple(outs))


def expose_input(root: Graph, def_id: str, node_id: int, input_name: str, registry, name: str | None = None
                 ) -> tuple[Operation, str]:
    """Make an inner node's input a subgraph input (ComfyUI's "promote widget"): a new port typed as the input,
    linked to it; a value input becomes a socket inside and a value of each instance. Returns (op, port name)."""
    defn = _definition(root, def_id)
    node = defn.graph.nodes.get(node_id)
    nt = registry.get(node.type) if node is not None else None
    inp = nt.input(input_name) if nt is not None else None
    if inp is None:
        raise OperationError(f"node {node_id} has no input {input_name!r}")
    if defn.graph.link_into(node_id, input_name) is not None:
        raise OperationError(f"input {input_name!r} of node {node_id} is already connected")
    name = _unique(name or input_name, {p.name for p in defn.inputs})
    inner: list[Operation] = [AddLink(Link(defn.graph.new_link_id(), INPUTS_NODE_ID, name, node_id, input_name))]
    if inp.kind == "either" and input_name not in node.socket_inputs:
        from nodeflow.core.operations import SetNodeField

        inner.insert(0, SetNodeField(node_id, "socket_inputs", node.socket_inputs | {input_name}))
    op = Batch((add_port(root, def_id, "inputs", Port(name, inp.type)), InSubgraph(def_id, Batch(tuple(inner)))),
               label="expose input")
    return op, name


def rename_port(root: Graph, def_id: str, side: str, old: str, new: str) -> Operation:
    """Rename an input or output: the port, the inner links through it and every instance's links and value."""
    from nodeflow.core.operations import RemoveLink, SetValue

    defn = _definition(root, def_id)
    ports = [p.copy() for p in getattr(defn, side)]
    port = next((p for p in ports if p.name == old), None)
    if port is None:
        raise OperationError(f"subgraph {defn.name!r} has no {side[:-1]} {old!r}")
    if not new or any(p.name == new for p in ports):
        raise OperationError(f"cannot rename {old!r} to {new!r}: " + ("empty name" if not new else "name taken"))
    port.name = new
    ins, outs = (ports, defn.outputs) if side == "inputs" else (defn.inputs, ports)
    steps: list[Operation] = [SetSubgraphPorts(def_id, tuple(ins), tuple(outs))]
    inner: list[Operation] = []
    for l in list(defn.graph.links.values()):
        if side == "inputs" and l.src == INPUTS_NODE_ID and l.src_output == old:
            inner += [RemoveLink(l.id), AddLink(replace(l, src_output=new))]
        if side == "outputs" and l.dst == OUTPUTS_NODE_ID and l.dst_input == old:
            inner += [RemoveLink(l.id), AddLink(replace(l, dst_input=new))]
    if inner:
        steps.append(InSubgraph(def_id, Batch(tuple(inner))))
    for owner, nid in instances_of(root, def_id):
        level = root if owner is None else root.subgraphs[owner].graph
        at: list[Operation] = []
        for l in level.links_of(nid):
            if side == "inputs" and l.dst == nid and l.dst_input == old:
                at += [RemoveLink(l.id), AddLink(replace(l, dst_input=new))]
            if side == "outputs" and l.src == nid and l.src_output == old:
                at += [RemoveLink(l.id), AddLink(replace(l, src_output=new))]
        if side == "inputs" and old in level.nodes[nid].values:
            at += [SetValue(nid, new, level.nodes[nid].values[old]), SetValue(nid, old)]
        if at:
            steps.append(in_level(owner, Batch(tuple(at))))
    return Batch(tuple(steps), label="rename subgraph port")


def used_closure(root_subgraphs: dict, def_id: str) -> list[str]:
    """``def_id`` and every definition nested in it (each once, inner ones first)."""
    order: list[str] = []

    def visit(d: str, stack: tuple) -> None:
        if d in order or d in stack or d not in root_subgraphs:
            return
        for inner in sorted(root_subgraphs[d].used_definitions()):
            visit(inner, stack + (d,))
        order.append(d)

    visit(def_id, ())
    return order


def add_definitions(root: Graph, definitions: dict[str, SubgraphDef], main: str, pos=(0.0, 0.0),
                    inside: str | None = None) -> tuple[Operation, str, int]:
    """Bring ``definitions`` (a library file's: ``main`` and those nested in it) into ``root`` and add an instance
    of ``main``. A definition already there with the same content is reused; one whose id is taken by different
    content gets a fresh id (the copies' instances follow). Returns (operation, main's id here, instance id)."""
    steps, ids = import_definitions(root, definitions, [main])
    level = root if inside is None else _definition(root, inside).graph
    if inside is not None and inside in used_closure(root.subgraphs, ids[main]):
        raise OperationError(f"subgraph {definitions[main].name!r} holds {root.subgraphs[inside].name!r}: it "
                             "cannot go inside it")
    inst = level.new_node_id()
    steps.append(in_level(inside, AddNode(Node(inst, ids[main], definitions[main].name, tuple(pos)))))
    return Batch(tuple(steps), label="add subgraph"), ids[main], inst


def import_definitions(root: Graph, definitions: dict[str, SubgraphDef], wanted) -> tuple[list[Operation], dict]:
    """Operations adding the ``wanted`` definitions of another graph (and those nested in them) to ``root``: one
    already there with the same content is reused, one whose id is taken by other content gets a fresh id.
    Returns (operations, {their id: id here})."""
    ids: dict[str, str] = {}
    steps: list[Operation] = []
    closure: list[str] = []
    for w in wanted:
        closure += [d for d in used_closure(definitions, w) if d not in closure]
    for d_id in closure:
        defn = definitions[d_id].copy()
        for node in defn.graph.nodes.values():
            node.type = ids.get(node.type, node.type)
        existing = root.subgraphs.get(d_id)
        if existing is not None and existing.structure() == defn.structure():
            ids[d_id] = d_id
            continue
        new_id = d_id if existing is None else str(uuid.uuid4())
        ids[d_id] = new_id
        defn.id = new_id
        steps.append(AddSubgraph(defn))
    return steps, ids


def expose_output(root: Graph, def_id: str, node_id: int, output: str, registry, name: str | None = None
                  ) -> tuple[Operation, str]:
    """Make an inner node's output a subgraph output: a new port typed as the output, fed by it."""
    defn = _definition(root, def_id)
    node = defn.graph.nodes.get(node_id)
    nt = registry.get(node.type) if node is not None else None
    out = nt.output(output) if nt is not None else None
    if out is None:
        raise OperationError(f"node {node_id} has no output {output!r}")
    name = _unique(name or output, {p.name for p in defn.outputs})
    link = Link(defn.graph.new_link_id(), node_id, output, OUTPUTS_NODE_ID, name)
    op = Batch((add_port(root, def_id, "outputs", Port(name, out.type)), InSubgraph(def_id, AddLink(link))),
               label="expose output")
    return op, name
