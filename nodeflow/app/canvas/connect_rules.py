"""Which sockets may connect, and why not (Qt-free). The canvas asks these while a wire is dragged (to light up
compatible sockets), when it is dropped (to refuse with a reason) and to filter the node search."""
from __future__ import annotations

from nodeflow.core import operations as ops
from nodeflow.core import socket_types as st
from nodeflow.core.graph import Graph
from nodeflow.core.nodedef import Input, NodeType
from nodeflow.core.registry import Registry
from nodeflow.core.validation import output_type


def out_type(graph: Graph, registry: Registry, node_id: int, name: str) -> str | None:
    """The type an output produces (a reroute takes the type of what feeds it); None for unknown nodes."""
    return output_type(graph, registry, node_id, name)


def in_type(graph: Graph, registry: Registry, node_id: int, name: str) -> str | None:
    node = graph.nodes.get(node_id)
    nt = registry.get(node.type) if node else None
    inp = nt.input(name) if nt else None
    return inp.type if inp else None


def reachable(graph: Graph, start: int, downstream: bool) -> set[int]:
    """Nodes reachable from ``start`` following links downstream (or upstream), ``start`` included (the graph owns
    the adjacency; this only adds ``start``, which a wire from it must not reach either)."""
    return {start} | (graph.downstream(start) if downstream else graph.upstream(start))


def can_connect(graph: Graph, registry: Registry, src: int, output: str, dst: int, input_name: str,
                blocked: set[int] | None = None) -> tuple[bool, str]:
    """(ok, reason). ``blocked``: nodes that would close a cycle (precomputed once per drag with ``reachable``)."""
    if src == dst:
        return False, "a node cannot connect to itself"
    s_node, d_node = graph.nodes.get(src), graph.nodes.get(dst)
    if s_node is None or d_node is None:
        return False, "that node no longer exists"
    s_t, d_t = registry.get(s_node.type), registry.get(d_node.type)
    for node, nt in ((s_node, s_t), (d_node, d_t)):
        if nt is None:
            return False, f"node type {node.type} is missing: install its node pack to connect it"
    out = s_t.output(output)
    inp = d_t.input(input_name)
    if out is None or inp is None:
        return False, "no such socket"
    if inp.kind == "widget":
        return False, f"'{inp.display}' is a value and cannot take a link"
    o_type = out_type(graph, registry, src, output) or out.type
    ok, reason = st.compatible(o_type, inp.type)
    if not ok:
        return False, f"{d_node.label}: '{inp.display}' takes {inp.type}, but {s_node.label} gives {o_type}"
    if blocked is None:
        blocked = reachable(graph, src, downstream=False)
    if dst in blocked:
        return False, "that link would make a cycle"
    return True, ""


def connect_operation(graph: Graph, registry: Registry, src: int, output: str, dst: int,
                      input_name: str) -> ops.Operation:
    """The link (replacing the one already in that input); a value widget is turned into a socket first, in the
    same undo step."""
    node = graph.nodes[dst]
    link = ops.connect(graph, src, output, dst, input_name)
    nt = registry.get(node.type)
    inp = nt.input(input_name) if nt else None
    if inp is not None and inp.kind == "either" and input_name not in node.socket_inputs:
        return ops.Batch((ops.SetNodeField(dst, "socket_inputs", node.socket_inputs | {input_name}), link),
                         label="connect")
    return link


def input_accepts(inp: Input, o_type: str) -> bool:
    return inp.kind != "widget" and st.compatible(o_type, inp.type)[0]


def first_input_for(nt: NodeType, o_type: str, free: set[str] | None = None) -> str | None:
    """The input of ``nt`` a wire of type ``o_type`` should go to: sockets before convertible widgets, exact type
    before a compatible one, a free input before a connected one."""
    ranked = []
    for i, inp in enumerate(nt.inputs):
        if not input_accepts(inp, o_type):
            continue
        ranked.append(((inp.kind != "socket"), inp.type != o_type, free is not None and inp.name not in free, i,
                       inp.name))
    return min(ranked)[-1] if ranked else None


def first_output_for(nt: NodeType, i_type: str) -> str | None:
    ranked = [(o.type != i_type, i, o.name) for i, o in enumerate(nt.outputs) if st.compatible(o.type, i_type)[0]]
    return min(ranked)[-1] if ranked else None


def types_for_search(registry: Registry, o_type: str | None = None, i_type: str | None = None) -> list[NodeType]:
    """Node types that can take a wire of type ``o_type`` (from an output) or feed an input of ``i_type``."""
    out = []
    for nt in registry:
        if o_type is not None and first_input_for(nt, o_type) is None:
            continue
        if i_type is not None and first_output_for(nt, i_type) is None:
            continue
        out.append(nt)
    return out
