"""ComfyUI's UI format (what its editor saves: schema 0.4 and 1) -> a NodeFlow graph and an import report.

Values are read by position exactly as ComfyUI writes them (see ``mapping.widget_layout``) and stored by name.
Nodes of types we have become those nodes; every other type is kept as a placeholder holding its values, slots and
links; PrimitiveNodes are resolved by ``primitives``. Nothing is dropped without a note in the report.
"""
from __future__ import annotations

import copy

from nodeflow.core.graph import Graph, Group, Link
from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.comfyui import raw
from nodeflow.formats.comfyui.mapping import PRIMITIVE_NODE
from nodeflow.formats.comfyui.overrides import KEY as NF_KEY
from nodeflow.core.subgraph import INPUTS_NODE_ID, OUTPUTS_NODE_ID
from nodeflow.formats.comfyui import ui_subgraphs as sg
from nodeflow.formats.comfyui.primitives import resolve_primitives
from nodeflow.formats.comfyui.report import ImportReport
from nodeflow.formats.workflow import WorkflowError
from nodeflow.formats.comfyui.ui_nodes import (CONTROL, GROUP_KEYS, MODES, NODE_KEYS, TOP_KEYS, Converted,  # noqa: F401
                                               common_fields, convert_node, default_properties, fix_value,
                                               read_widgets)

def import_ui(data, registry, settings=None) -> tuple[Graph, ImportReport]:
    from nodeflow.formats.comfyui.models import find_missing_models

    data = f.obj(data, "workflow")
    f.check_limits(data, "workflow")
    data = f.json_copy(data)  # the graph never shares objects with the caller's data (and nothing deeper copies)
    version = data.get("version")
    report = ImportReport(source=f"ComfyUI workflow (schema {version})" if isinstance(version, (int, float, str))
                          else "ComfyUI workflow")
    definitions = sg.read_definitions(data)
    subgraphs = []
    for def_id, sd in definitions.items():
        try:
            inner = _import_level(sd, registry, report, definitions, sd)
        except WorkflowError as e:
            raise WorkflowError(f"subgraph {sd.get('name') or def_id!r}: {e}") from None
        subgraphs.append(sg.make_definition(sd, inner))
    graph = _import_level(data, registry, report, definitions, None)
    graph.subgraphs = {d.id: d for d in subgraphs}
    _read_top(data, graph)
    _name_subgraph_placeholders(data, report)
    report.missing_models = find_missing_models(graph, registry, settings)
    for d in subgraphs:
        known = {(m.folder, m.name) for m in report.missing_models}
        report.missing_models += [m for m in find_missing_models(d.graph, registry, settings)
                                  if (m.folder, m.name) not in known]
    return graph, report


def _import_level(data: dict, registry, report: ImportReport, definitions: dict[str, dict],
                  sd: dict | None) -> Graph:
    """The nodes, links and groups of the top graph (``sd`` None) or of subgraph definition ``sd``."""
    raw_nodes = raw.read_nodes(data)
    raw_links = raw.read_links(data)
    if sd is not None:
        for nid, rn in sg.boundary_nodes(sd, raw_links).items():
            if nid in raw_nodes:
                raise WorkflowError(f"node id {nid} is the subgraph's own {rn.type} node")
            raw_nodes[nid] = rn
        raw_links = _usable_links(raw_nodes, raw_links, sd, report)
    links = raw.check_links(raw_nodes, raw_links, report.notes)
    raw.check_acyclic(raw_nodes, links)
    linked_slots: dict[int, set[int]] = {}
    for link in links:
        linked_slots.setdefault(link.dst, set()).add(link.dst_slot)

    converted: dict[int, Converted] = {}
    primitives = []
    for rn in raw_nodes.values():
        if sd is not None and rn.id in (INPUTS_NODE_ID, OUTPUTS_NODE_ID):
            converted[rn.id] = sg.convert_boundary(rn, sd)
        elif rn.type in definitions:
            converted[rn.id] = sg.convert_instance(rn, definitions[rn.type])
        elif rn.type == PRIMITIVE_NODE and rn.id not in linked_slots:  # one with inputs is no ComfyUI primitive
            primitives.append(rn)
        else:
            converted[rn.id] = convert_node(rn, registry, report, linked_slots.get(rn.id, set()))
    inlined = resolve_primitives(primitives, links, raw_nodes, converted, registry, report)

    return Graph.from_parts(
        (c.node for c in sorted(converted.values(), key=lambda c: c.node.id)),
        (Link(link.id, link.src, converted[link.src].outputs[link.src_slot], link.dst,
              converted[link.dst].inputs[link.dst_slot]) for link in links if link.id not in inlined),
        _read_groups(data))


