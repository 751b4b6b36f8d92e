"""ComfyUI's API format (a prompt: ``{"3": {"class_type": "KSampler", "inputs": {...}}}``) -> a NodeFlow graph.

A prompt has no positions, notes or primitives: nodes are laid out automatically (``layout``). An input holding
``[node id, output index]`` is a link; every other input is a value, stored by its name.
"""
from __future__ import annotations

import copy

from nodeflow.core.graph import Graph, Link, Node
from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.comfyui.layout import auto_layout
from nodeflow.formats.comfyui.mapping import nodeflow_only_inputs, type_for_class, ui_widget_names
from nodeflow.formats.comfyui.raw import cycle_error, cycle_members
from nodeflow.formats.comfyui.report import ImportReport
from nodeflow.formats.comfyui.ui_nodes import fix_value
from nodeflow.formats.workflow import WorkflowError

NODE_KEYS = {"class_type", "inputs", "_meta"}


def is_link(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and not isinstance(value[0], bool) and isinstance(value[1], int) and not isinstance(value[1], bool))


def _unwrap(value):
    if isinstance(value, dict) and set(value) == {"__value__"}:  # ComfyUI wraps list values so they aren't links
        return value["__value__"]
    return value


def import_api(data, registry, settings=None) -> tuple[Graph, ImportReport]:
    from nodeflow.formats.comfyui.models import find_missing_models

    data = f.obj(data, "prompt")
    f.check_limits(data, "prompt")
    data = f.json_copy(data)  # the graph never shares objects with the caller's data
    if len(data) > f.MAX_NODES:
        raise WorkflowError(f"the prompt has {len(data)} nodes, more than a workflow can hold ({f.MAX_NODES})")
    report = ImportReport(source="ComfyUI API prompt")
    ids = _node_ids(list(data))
    entries = {}
    for key, nd in data.items():
        where = f"node {key}"
        nd = f.obj(nd, where)
        class_type = f.text(nd.get("class_type"), f"{where}.class_type", 200)
        if not class_type:
            raise WorkflowError(f"{where}.class_type: empty node type")
        where = f"node {key} ({class_type})"
        inputs = f.obj(nd.get("inputs", {}), f"{where}.inputs")
        for name in inputs:
            if not name or len(name) > 180:
                raise WorkflowError(f"{where}.inputs: an input name must have 1 to 180 characters")
        meta = nd.get("_meta")
        title = f.opt_text(f.obj(meta, f"{where}._meta").get("title"), f"{where}._meta.title", 1000) \
            if meta is not None else None
        entries[key] = (class_type, inputs, title, where, {k: copy.copy(v) for k, v in nd.items()
                                                           if k not in NODE_KEYS})

    pending_links = []
    max_slot: dict[str, int] = {}
    for key, (class_type, inputs, _, where, _) in entries.items():
        for name, value in inputs.items():
            if is_link(value):
                src = str(value[0])
                if src not in entries:
                    raise WorkflowError(f"{where}, input {name!r}: linked to node {src}, which is not in the prompt")
                if not 0 <= value[1] < 10_000:
                    raise WorkflowError(f"{where}, input {name!r}: output index {value[1]} is out of range")
                max_slot[src] = max(max_slot.get(src, -1), value[1])
                pending_links.append((src, value[1], key, name))
    out_names: dict[str, list[str]] = {}
    nodes = []
    for key, (class_type, inputs, title, where, rest) in entries.items():
        node, outs = _node(ids[key], key, class_type, inputs, title, where, rest, max_slot.get(key, -1), registry,
                           report)
        nodes.append(node)
        out_names[key] = outs
    links = []
    for link_id, (src, slot, dst, name) in enumerate(pending_links, start=1):
        names = out_names[src]
        if slot >= len(names):
            raise WorkflowError(f"node {dst} ({entries[dst][0]}), input {name!r}: node {src} "
                                f"({entries[src][0]}) has no output {slot}")
        links.append(Link(link_id, ids[src], names[slot], ids[dst], name))
    graph = Graph.from_parts(nodes, links)
    looped = cycle_members(graph.nodes, [(l.src, l.dst) for l in graph.links.values()])
    if looped:
        keys = {v: k for k, v in ids.items()}
        raise cycle_error([f"node {keys[n]} ({graph.nodes[n].type})" for n in looped])
    auto_layout(graph, registry, [ids[k] for k in entries])
    report.missing_models = find_missing_models(graph, registry, settings)
    return graph, report


def _node_ids(keys: list[str]) -> dict[str, int]:
    """Prompt keys are node ids as text; keys that are not plain numbers (expanded group nodes: "12:3") get new
    ids after the numeric ones (the original key is kept in the node's extra data)."""
    ids: dict[str, int] = {}
    for key in keys:
        if key.isdigit() and len(key) < 16 and not (len(key) > 1 and key.startswith("0")):
            ids[key] = int(key)
    next_id = max(ids.values(), default=0) + 1
    for key in keys:
        if key not in ids:
            ids[key] = next_id
            next_id += 1
    return ids


def _node(node_id: int, key: str, class_type: str, inputs: dict, title, where: str, rest: dict, max_slot: int,
          registry, report: ImportReport) -> tuple[Node, list[str]]:
    nt = type_for_class(registry, class_type)
    type_name = nt.type_name if nt is not None else class_type
    comfy = dict(rest)
    if type_name != class_type:
        comfy["type"] = class_type
    if str(node_id) != key:
        comfy["api_id"] = key
    values, sockets = {}, set()
    if nt is not None:
        ui_only = ui_widget_names(nt)
        ours_only = {i.name for i in nodeflow_only_inputs(nt)}
        unknown = {}
        for name, value in inputs.items():
            inp = nt.input(name)
            if is_link(value):
                if inp is not None and inp.kind == "either":
                    sockets.add(name)
            elif inp is not None and inp.is_widget and name not in ours_only:
                values[name] = fix_value(nt.type_name, name, copy.copy(_unwrap(value)))
            elif name not in ui_only:
                unknown[name] = copy.copy(value)
        if unknown:
            comfy["unknown_inputs"] = unknown
            report.note(f"{where}: input(s) {', '.join(map(repr, unknown))} are not part of NodeFlow's "
                        f"{nt.type_name}; kept aside unchanged")
        outputs = [o.name for o in nt.outputs] + [f"output {k}" for k in range(len(nt.outputs), max_slot + 1)]
    else:
        report.add_placeholder(class_type, node_id)
        names = list(inputs)
        values = {n: copy.copy(_unwrap(v)) for n, v in inputs.items() if not is_link(v)}
        outputs = [f"output {k}" for k in range(max_slot + 1)]
        comfy["inputs"] = [{"name": n, "type": "*"} if is_link(inputs[n]) else
                           {"name": n, "type": "*", "widget": {"name": n}} for n in names]
        comfy["outputs"] = [{"name": n, "type": "*"} for n in outputs]
        widget_names = [n for n in names if not is_link(inputs[n])]
        comfy["widgets"] = widget_names
        comfy["widgets_values"] = [values[n] for n in widget_names]
    title = title if title is not None else (nt.display_name if nt is not None else "")
    node = Node(node_id, type_name, title, values=values, socket_inputs=frozenset(sockets),
                type_version=nt.version if nt is not None else 1, extra={"comfy": comfy} if comfy else {})
    return node, outputs
