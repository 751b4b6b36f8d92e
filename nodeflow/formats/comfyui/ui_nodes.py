"""One ComfyUI UI-format node -> a NodeFlow node: the helpers shared by the UI importer (``ui_import``), the
primitive resolver (``primitives``), the subgraph reader (``ui_subgraphs``) and the exporters. Kept apart from
``ui_import`` so that those modules import it without a circle."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from nodeflow.core.graph import Node
from nodeflow.core.nodedef import NodeType
from nodeflow.formats.comfyui import raw
from nodeflow.formats.comfyui.mapping import PRIMITIVE_NODE, control_value, type_for_class, widget_layout
from nodeflow.formats.comfyui.overrides import KEY as NF_KEY
from nodeflow.formats.comfyui.overrides import apply_node_overrides
from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.comfyui.report import ImportReport
from nodeflow.formats.comfyui.slots import unique_names

#: Node fields turned into Node attributes; every other field is kept in node.extra["comfy"] and written back.
NODE_KEYS = {"id", "type", "pos", "size", "mode", "title", "color", "inputs", "outputs", "widgets_values", "order",
             "flags", "properties"}
#: Top-level fields rebuilt on export; the others are kept in graph.extra["comfy"].
TOP_KEYS = {"nodes", "links", "groups", "last_node_id", "last_link_id", "version", "state", "definitions"}
GROUP_KEYS = {"id", "title", "bounding", "color"}
MODES = {0: "normal", 2: "muted", 4: "bypassed"}
CONTROL = "#control"  # a control-after-generate position in a placeholder's widget layout


@dataclass
class Converted:
    node: Node
    #: Our input / output name for each slot index of the node in the file.
    inputs: list[str]
    outputs: list[str]
    nt: NodeType | None


# -- nodes ------------------------------------------------------------------------------------------------------------
def common_fields(rn: raw.RawNode) -> dict:
    """Position, size, mode, flags, colour and the fields we keep for ComfyUI, shared by every kind of node."""
    d = rn.data
    comfy = {k: copy.copy(v) for k, v in d.items() if k not in NODE_KEYS}
    props = copy.copy(d.get("properties")) if isinstance(d.get("properties"), dict) else None
    nf = props.pop(NF_KEY, None) if props is not None else None
    # an empty one that only carried NodeFlow's fields goes, and so does what the exporter writes by default
    if props is not None and (props or nf is None) and props != default_properties(rn.type):
        comfy["properties"] = props
    flags = dict(d.get("flags") or {})
    collapsed = flags.pop("collapsed", False) is True
    if flags:
        comfy["flags"] = flags
    mode = MODES.get(rn.mode)
    if mode is None:  # 1 "always" and 3 "on trigger" run like normal nodes here; kept to be written back
        mode, comfy["mode"] = "normal", rn.mode
    size = d.get("size")
    return {"pos": f.pair(d.get("pos", [0, 0]), f"{rn.where}.pos"),
            "size": None if size is None else f.pair(size, f"{rn.where}.size"),
            "mode": mode, "collapsed": collapsed, "color": d.get("color"), "title": d.get("title"),
            "comfy": comfy, "nf": nf}


def default_properties(type_name: str) -> dict:
    """What ComfyUI gives a new node of this type (and the exporter writes when a node has nothing else)."""
    if type_name == PRIMITIVE_NODE:
        return {"Run widget replace on values": False}
    return {"Node name for S&R": type_name}


def convert_node(rn: raw.RawNode, registry, report: ImportReport, linked_slots: set[int]) -> Converted:
    c = common_fields(rn)
    nt = type_for_class(registry, rn.type)
    type_name = nt.type_name if nt is not None else rn.type
    comfy = c["comfy"]
    if type_name != rn.type:
        comfy["type"] = rn.type
    controls: dict[str, str] = {}
    if nt is not None:
        values, controls, leftover = read_widgets(rn, nt)
        if leftover:
            comfy["widgets_values_extra"] = leftover
            report.note(f"{rn.label}: {len(leftover)} more widget value(s) than NodeFlow's {nt.type_name} has; "
                        f"kept aside unchanged: {repr(leftover)[:120]}")
        inputs = [input_name(nt, s, k) for k, s in enumerate(rn.inputs)]
        outputs = [nt.outputs[k].name if k < len(nt.outputs) else (s.name or f"output {k}")
                   for k, s in enumerate(rn.outputs)]
        # slots ComfyUI's version of the node has and ours lacks (newer Save Image passes its images on): kept,
        # so that their links survive and validation can name them
        unknown_in = [[name, s.data] for name, s in zip(inputs, rn.inputs) if nt.input(name) is None]
        if unknown_in:
            comfy["extra_inputs"] = copy.copy(unknown_in)
        if len(rn.outputs) > len(nt.outputs):
            comfy["extra_outputs"] = [[name, copy.copy(s.data)] for name, s in
                                      zip(outputs[len(nt.outputs):], rn.outputs[len(nt.outputs):])]
        sockets = {inputs[k] for k in linked_slots
                   if (inp := nt.input(inputs[k])) is not None and inp.kind == "either"}
        version = nt.version
    else:
        values, inputs, outputs = _placeholder(rn, comfy)
        sockets, version = set(), 1
        report.add_placeholder(rn.type, rn.id)
    title = c["title"] if isinstance(c["title"], str) else (nt.display_name if nt is not None else "")
    node = Node(rn.id, type_name, title, c["pos"], c["size"], values, frozenset(sockets), c["mode"],
                c["collapsed"], c["color"], version, controls, {"comfy": comfy} if comfy else {})
    if c["nf"] is not None:
        apply_node_overrides(node, c["nf"], rn.where)
    return Converted(node, inputs, outputs, nt)


def input_name(nt: NodeType, s: raw.RawSlot, index: int) -> str:
    """Our input for a slot of the file: by its widget or input name; unnamed slots (Reroute) by position among
    the node's link-only inputs, which ComfyUI lists first and in declaration order."""
    for candidate in (s.widget, s.name):
        if candidate and nt.input(candidate) is not None:
            return candidate
    if not s.name:
        sockets = [i.name for i in nt.inputs if i.kind == "socket"]
        if index < len(sockets):
            return sockets[index]
    return s.widget or s.name or f"input {index}"


