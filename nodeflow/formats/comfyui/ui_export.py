"""A NodeFlow graph -> ComfyUI's UI format (schema 0.4, which every ComfyUI version opens).

Nodes keep their ids, positions, sizes, titles, colours, modes and links (link ids too); values go back into
widgets_values by ComfyUI's positions. Seed nodes (and value nodes that came from one) are written as ComfyUI's
PrimitiveNode. What ComfyUI cannot express is stored in ``properties["nodeflow"]`` (see ``overrides``), so that
importing the file again gives back the same graph.
"""
from __future__ import annotations

from typing import Any

from nodeflow.core.graph import Graph, Node
from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.comfyui import raw
from nodeflow.formats.comfyui import ui_subgraphs as sg
from nodeflow.core.subgraph import BOUNDARY_TYPES
from nodeflow.formats.comfyui.mapping import PRIMITIVE_NODE, comfy_type, widget_layout
from nodeflow.formats.comfyui.overrides import KEY as NF_KEY
from nodeflow.formats.comfyui.overrides import node_overrides
from nodeflow.formats.comfyui.report import ImportReport
from nodeflow.formats.comfyui.slots import (ExportError, Slots, check_exportable, comfy_extra, linked_nodeflow_only,
                                            node_slots, topological_order, writes_as_primitive_node)
from nodeflow.formats.comfyui.ui_nodes import CONTROL, GROUP_KEYS, TOP_KEYS, convert_node, default_properties
from nodeflow.formats.workflow import WorkflowError

MODE_NUMBERS = {"normal": 0, "muted": 2, "bypassed": 4}
#: Fields of node.extra["comfy"] that the exporter rebuilds itself rather than copying.
REBUILT = {"type", "inputs", "outputs", "widgets", "widgets_values", "widgets_values_extra", "properties", "flags",
           "mode", "extra_inputs", "extra_outputs"}
DEFAULT_WIDTH = 315.0


def export_ui(graph: Graph, registry) -> dict:
    original = graph
    slotted = sg.with_slots(graph) if graph.subgraphs else graph  # instances written as their ports say
    nodes_out, links_out = _export_level(slotted, original, registry, original.subgraphs)
    definitions = []
    for def_id, defn in slotted.subgraphs.items():
        try:
            inner_nodes, inner_links = _export_level(defn.graph, original.subgraphs[def_id].graph, registry,
                                                     original.subgraphs)
        except ExportError as e:
            raise ExportError(f"subgraph {defn.name or def_id!r}: {e}") from None
        definitions.append(sg.definition_dict(defn, inner_nodes, inner_links, _groups(defn.graph)))
    top = {k: v for k, v in (comfy_extra_top(graph)).items() if k not in TOP_KEYS}
    out: dict[str, Any] = {"last_node_id": max(graph.nodes, default=0), "last_link_id": max(graph.links, default=0),
                           "nodes": nodes_out, "links": links_out, "groups": _groups(graph)}
    out.update(top)
    if definitions:
        out["definitions"] = {"subgraphs": definitions}
    out.setdefault("config", {})
    extra = out["extra"] = dict(out["extra"]) if isinstance(out.get("extra"), dict) else {}
    reimported_extra = {"comfy": {k: v for k, v in out.items() if k not in TOP_KEYS}}
    if graph.meta or graph.extra != reimported_extra:
        extra[NF_KEY] = {"meta": graph.meta, "extra": graph.extra}
    out["version"] = 0.4
    try:
        return f.json_copy(out)  # nothing in the result is shared with the graph
    except WorkflowError as e:
        raise ExportError(f"the workflow holds a value ComfyUI cannot store: {e}") from None