def _usable_links(raw_nodes, raw_links, sd: dict, report: ImportReport) -> list:
    """Inside definitions, ComfyUI's frontend leaves links to deleted nodes behind (official templates have them) and
    ignores them; so are they here, with a note, instead of refusing the file."""
    kept, dropped = [], []
    for link in raw_links:
        src, dst = raw_nodes.get(link.src), raw_nodes.get(link.dst)
        if src is None or dst is None or link.src_slot >= len(src.outputs) or link.dst_slot >= len(dst.inputs):
            dropped.append(link.id)
        else:
            kept.append(link)
    if dropped:
        report.note(f"{sg.report_for_definition(report, sd)}: {len(dropped)} link(s) to nodes or slots that do not "
                    f"exist were left out (links {', '.join(map(str, dropped[:10]))})")
    return kept


# -- groups and the workflow's own fields -------------------------------------------------------------------------------
def _read_groups(data: dict) -> list[Group]:
    groups = f.opt_list(data.get("groups"), "groups")
    pending = []
    for i, gd in enumerate(groups):
        where = f"groups[{i}]"
        gd = f.obj(gd, where)
        title = f.text(gd.get("title", ""), f"{where}.title", 1000)
        rect = f.rect(gd.get("bounding"), f"{where}.bounding")
        color = f.opt_text(gd.get("color"), f"{where}.color", 64)
        extra = {k: copy.copy(v) for k, v in gd.items() if k not in GROUP_KEYS}
        nf = extra.pop(NF_KEY, None)
        if isinstance(nf, dict) and "extra" in nf:
            extra = copy.copy(f.obj(nf["extra"], f"{where}.{NF_KEY}.extra"))
        gid = gd.get("id")
        gid = f.ident(gid, f"{where}.id") if gid is not None else None
        pending.append((gid, title, rect, color, extra))
    used = {p[0] for p in pending if p[0] is not None}
    taken: set[int] = set()
    next_id = 1
    out = []
    for gid, title, rect, color, extra in pending:
        if gid is None or gid in taken:
            while next_id in used or next_id in taken:
                next_id += 1
            gid = next_id
        taken.add(gid)
        out.append(Group(gid, title, rect, color, extra))
    return out


def _read_top(data: dict, graph: Graph) -> None:
    comfy = {k: copy.copy(v) for k, v in data.items() if k not in TOP_KEYS}
    nf = None
    if isinstance(comfy.get("extra"), dict) and NF_KEY in comfy["extra"]:
        nf = comfy["extra"].pop(NF_KEY)
    graph.extra = {"comfy": comfy} if comfy else {}
    if nf is not None:
        nf = f.obj(nf, f"extra.{NF_KEY}")
        graph.meta = copy.copy(f.obj(nf.get("meta", {}), f"extra.{NF_KEY}.meta"))
        if "extra" in nf:
            graph.extra = copy.copy(f.obj(nf["extra"], f"extra.{NF_KEY}.extra"))
    last = data.get("last_node_id")
    if isinstance(data.get("state"), dict):
        last = data["state"].get("lastNodeId", last)
    if isinstance(last, int) and not isinstance(last, bool) and 0 <= last < 2 ** 53:
        graph.next_node_id = max(graph.next_node_id, last + 1)


def _name_subgraph_placeholders(data: dict, report: ImportReport) -> None:
    """Subgraph instances have a UUID as their type; the report names them by the subgraph's title."""
    defs = data.get("definitions")
    subgraphs = defs.get("subgraphs") if isinstance(defs, dict) else None
    for sg in subgraphs if isinstance(subgraphs, list) else ():
        if isinstance(sg, dict) and sg.get("id") in report.placeholders:
            name = sg.get("name")
            report.placeholder_names[sg["id"]] = f"subgraph {name!r}" if isinstance(name, str) else "subgraph"


__all__ = ["import_ui", "convert_node", "Converted", "read_widgets"]