def read_widgets(rn: raw.RawNode, nt: NodeType) -> tuple[dict, dict, list]:
    """Values and controls from widgets_values, by ComfyUI's positions; returns (values, controls, leftover)."""
    wv = rn.data.get("widgets_values")
    layout = widget_layout(nt)
    values: dict = {}
    controls: dict[str, str] = {}
    if isinstance(wv, dict):  # a few frontends save values by name
        for s in layout:
            if s.role == "value" and s.name in wv:
                values[s.name] = fix_value(nt.type_name, s.name, copy.copy(wv[s.name]))
        return values, controls, [{k: v} for k, v in wv.items() if k not in values]
    wv = wv or []
    i = 0
    for s in layout:
        if i >= len(wv):  # old files leave trailing values out: ComfyUI fills in its defaults
            if s.role == "value" and s.default is not None:
                values[s.name] = s.default
            continue
        if s.role == "control":
            c = control_value(wv[i])
            if c is None:
                continue  # not saved here (some writers skip it): this position holds the next widget's value
            if s.declared or c != "fixed":
                controls[s.name] = c
        elif s.role == "value":
            values[s.name] = fix_value(nt.type_name, s.name, copy.copy(wv[i]))
        i += 1
    return values, controls, copy.copy(wv[i:])


def fix_value(type_name: str, name: str, value):
    """ComfyUI's own load-time fixes: very old files name samplers 'sample_euler'."""
    if name == "sampler_name" and isinstance(value, str) and value.startswith("sample_"):
        return value[len("sample_"):]
    return value


def _placeholder(rn: raw.RawNode, comfy: dict) -> tuple[dict, list[str], list[str]]:
    """A node type we don't have: keep its slots as written, and its values by name where the file names them."""
    inputs = unique_names([s.widget or s.name or f"input {k}" for k, s in enumerate(rn.inputs)])
    outputs = unique_names([s.name or f"output {k}" for k, s in enumerate(rn.outputs)])
    comfy["inputs"] = [copy.copy(s.data) for s in rn.inputs]
    comfy["outputs"] = [copy.copy(s.data) for s in rn.outputs]
    wv = rn.data.get("widgets_values")
    values: dict = {}
    if wv is None:
        return values, inputs, outputs
    comfy["widgets_values"] = copy.copy(wv)
    widgets = [s for s in rn.inputs if s.widget]
    if isinstance(wv, dict):
        names = {s.widget for s in widgets}
        return {k: copy.copy(v) for k, v in wv.items() if k in names}, inputs, outputs
    layout = placeholder_layout(wv, widgets)
    if layout is not None:
        comfy["widgets"] = layout
        values = {name: copy.copy(wv[i]) for i, name in enumerate(layout) if name != CONTROL}
    return values, inputs, outputs


def placeholder_layout(wv: list, widgets: list[raw.RawSlot]) -> list[str] | None:
    """Name each position of widgets_values from the widget inputs the file lists (recent ComfyUI lists them all);
    a control-after-generate string following a number or a choice is recognised when the counts say it must be
    one. None when the positions cannot be named with certainty: the values then stay positional."""
    layout: list[str] = []
    i = j = 0
    while i < len(wv):
        if j >= len(widgets):
            return None
        w = widgets[j]
        layout.append(w.widget)
        i, j = i + 1, j + 1
        surplus = (len(wv) - i) - (len(widgets) - j)
        if i < len(wv) and surplus > 0 and isinstance(wv[i], str) and control_value(wv[i]) is not None \
                and w.type in ("INT", "FLOAT", "COMBO"):
            layout.append(CONTROL)
            i += 1
    if j != len(widgets) or len(set(n for n in layout if n != CONTROL)) != j:
        return None
    return layout
