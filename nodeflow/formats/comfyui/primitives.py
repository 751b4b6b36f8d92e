"""ComfyUI's PrimitiveNode: a UI-only node holding one widget value for the widget inputs it is linked to.

Decision: a primitive feeding ONE widget input (or several inputs of a choice list, for which NodeFlow has no
primitive) disappears, its value (and seed control) written into that input - exactly what ComfyUI sends to its
server. A primitive feeding SEVERAL inputs becomes a node that keeps them in sync: the type declared ``inlined`` with
a seed value (Seed) when it drives a seed input, otherwise the type declared ``primitive_for`` its value type
(PrimitiveInt / PrimitiveFloat / PrimitiveString / PrimitiveBoolean). Unconnected primitives carry no value anywhere
and are left out, with a note.
"""
from __future__ import annotations

import copy

from nodeflow.core.graph import Node
from nodeflow.formats.comfyui import raw
from nodeflow.formats.comfyui.mapping import control_value, is_primitive_stand_in, primitive_type, seed_type
from nodeflow.formats.comfyui.overrides import apply_node_overrides, override_type
from nodeflow.formats.comfyui.report import ImportReport
from nodeflow.formats.comfyui.ui_nodes import Converted, common_fields, convert_node, fix_value


def resolve_primitives(primitives: list[raw.RawNode], links: list[raw.RawLink], raw_nodes: dict[int, raw.RawNode],
                       converted: dict[int, Converted], registry, report: ImportReport) -> set[int]:
    """Inline or convert each primitive (adding created nodes to ``converted``); returns the inlined link ids."""
    inlined: set[int] = set()
    inlined_text, dropped = [], []
    by_src: dict[int, list[raw.RawLink]] = {}
    for link in links:
        by_src.setdefault(link.src, []).append(link)
    for rn in primitives:
        wv = rn.data.get("widgets_values")
        has_value = isinstance(wv, list) and len(wv) > 0
        value = copy.deepcopy(wv[0]) if has_value else None
        control = control_value(wv[1]) if isinstance(wv, list) and len(wv) > 1 else None
        out_type = rn.outputs[0].type if rn.outputs else None
        out_type = out_type if isinstance(out_type, str) else "COMBO"  # old files write a choice list's options
        forced = override_type(rn.data.get("properties"))
        if forced is not None and not is_primitive_stand_in(registry, forced):
            forced = None  # only a value node may stand for a primitive, whatever the file claims
        out_links = by_src.get(rn.id, [])
        targets = [(converted[l.dst], converted[l.dst].inputs[l.dst_slot], raw_nodes[l.dst].inputs[l.dst_slot], l)
                   for l in out_links]
        if forced is None and not targets:
            dropped.append(rn.label)
            continue
        all_widgets = all(entry.widget for _, _, entry, _ in targets)
        if forced is None and all_widgets and (len(targets) == 1 or primitive_type(registry, out_type) is None):
            for c, name, _, link in targets:
                inlined.add(link.id)
                if has_value:
                    c.node.values[name] = fix_value(c.node.type, name, copy.deepcopy(value))
                c.node.socket_inputs = c.node.socket_inputs - {name}
                inp = c.nt.input(name) if c.nt is not None else None
                if control is not None and inp is not None and inp.control_after_generate:
                    c.node.controls[name] = control
            inlined_text.append(f"{rn.label} -> " + ", ".join(f"node {c.node.id} {name}" for c, name, _, _ in targets))
            continue
        type_name = forced
        if type_name is None:
            drives_seed = any(c.nt is not None and (i := c.nt.input(name)) is not None and i.control_after_generate
                              for c, name, _, _ in targets)
            stand_in = seed_type(registry) if out_type == "INT" and drives_seed else None
            stand_in = stand_in or primitive_type(registry, out_type)
            type_name = stand_in.type_name if stand_in is not None else None
        nt = registry.get(type_name) if type_name else None
        if nt is None or not nt.widget_inputs or not nt.outputs:
            converted[rn.id] = convert_node(rn, registry, report, set())  # kept as a placeholder, links and all
            continue
        converted[rn.id] = primitive_node(rn, nt, value if has_value else None, control)
    if inlined_text:
        report.note(f"{len(inlined_text)} primitive node(s) were replaced by their value, written into the input "
                    f"they fed (as ComfyUI sends it): " + "; ".join(inlined_text))
    if dropped:
        report.note(f"{len(dropped)} unconnected primitive node(s) hold no value and were left out: "
                    + ", ".join(dropped))
    return inlined


def primitive_node(rn: raw.RawNode, nt, value, control) -> Converted:
    """A NodeFlow value node (Seed, PrimitiveInt, ...) standing for a PrimitiveNode; its output keeps the links."""
    c = common_fields(rn)
    comfy = c["comfy"]
    comfy["type"] = rn.type  # written back as a PrimitiveNode
    name = nt.widget_inputs[0].name
    values = {name: value} if value is not None else nt.default_values()
    inp = nt.input(name)
    controls = {name: control} if control is not None and (inp.control_after_generate or control != "fixed") else {}
    title = c["title"] if isinstance(c["title"], str) else nt.display_name
    node = Node(rn.id, nt.type_name, title, c["pos"], c["size"], values, frozenset(), c["mode"], c["collapsed"],
                c["color"], nt.version, controls, {"comfy": comfy})
    if c["nf"] is not None:
        apply_node_overrides(node, c["nf"], rn.where)
    outputs = [o.name for o in nt.outputs]
    outputs += [f"output {k}" for k in range(len(outputs), len(rn.outputs))]  # only a forged file has more
    return Converted(node, [s.name or f"input {k}" for k, s in enumerate(rn.inputs)], outputs, nt)
