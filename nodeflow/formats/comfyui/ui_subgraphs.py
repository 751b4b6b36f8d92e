"""ComfyUI's subgraphs (``definitions.subgraphs`` of the UI format) <-> NodeFlow's (``core/subgraph.py``).

A ComfyUI definition has ``inputs`` / ``outputs`` (ports: id, name, type, linkIds, label, pos), ``nodes``, ``links``
as objects, ``groups``, and two boundary nodes that are not in ``nodes``: links from the inputs come from node -10
(origin slot = the input's index), links to the outputs go to node -20. NodeFlow's definitions hold the same two
boundary nodes as real nodes with the same ids, so links keep their ids and ends. An instance is a node whose type is
a definition's id; its slots name the ports; ``properties.proxyWidgets`` lists the inner widgets it shows
(``[inner node id, widget]``), and its ``widgets_values`` (often empty) their values in that order: where such a
widget is fed by one of the definition's inputs, the value becomes the instance's own value for that input.
Everything else ComfyUI writes (port ids and positions, the definition's state and extra ...) is kept and written
back.
"""
from __future__ import annotations

import copy
from typing import Any

from nodeflow.core.graph import Graph, Node
from nodeflow.core.subgraph import (INPUTS_NODE_ID, INPUTS_TYPE, OUTPUTS_NODE_ID, OUTPUTS_TYPE, Port, SubgraphDef)
from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.comfyui import raw
from nodeflow.formats.comfyui.overrides import KEY as NF_KEY
from nodeflow.formats.comfyui.overrides import apply_node_overrides
from nodeflow.formats.comfyui.report import ImportReport
from nodeflow.formats.comfyui.ui_nodes import Converted, common_fields
from nodeflow.formats.workflow import WorkflowError

#: Definition fields rebuilt from the NodeFlow definition; the rest is kept in defn.extra["comfy"].
DEF_KEYS = {"id", "name", "inputs", "outputs", "nodes", "links", "groups"}
PORT_KEYS = {"name", "type", "label", "linkIds"}
MAX_DEFINITIONS = 1000


# -- import -----------------------------------------------------------------------------------------------------------
def read_definitions(data: dict) -> dict[str, dict]:
    """The file's subgraph definitions by id, checked for shape."""
    defs = data.get("definitions")
    if defs is None:
        return {}
    defs = f.obj(defs, "definitions")
    items = f.opt_list(defs.get("subgraphs"), "definitions.subgraphs")
    if len(items) > MAX_DEFINITIONS:
        raise WorkflowError(f"definitions.subgraphs: {len(items)} subgraphs is more than a workflow can hold")
    out: dict[str, dict] = {}
    for i, sd in enumerate(items):
        where = f"definitions.subgraphs[{i}]"
        sd = f.obj(sd, where)
        def_id = f.text(sd.get("id"), f"{where}.id", 200)
        if not def_id or def_id in out:
            raise WorkflowError(f"{where}.id: {'empty' if not def_id else 'duplicate'} subgraph id {def_id!r}")
        for side in ("inputs", "outputs"):
            for k, p in enumerate(f.opt_list(sd.get(side), f"{where}.{side}")):
                p = f.obj(p, f"{where}.{side}[{k}]")
                f.text(p.get("name"), f"{where}.{side}[{k}].name", 180)
        out[def_id] = sd
    return out


def ports(sd: dict, side: str) -> list[Port]:
    out = []
    for p in sd.get(side) or ():
        t = p.get("type")
        label = p.get("label")
        out.append(Port(p["name"], t if isinstance(t, str) else "*", label if isinstance(label, str) else "",
                        {k: copy.copy(v) for k, v in p.items() if k not in PORT_KEYS}))
    return out


