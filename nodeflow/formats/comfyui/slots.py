"""How a NodeFlow node looks as a ComfyUI node: which ComfyUI class it is written as, its input and output slots
(ComfyUI addresses them by index), and whether it has a ComfyUI counterpart at all."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodeflow.core.graph import Graph, Node, id_order
from nodeflow.core.nodedef import NodeType
from nodeflow.formats.comfyui.mapping import (PRIMITIVE_NODE, REROUTE, comfy_inputs, comfy_type, is_counterpart,
                                              nodeflow_only_inputs)
from nodeflow.formats.workflow import WorkflowError


class ExportError(WorkflowError):
    """The graph cannot be written in ComfyUI's formats; the message names the nodes and what to change."""


def comfy_extra(node: Node) -> dict:
    c = node.extra.get("comfy")
    return c if isinstance(c, dict) else {}


def is_comfy_placeholder(node: Node) -> bool:
    """A node of a ComfyUI type we don't have, imported with its slots (so it can be written back)."""
    c = comfy_extra(node)
    return isinstance(c.get("inputs"), list) and isinstance(c.get("outputs"), list)


def writes_as_primitive_node(node: Node, nt: NodeType | None) -> bool:
    """Types declared ``inlined`` (Seed: no ComfyUI node) and value nodes that came from a PrimitiveNode are
    written back as one."""
    return (nt is not None and nt.comfy is not None and nt.comfy.inlined) \
        or comfy_extra(node).get("type") == PRIMITIVE_NODE


def check_exportable(graph: Graph, registry) -> None:
    bad = []
    for node in sorted(graph.nodes.values(), key=lambda n: id_order(n.id)):
        nt = registry.get(node.type)
        ok = (is_comfy_placeholder(node) if nt is None
              else is_counterpart(nt) or (writes_as_primitive_node(node, nt) and bool(nt.widget_inputs)))
        if not ok:
            bad.append(f"node {node.id} '{node.label}' ({node.type}{'' if nt else ', not installed'})")
    if bad:
        raise ExportError(f"{len(bad)} node(s) have no ComfyUI counterpart: {'; '.join(bad[:12])}"
                          f"{'; ...' if len(bad) > 12 else ''}. Remove or replace them to share this workflow "
                          "with ComfyUI")


def unique_names(names: list[str]) -> list[str]:
    """A placeholder's slot names, as the importer gives them and the exporter finds them again (duplicates get
    their index)."""
    seen: set[str] = set()
    out = []
    for k, n in enumerate(names):
        if n in seen:
            n = f"{n} ({k})"
        seen.add(n)
        out.append(n)
    return out


@dataclass
class Slots:
    #: (our input name, ComfyUI input entry without its link) in ComfyUI's slot order.
    inputs: list[tuple[str, dict]] = field(default_factory=list)
    outputs: list[tuple[str, dict]] = field(default_factory=list)

    def input_index(self, name: str) -> int | None:
        return next((k for k, (n, _) in enumerate(self.inputs) if n == name), None)

    def output_index(self, name: str) -> int | None:
        return next((k for k, (n, _) in enumerate(self.outputs) if n == name), None)


def node_slots(graph: Graph, registry, node: Node) -> Slots:
    nt = registry.get(node.type)
    if nt is None:
        c = comfy_extra(node)
        ins = [dict(e) if isinstance(e, dict) else {} for e in c.get("inputs", [])]
        outs = [dict(e) if isinstance(e, dict) else {} for e in c.get("outputs", [])]
        in_names = unique_names([_s(e.get("widget", {}).get("name") if isinstance(e.get("widget"), dict) else None)
                                 or _s(e.get("name")) or f"input {k}" for k, e in enumerate(ins)])
        out_names = unique_names([_s(e.get("name")) or f"output {k}" for k, e in enumerate(outs)])
        return Slots(list(zip(in_names, ins)), list(zip(out_names, outs)))
    if writes_as_primitive_node(node, nt):
        out = nt.outputs[0]
        targets = [l.dst_input for l in sorted(graph.outgoing(node.id), key=lambda l: l.id)]
        entry: dict[str, Any] = {"name": out.type, "type": out.type}
        if targets:
            entry["widget"] = {"name": targets[0]}
        return Slots([], [(out.name, entry)])
    if comfy_type(node, nt) == REROUTE:
        from nodeflow.core.validation import output_type

        t = output_type(graph, registry, node.id, nt.outputs[0].name) or "*"
        return Slots([(nt.inputs[0].name, {"name": "", "type": "*"})] + _extra_slots(node, "extra_inputs"),
                     [(nt.outputs[0].name, {"name": "", "type": t})] + _extra_slots(node, "extra_outputs"))
    ins = [(i.name, {"name": i.name, "type": i.type}) for i in comfy_inputs(nt) if i.kind == "socket"]
    for i in comfy_inputs(nt):
        if i.is_widget and (i.name in node.socket_inputs or graph.link_into(node.id, i.name) is not None):
            ins.append((i.name, {"name": i.name, "type": i.type, "widget": {"name": i.name}}))
    outs = [(o.name, {"name": o.name, "type": o.type}) for o in nt.outputs]
    return Slots(ins + _extra_slots(node, "extra_inputs"), outs + _extra_slots(node, "extra_outputs"))


def _extra_slots(node: Node, key: str) -> list[tuple[str, dict]]:
    """Slots of ComfyUI's version of a node that ours lacks, kept from the imported file."""
    out = []
    for item in comfy_extra(node).get(key) or ():
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], dict):
            out.append((item[0], dict(item[1])))
    return out


def _s(v) -> str | None:
    return v if isinstance(v, str) and v else None


def linked_nodeflow_only(graph: Graph, nt: NodeType, node: Node) -> list[str]:
    return [i.name for i in nodeflow_only_inputs(nt) if graph.link_into(node.id, i.name) is not None]


def topological_order(graph: Graph) -> list[int]:
    """Node ids, sources first (ties by id); raises ExportError on a cycle, which ComfyUI cannot run."""
    import heapq

    indeg = {n: 0 for n in graph.nodes}
    succ: dict[int, list[int]] = {}
    for l in graph.links.values():
        if l.src in graph.nodes and l.dst in graph.nodes:
            indeg[l.dst] += 1
            succ.setdefault(l.src, []).append(l.dst)
    # ids of a flattened graph mix integers and "outer:inner" strings: ordered by id_order
    heap = [(id_order(n), n) for n, d in indeg.items() if d == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        n = heapq.heappop(heap)[1]
        order.append(n)
        for m in succ.get(n, ()):
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, (id_order(m), m))
    if len(order) != len(graph.nodes):
        looped = sorted((n for n, d in indeg.items() if d > 0), key=id_order)
        names = ", ".join(f"{graph.nodes[n].label} ({n})" for n in looped[:6])
        raise ExportError(f"the links form a cycle through {names}; ComfyUI cannot run a cycle")
    return order


__all__ = ["ExportError", "check_exportable", "node_slots", "Slots", "topological_order", "comfy_type",
           "writes_as_primitive_node", "is_comfy_placeholder", "comfy_extra", "unique_names"]