def _export_level(graph: Graph, original: Graph, registry, subgraphs: dict) -> tuple[list[dict], list[list]]:
    """The nodes and links of one graph level (the top graph or a definition's) in ComfyUI's shape; ``original``
    holds the nodes as the user has them (``graph`` may carry slots added for export)."""
    check_exportable(graph, registry)
    order = {nid: k for k, nid in enumerate(topological_order(graph))}
    slots = {n.id: node_slots(graph, registry, n) for n in graph.nodes.values()}
    for node in graph.nodes.values():
        nt = registry.get(node.type)
        bad = linked_nodeflow_only(graph, nt, node) if nt is not None else []
        if bad:
            raise ExportError(f"node {node.id} '{node.label}': input {', '.join(bad)} is NodeFlow's own and has no "
                              "ComfyUI counterpart; disconnect it to export")
    links_out, in_links, out_links = _links(graph, slots)
    nodes_out = []
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        d = _node_dict(graph, registry, node, slots[node.id], order[node.id], in_links, out_links)
        if node.type in BOUNDARY_TYPES and subgraphs:
            nodes_out.append(d)
            continue
        user_node = original.nodes.get(node.id, node)
        nf = node_overrides(user_node, _reimport(d, node, registry, subgraphs))
        if d["type"] == PRIMITIVE_NODE and registry.get(node.type) is not None:
            nf["type"] = node.type  # stays this node on import, even when it feeds a single input
        if nf:
            d["properties"] = {**d.get("properties", {}), NF_KEY: nf}
            if _reimport(d, node, registry, subgraphs).extra != user_node.extra:  # the override's carrier changed it
                nf["extra"] = user_node.extra
        nodes_out.append(d)
    return nodes_out, links_out


def comfy_extra_top(graph: Graph) -> dict:
    c = graph.extra.get("comfy")
    return c if isinstance(c, dict) else {}


def _links(graph: Graph, slots: dict[int, Slots]):
    links_out = []
    in_links: dict[tuple[int, int], int] = {}
    out_links: dict[tuple[int, int], list[int]] = {}
    for link in sorted(graph.links.values(), key=lambda l: l.id):
        src, dst = slots.get(link.src), slots.get(link.dst)
        if src is None or dst is None:
            raise ExportError(f"link {link.id} refers to node {link.src if src is None else link.dst}, "
                              "which does not exist")
        o, i = src.output_index(link.src_output), dst.input_index(link.dst_input)
        if o is None or i is None:
            node, name = (link.src, link.src_output) if o is None else (link.dst, link.dst_input)
            raise ExportError(f"link {link.id}: node {node} '{graph.nodes[node].label}' has no "
                              f"{'output' if o is None else 'input'} {name!r} in ComfyUI")
        if (link.dst, i) in in_links:
            raise ExportError(f"node {link.dst} '{graph.nodes[link.dst].label}' input {link.dst_input!r} has "
                              "several links; ComfyUI allows one")
        in_links[(link.dst, i)] = link.id
        out_links.setdefault((link.src, o), []).append(link.id)
        links_out.append([link.id, link.src, o, link.dst, i, src.outputs[o][1].get("type", "*")])
    return links_out, in_links, out_links


def _node_dict(graph: Graph, registry, node: Node, slots: Slots, order: int, in_links, out_links) -> dict:
    nt = registry.get(node.type)
    comfy = comfy_extra(node)
    primitive = nt is not None and writes_as_primitive_node(node, nt)
    d: dict[str, Any] = {"id": node.id, "type": PRIMITIVE_NODE if primitive else comfy_type(node, nt),
                         "pos": [node.pos[0], node.pos[1]], "size": list(node.size or _default_size(slots, nt))}
    flags = dict(comfy.get("flags") or {}) if isinstance(comfy.get("flags"), dict) else {}
    if node.collapsed:
        flags["collapsed"] = True
    d["flags"] = flags
    d["order"] = order
    mode = MODE_NUMBERS[node.mode]
    if node.mode == "normal" and isinstance(comfy.get("mode"), int) and not isinstance(comfy.get("mode"), bool):
        mode = comfy["mode"]
    d["mode"] = mode
    d["inputs"] = [dict(e, link=in_links.get((node.id, k))) for k, (_, e) in enumerate(slots.inputs)]
    d["outputs"] = [dict(e, links=out_links.get((node.id, k), []), slot_index=k)
                    for k, (_, e) in enumerate(slots.outputs)]
    default_title = nt.display_name if nt is not None else ""
    if node.title and node.title != default_title:
        d["title"] = node.title
    props = comfy.get("properties")
    d["properties"] = props if isinstance(props, dict) else default_properties(d["type"])
    wv = _widgets_values(node, nt, comfy, primitive)
    if wv is not None:
        d["widgets_values"] = wv
    if node.color:
        d["color"] = node.color
    for k, v in comfy.items():
        if k not in REBUILT and k not in d:
            d[k] = v
    return d