def boundary_nodes(sd: dict, links: list[raw.RawLink]) -> dict[int, raw.RawNode]:
    """The definition's two boundary nodes as raw nodes, so that links to and from them check like any other."""
    ins = [raw.RawSlot(p.name, p.type) for p in ports(sd, "inputs")]
    feeding = {l.dst_slot: l.id for l in links if l.dst == OUTPUTS_NODE_ID}
    outs = [raw.RawSlot(p.name, p.type, feeding.get(k)) for k, p in enumerate(ports(sd, "outputs"))]
    return {INPUTS_NODE_ID: raw.RawNode(INPUTS_NODE_ID, INPUTS_TYPE, "subgraph inputs", {}, [], ins, 0),
            OUTPUTS_NODE_ID: raw.RawNode(OUTPUTS_NODE_ID, OUTPUTS_TYPE, "subgraph outputs", {}, outs, [], 0)}


def convert_boundary(rn: raw.RawNode, sd: dict) -> Converted:
    key = "inputNode" if rn.id == INPUTS_NODE_ID else "outputNode"
    box = sd.get(key, {}).get("bounding") if isinstance(sd.get(key), dict) else None
    pos = (0.0, 0.0)
    if isinstance(box, list) and len(box) == 4:
        pos = f.pair(box[:2], f"subgraph {sd.get('id')}.{key}.bounding")
    node = Node(rn.id, rn.type, "Inputs" if rn.id == INPUTS_NODE_ID else "Outputs", pos)
    names = [s.name for s in (rn.outputs if rn.id == INPUTS_NODE_ID else rn.inputs)]
    return Converted(node, [] if rn.id == INPUTS_NODE_ID else names, names if rn.id == INPUTS_NODE_ID else [], None)


def convert_instance(rn: raw.RawNode, sd: dict) -> Converted:
    """An instance node: its slots are the definition's ports (by name), its values the promoted widgets' values
    for the inputs that feed them."""
    c = common_fields(rn)
    comfy = c["comfy"]
    in_ports = [p.name for p in ports(sd, "inputs")]
    out_ports = [p.name for p in ports(sd, "outputs")]
    inputs = [s.name if s.name in in_ports else (s.widget or s.name or f"input {k}") for k, s in enumerate(rn.inputs)]
    outputs = [s.name if s.name in out_ports else (out_ports[k] if k < len(out_ports) else s.name or f"output {k}")
               for k, s in enumerate(rn.outputs)]
    comfy["inputs"] = [copy.copy(s.data) for s in rn.inputs]
    comfy["outputs"] = [copy.copy(s.data) for s in rn.outputs]
    values: dict[str, Any] = {}
    wv = rn.data.get("widgets_values")
    if wv is not None:
        comfy["widgets_values"] = copy.copy(wv)
    props = rn.data.get("properties") if isinstance(rn.data.get("properties"), dict) else {}
    proxy = props.get("proxyWidgets")
    if isinstance(wv, list) and wv and isinstance(proxy, list):
        fed = _fed_widgets(sd)
        shown = [p for p in proxy if isinstance(p, list) and len(p) == 2]
        if len(shown) == len(wv):
            for (inner, widget), value in zip(shown, wv):
                port = fed.get((str(inner), widget))
                if port is not None:
                    values[port] = copy.copy(value)
    name = sd.get("name")  # an untitled instance shows its subgraph's name, as in ComfyUI
    title = c["title"] if isinstance(c["title"], str) else name if isinstance(name, str) else ""
    node = Node(rn.id, rn.type, title, c["pos"], c["size"], values, frozenset(), c["mode"], c["collapsed"],
                c["color"], 1, {}, {"comfy": comfy} if comfy else {})
    if c["nf"] is not None:
        apply_node_overrides(node, c["nf"], rn.where)
    return Converted(node, inputs, outputs, None)


def _fed_widgets(sd: dict) -> dict[tuple[str, str], str]:
    """(inner node id, widget name) -> the definition input feeding it."""
    names = [p.get("name") for p in sd.get("inputs") or ()]
    by_id = {}
    for nd in sd.get("nodes") or ():
        if isinstance(nd, dict):
            by_id[nd.get("id")] = nd
    out = {}
    for ld in sd.get("links") or ():
        if not isinstance(ld, dict) or ld.get("origin_id") != INPUTS_NODE_ID:
            continue
        slot, node = ld.get("origin_slot"), by_id.get(ld.get("target_id"))
        if not isinstance(slot, int) or not 0 <= slot < len(names) or node is None:
            continue
        k = ld.get("target_slot")
        entries = node.get("inputs") or []
        if isinstance(k, int) and 0 <= k < len(entries) and isinstance(entries[k], dict):
            w = entries[k].get("widget")
            widget = w.get("name") if isinstance(w, dict) else entries[k].get("name")
            out[(str(node.get("id")), widget)] = names[slot]
    return out


