"""A NodeFlow graph -> ComfyUI's API prompt: what ComfyUI's frontend sends its server when you queue a workflow.

As ComfyUI's ``graphToPrompt``: notes, reroutes, primitives, muted and bypassed nodes are not in the prompt; links
are followed through reroutes and through bypassed nodes (to the input of the same type), and a primitive's (or a
Seed's) value is written into the inputs it feeds. Every widget value is sent, then links override them.
"""
from __future__ import annotations

from typing import Any

from nodeflow.core.graph import Graph, Link, Node
from nodeflow.core.subgraph_expand import flatten
from nodeflow.formats.comfyui.mapping import REROUTE, comfy_inputs, comfy_type, nodeflow_only_inputs
from nodeflow.formats.comfyui.slots import (ExportError, check_exportable, comfy_extra, node_slots,
                                            topological_order, writes_as_primitive_node)
from nodeflow.formats.comfyui.ui_nodes import CONTROL


def export_api(graph: Graph, registry, notes: list[str] | None = None) -> dict:
    """Subgraph instances are expanded first (``core.subgraph_expand``), as ComfyUI's frontend does when queueing:
    inner nodes get the ids "<instance id>:<inner id>"."""
    notes = [] if notes is None else notes
    graph, unexpanded = flatten(graph)
    if unexpanded:
        raise ExportError("; ".join(f"node {p.node_id} '{p.node_title}': {p}" for p in unexpanded))
    check_exportable(graph, registry)
    prompt: dict[str, Any] = {}
    problems: list[str] = []
    for node_id in topological_order(graph):
        node = graph.nodes[node_id]
        nt = registry.get(node.type)
        if _virtual(node, nt) or node.mode in ("muted", "bypassed"):
            continue
        inputs = _widget_inputs(node, nt, problems)
        if nt is not None:
            changed = [i.name for i in nodeflow_only_inputs(nt)
                       if i.is_widget and node.values.get(i.name, i.default) != i.default]
            if changed:
                notes.append(f"node {node.id} '{node.label}': {', '.join(changed)} has no ComfyUI counterpart "
                             "and is left out")
        for link in sorted(graph.incoming(node.id), key=lambda l: l.id):
            resolved = resolve_link(graph, registry, link, notes)
            if resolved is None:
                continue
            name = _api_input_name(graph, registry, node, link.dst_input)
            inputs[name] = resolved[1] if resolved[0] == "value" else [str(resolved[1]), resolved[2]]
        # an expanded subgraph node goes by its own title, as the frontend sends it (ours is the path)
        own = node.extra.get("inner_title", node.title) if isinstance(node.id, str) else node.title
        title = own or (nt.display_name if nt is not None else node.type)
        prompt[str(node.id)] = {"inputs": inputs, "class_type": comfy_type(node, nt), "_meta": {"title": title}}
    if problems:
        raise ExportError(f"{len(problems)} node(s) cannot be written as an API prompt: " + "; ".join(problems))
    return prompt


def _virtual(node: Node, nt) -> bool:
    """Nodes that exist only in ComfyUI's editor."""
    if nt is None:
        return False
    return nt.ui_only or comfy_type(node, nt) == REROUTE or writes_as_primitive_node(node, nt)


def _wrap(value):
    # ComfyUI reserves lists for links; a list value travels wrapped (the server unwraps it).
    return {"__value__": value} if isinstance(value, list) else value


def _widget_inputs(node: Node, nt, problems: list[str]) -> dict:
    inputs: dict[str, Any] = {}
    if nt is not None:
        for inp in comfy_inputs(nt):
            if inp.is_widget:
                value = node.values.get(inp.name, inp.default)
                if value is not None:
                    inputs[inp.name] = _wrap(value)
        return inputs
    comfy = comfy_extra(node)
    wv, layout = comfy.get("widgets_values"), comfy.get("widgets")
    if isinstance(wv, dict):
        names = [e.get("widget", {}).get("name") for e in comfy.get("inputs", [])
                 if isinstance(e, dict) and isinstance(e.get("widget"), dict)]
        return {n: _wrap(node.values[n]) for n in names if n in node.values}
    if isinstance(wv, list) and wv and not isinstance(layout, list):
        problems.append(f"node {node.id} '{node.label}' ({node.type}): its values were saved by position only, "
                        "by an older ComfyUI, so their names are unknown (open and save the file in a recent "
                        "ComfyUI, or export the UI format)")
        return inputs
    for name in layout or ():
        if name != CONTROL and name in node.values:
            inputs[name] = _wrap(node.values[name])
    return inputs


def _api_input_name(graph: Graph, registry, node: Node, input_name: str) -> str:
    """Placeholders: the file's own input name for the slot (our slot names may carry a disambiguating index)."""
    if registry.get(node.type) is not None:
        return input_name
    slots = node_slots(graph, registry, node)
    k = slots.input_index(input_name)
    entry = slots.inputs[k][1] if k is not None else {}
    name = entry.get("name")
    return name if isinstance(name, str) and name else input_name


def resolve_link(graph: Graph, registry, link: Link, notes: list[str]) -> tuple | None:
    """Where a link's value really comes from: ("link", node id, output index), ("value", v), or None (nothing:
    the input is left out, or keeps its widget value)."""
    seen: set[int] = set()
    while True:
        src = graph.nodes.get(link.src)
        if src is None or src.id in seen:
            return None
        seen.add(src.id)
        nt = registry.get(src.type)
        if nt is not None and writes_as_primitive_node(src, nt):
            name = nt.widget_inputs[0].name
            return "value", _wrap(src.values.get(name, nt.widget_inputs[0].default))
        if nt is not None and comfy_type(src, nt) == REROUTE:
            nxt = graph.link_into(src.id, nt.inputs[0].name)
        elif src.mode == "bypassed":
            nxt = _bypass_input(graph, registry, src, link.src_output)
        elif src.mode == "muted":
            notes.append(f"node {link.dst} input {link.dst_input!r} is fed by muted node {src.id} "
                         f"'{src.label}'; left unconnected")
            return None
        else:
            k = node_slots(graph, registry, src).output_index(link.src_output)
            if k is None:
                raise ExportError(f"link {link.id} starts at output {link.src_output!r} of node {src.id} "
                                  f"'{src.label}', which it does not have")
            return "link", src.id, k
        if nxt is None:
            return None
        link = nxt


def _bypass_input(graph: Graph, registry, node: Node, output: str) -> Link | None:
    """A bypassed node passes on the input at its output's index if the types match, else its first input of the
    output's type (ComfyUI's rule; for NodeFlow's nodes it picks the same input as NodeFlow's executor)."""
    slots = node_slots(graph, registry, node)
    k = slots.output_index(output)
    if k is None:
        return None
    out_type = slots.outputs[k][1].get("type")
    nt = registry.get(node.type)
    if nt is not None:  # all our inputs count here, including widgets turned into sockets
        candidates = [(i.name, i.type) for i in nt.inputs]
    else:
        candidates = [(name, e.get("type")) for name, e in slots.inputs]
    if k < len(candidates) and candidates[k][1] == out_type:
        pick = candidates[k][0]
    else:
        pick = next((name for name, t in candidates if t == out_type), None)
    return graph.link_into(node.id, pick) if pick is not None else None