def _widgets_values(node: Node, nt, comfy: dict, primitive: bool):
    if nt is None:  # placeholder: its values as written, updated from the values edited here
        wv = comfy.get("widgets_values")
        wv = dict(wv) if isinstance(wv, dict) else list(wv) if isinstance(wv, list) else wv
        layout = comfy.get("widgets")
        if isinstance(wv, dict):
            wv.update({k: v for k, v in node.values.items() if k in wv})
        elif isinstance(wv, list) and isinstance(layout, list) and len(layout) == len(wv):
            for k, name in enumerate(layout):
                if name != CONTROL and name in node.values:
                    wv[k] = node.values[name]
        return wv
    if primitive:
        inp = nt.widget_inputs[0]
        wv = [node.values.get(inp.name, inp.default)]
        if nt.outputs[0].type in ("INT", "FLOAT"):  # ComfyUI's primitive shows a control for numbers
            wv.append(node.controls.get(inp.name, "fixed"))
        return wv
    wv = []
    for s in widget_layout(nt):
        if s.role == "value":
            inp = nt.input(s.name)
            wv.append(node.values.get(s.name, inp.default))
        elif s.role == "control":
            wv.append(node.controls.get(s.name, "fixed"))
        else:
            wv.append(s.default)
    extra = comfy.get("widgets_values_extra")
    if isinstance(extra, list):
        wv += extra
    return wv


def _default_size(slots: Slots, nt) -> tuple[float, float]:
    rows = max(len(slots.inputs), len(slots.outputs)) + (len(widget_layout(nt)) if nt is not None else 0)
    return DEFAULT_WIDTH, 30.0 + 24.0 * max(rows, 1)


def _reimport(d: dict, node: Node, registry, subgraphs: dict | None = None) -> Node:
    """What importing this node dict would give, before any stored override (for the overrides diff)."""
    rn = raw._node(d, f"node {node.id}")  # the importer copies what it keeps: ``d`` stays as it is
    if subgraphs and node.type in subgraphs:
        defn = subgraphs[node.type]
        shape = {"inputs": [{"name": p.name} for p in defn.inputs], "outputs": [{"name": p.name} for p in defn.outputs]}
        return sg.convert_instance(rn, shape).node
    if d["type"] == PRIMITIVE_NODE and registry.get(node.type) is not None:
        from nodeflow.formats.comfyui.mapping import control_value
        from nodeflow.formats.comfyui.primitives import primitive_node

        wv = d.get("widgets_values") or []
        control = control_value(wv[1]) if len(wv) > 1 else None
        return primitive_node(rn, registry.get(node.type), wv[0] if wv else None, control).node
    linked = {k for k, s in enumerate(rn.inputs) if s.link is not None}
    return convert_node(rn, registry, ImportReport(), linked).node


def _groups(graph: Graph) -> list[dict]:
    out = []
    for g in sorted(graph.groups.values(), key=lambda g: g.id):
        d: dict[str, Any] = {"id": g.id, "title": g.title, "bounding": [float(v) for v in g.rect]}
        if g.color is not None:
            d["color"] = g.color
        extra = g.extra if g.extra else {"font_size": 24, "flags": {}}
        for k, v in extra.items():
            if k not in GROUP_KEYS and k != NF_KEY:
                d[k] = v
        if {k: v for k, v in d.items() if k not in GROUP_KEYS} != g.extra:
            d[NF_KEY] = {"extra": g.extra}
        out.append(d)
    return out


__all__ = ["export_ui", "ExportError", "WorkflowError"]