def make_definition(sd: dict, inner: Graph) -> SubgraphDef:
    name = sd.get("name")
    extra = {k: copy.copy(v) for k, v in sd.items() if k not in DEF_KEYS and k != NF_KEY}
    extra = {"comfy": extra} if extra else {}
    nf = sd.get(NF_KEY)
    if isinstance(nf, dict) and isinstance(nf.get("extra"), dict):  # what NodeFlow wrote about its own definition
        extra = copy.deepcopy(nf["extra"])
    return SubgraphDef(sd["id"], name if isinstance(name, str) else "", inner, ports(sd, "inputs"),
                       ports(sd, "outputs"), extra)


# -- export -------------------------------------------------------------------------------------------------------------
def with_slots(graph: Graph) -> Graph:
    """A copy in which every instance and boundary node carries ComfyUI slots built from its definition's ports
    (an imported instance keeps the slots its file listed, plus any port linked since), so the exporter writes
    them as it writes placeholders."""
    out = graph.copy()
    for level, defn in [(out, None), *((d.graph, d) for d in out.subgraphs.values())]:
        for node in level.nodes.values():
            target = out.subgraphs.get(node.type)
            linked_in = {l.dst_input for l in level.incoming(node.id)}
            linked_out = {l.src_output for l in level.outgoing(node.id)}
            if target is not None:
                _set_slots(node, target.inputs, target.outputs, linked_in, linked_out)
                _promote(node, target)
                if node.title == target.name:
                    node.title = ""  # the default: ComfyUI shows the subgraph's name
            elif defn is not None and node.type == INPUTS_TYPE:
                _set_slots(node, [], defn.inputs, set(), set(), fixed=True)
            elif defn is not None and node.type == OUTPUTS_TYPE:
                _set_slots(node, defn.outputs, [], set(), set(), fixed=True)
    return out


def _promote(node: Node, defn: SubgraphDef) -> None:
    """An instance's own values as ComfyUI keeps them: ``properties.proxyWidgets`` naming the inner widgets its
    value inputs feed, ``widgets_values`` their values in that order (a NodeFlow-made instance has neither; an
    imported one keeps its list, with the values set here written into it)."""
    comfy = dict(node.extra.get("comfy") or {})
    props = dict(comfy.get("properties") or {})
    fed = {}
    for link in sorted(defn.graph.outgoing(INPUTS_NODE_ID), key=lambda l: l.id):
        inner = defn.graph.nodes.get(link.dst)
        if inner is not None and link.src_output not in fed:
            fed[link.src_output] = (str(link.dst), link.dst_input, inner)
    proxy = props.get("proxyWidgets")
    if not isinstance(proxy, list):
        if not node.values:
            return
        ports = [p.name for p in defn.inputs if p.name in fed and p.name in node.values]
        props["proxyWidgets"] = [[fed[p][0], fed[p][1]] for p in ports]
        comfy["widgets_values"] = [node.values[p] for p in ports]
    else:
        wv = comfy.get("widgets_values")
        wv = list(wv) if isinstance(wv, list) and len(wv) == len(proxy) else None
        by_widget = {(i, w): port for port, (i, w, _n) in fed.items()}
        for k, entry in enumerate(proxy):
            port = by_widget.get(tuple(entry)) if isinstance(entry, list) and len(entry) == 2 else None
            if port in node.values:
                if wv is None:  # the file kept the values inside: fill in theirs, then this one
                    wv = [_inner_value(defn, e) for e in proxy]
                wv[k] = node.values[port]
        if wv is not None:
            comfy["widgets_values"] = wv
    comfy["properties"] = props
    node.extra = dict(node.extra, comfy=comfy)


def _inner_value(defn: SubgraphDef, entry) -> Any:
    """The value a promoted widget shows when the instance does not set it: the inner node's own."""
    if not (isinstance(entry, list) and len(entry) == 2 and str(entry[0]).lstrip("-").isdigit()):
        return None
    inner = defn.graph.nodes.get(int(entry[0]))
    if inner is None:
        return None
    if entry[1] == "control_after_generate":  # the seed's control, ComfyUI's own widget
        return next(iter(inner.controls.values()), "fixed")
    return inner.values.get(entry[1])


def _set_slots(node: Node, ins: list[Port], outs: list[Port], linked_in: set, linked_out: set,
               fixed: bool = False) -> None:
    comfy = dict(node.extra.get("comfy") or {})
    for key, ports_, linked in (("inputs", ins, linked_in), ("outputs", outs, linked_out)):
        old = comfy.get(key) if isinstance(comfy.get(key), list) and not fixed else None
        if old is None:
            entries = []
            for p in ports_:
                e = {"name": p.name, "type": p.type}
                if p.label:
                    e["label"] = p.label
                entries.append(e)
        else:
            entries = [dict(e) for e in old if isinstance(e, dict)]
            names = {e.get("name") for e in entries}
            entries += [{"name": p.name, "type": p.type} for p in ports_ if p.name in linked and p.name not in names]
        comfy[key] = entries
    node.extra = dict(node.extra, comfy=comfy)


def definition_dict(defn: SubgraphDef, nodes_out: list[dict], links_out: list[list], groups: list[dict]) -> dict:
    """A definition in ComfyUI's shape, from its inner graph as exported (nodes without the boundary ones)."""
    d: dict[str, Any] = {"id": defn.id, "name": defn.name}
    comfy = defn.extra.get("comfy") if isinstance(defn.extra.get("comfy"), dict) else {}
    d.update({k: v for k, v in comfy.items() if k not in DEF_KEYS})
    d.setdefault("version", 1)
    d.setdefault("inputNode", {"id": INPUTS_NODE_ID, "bounding": _box(defn, INPUTS_NODE_ID)})
    d.setdefault("outputNode", {"id": OUTPUTS_NODE_ID, "bounding": _box(defn, OUTPUTS_NODE_ID)})
    d.setdefault("widgets", [])
    objects = [{"id": l[0], "origin_id": l[1], "origin_slot": l[2], "target_id": l[3], "target_slot": l[4],
                "type": l[5]} for l in links_out]
    for side, key in (("inputs", "origin_id"), ("outputs", "target_id")):
        boundary = INPUTS_NODE_ID if side == "inputs" else OUTPUTS_NODE_ID
        slot_key = "origin_slot" if side == "inputs" else "target_slot"
        entries = []
        for k, p in enumerate(getattr(defn, side)):
            e = dict(p.extra)
            e.update({"name": p.name, "type": p.type,
                      "linkIds": [o["id"] for o in objects if o[key] == boundary and o[slot_key] == k]})
            if p.label:
                e["label"] = p.label
            entries.append(e)
        d[side] = entries
    d["nodes"] = [n for n in nodes_out if n["id"] not in (INPUTS_NODE_ID, OUTPUTS_NODE_ID)]
    d["groups"] = groups
    d["links"] = objects
    reimported = {k: v for k, v in d.items() if k not in DEF_KEYS}
    if ({"comfy": reimported} if reimported else {}) != defn.extra:
        d[NF_KEY] = {"extra": copy.deepcopy(defn.extra)}
    return d


def _box(defn: SubgraphDef, node_id: int) -> list[float]:
    node = defn.graph.nodes.get(node_id)
    x, y = node.pos if node is not None else (0.0, 0.0)
    return [x, y, 120.0, 40.0 + 20.0 * len(defn.inputs if node_id == INPUTS_NODE_ID else defn.outputs)]


def report_for_definition(report: ImportReport, sd: dict) -> str:
    name = sd.get("name")
    return f"subgraph {name!r}" if isinstance(name, str) else f"subgraph {sd['id']}"
