"""Copy and paste as NodeFlow workflow JSON (Qt-free): the copied text is a complete workflow holding the selected
nodes, the links between them and the selected frames, so it pastes into another tab, another window, or a text
editor and back. ComfyUI workflow JSON pastes too (imported, unknown types as placeholders).

The text also remembers which outside nodes fed the copied nodes' inputs (``INPUTS_KEY``), so Ctrl+Shift+V can
paste with those links kept, as ComfyUI does, where the same source nodes exist."""
from __future__ import annotations

import json
from dataclasses import replace

from nodeflow.core import operations as ops
from nodeflow.core.graph import Graph, Link
from nodeflow.formats import workflow

PASTE_OFFSET = (30.0, 30.0)
#: Top-level field of copied text: links from nodes outside the copy into it ({src, src_type, output, dst, input}).
INPUTS_KEY = "clipboard_inputs"


class PasteError(ValueError):
    """The text does not hold NodeFlow nodes; the message says why."""


def copy_text(graph: Graph, node_ids, group_ids=(), definitions: dict | None = None) -> str:
    """Workflow JSON of the given nodes, the links between them, and the given frames; with ``definitions`` (the
    document's subgraphs), the definitions of the copied instances too, so they paste into other documents."""
    ids = {i for i in node_ids if i in graph.nodes}
    sub = graph.subgraph(ids, group_ids)
    if definitions:
        from nodeflow.core.subgraph_ops import used_closure

        keep: list[str] = []
        for t in sorted({n.type for n in sub.nodes.values() if n.type in definitions}):
            keep += [d for d in used_closure(definitions, t) if d not in keep]
        sub.subgraphs = {d: definitions[d].copy() for d in keep}
    outside = [{"src": l.src, "src_type": graph.nodes[l.src].type, "output": l.src_output, "dst": l.dst,
                "input": l.dst_input}
               for l in sorted(graph.links.values(), key=lambda l: l.id) if l.dst in ids and l.src not in ids]
    if outside:
        sub.extra[INPUTS_KEY] = outside
    return json.dumps(workflow.to_dict(sub), ensure_ascii=False, allow_nan=False)


def parse(text: str, registry=None) -> Graph:
    """The graph in ``text``: NodeFlow nodes, or (given the ``registry`` to map its node types) a ComfyUI workflow
    or API prompt copied from a file or a web page, as ComfyUI pastes them; raises PasteError for anything else."""
    text = (text or "").strip()
    if not text.startswith("{"):
        raise PasteError("the clipboard does not hold NodeFlow nodes")
    try:
        data = workflow.parse_json(text, "clipboard text")
        comfyui = _comfyui() if registry is not None else None
        if comfyui is not None and comfyui.detect(data) in (comfyui.UI, comfyui.API):
            graph, _report = comfyui.import_data(data, registry)
        else:
            graph, _report = workflow.from_dict(data)
    except workflow.WorkflowError as e:
        raise PasteError(f"cannot paste: {e}") from None
    if not graph.nodes and not graph.groups:
        raise PasteError("nothing to paste")
    return graph


def _comfyui():
    try:
        from nodeflow.formats import comfyui
    except ImportError:  # an installation without the ComfyUI formats pastes NodeFlow nodes only
        return None
    return comfyui


def bounds(graph: Graph) -> tuple[float, float]:
    """Top-left corner of the nodes and frames (node positions are their top-left corners)."""
    xs = [n.pos[0] for n in graph.nodes.values()] + [g.rect[0] for g in graph.groups.values()]
    ys = [n.pos[1] for n in graph.nodes.values()] + [g.rect[1] for g in graph.groups.values()]
    return (min(xs), min(ys)) if xs else (0.0, 0.0)


def paste_operation(target: Graph, text: str, at: tuple[float, float] | None = None, registry=None,
                    keep_links: bool = False, root: Graph | None = None,
                    inside: str | None = None) -> tuple[ops.Batch, list[int], list[int]]:
    """One batch adding the pasted nodes, links and frames with fresh ids. ``at``: where the top-left of what is
    pasted goes; None shifts it by PASTE_OFFSET from where it was copied. ``keep_links``: also link the copies'
    inputs to the outside nodes that fed the originals, where ``target`` has them (same id and type).
    With ``root`` (the document's graph; ``target`` is its level ``inside``, a definition id, or root itself), the
    copied subgraph definitions root lacks come along, and the batch then applies to ``root``.
    Returns (batch, node ids, group ids)."""
    source = parse(text, registry)
    definition_ops = []
    if root is not None and source.subgraphs:
        from nodeflow.core.subgraph_ops import import_definitions

        wanted = sorted({n.type for n in source.nodes.values() if n.type in source.subgraphs})
        definition_ops, ids = import_definitions(root, source.subgraphs, wanted)
        for node in source.nodes.values():
            node.type = ids.get(node.type, node.type)
    if inside is not None and root is not None:
        from nodeflow.core.subgraph import holds

        merged = dict(root.subgraphs)  # root's definitions with the pasted ones as they will be
        merged.update({op.definition.id: op.definition for op in definition_ops})
        for node in source.nodes.values():
            if holds(merged, node.type, inside):
                raise ops.OperationError(f"a subgraph cannot go inside itself ({node.label})")
    left, top = bounds(source)
    offset = PASTE_OFFSET if at is None else (at[0] - left, at[1] - top)
    batch, id_map = ops.add_nodes_with_links(target, list(source.nodes.values()), list(source.links.values()),
                                             offset, feeding=_feeding_links(target, source) if keep_links else [])
    group_ops, group_ids = [], []
    next_gid = target.new_group_id()
    for g in sorted(source.groups.values(), key=lambda g: g.id):
        x, y, w, h = g.rect
        group_ops.append(ops.AddGroup(replace(g.copy(), id=next_gid, rect=(x + offset[0], y + offset[1], w, h))))
        group_ids.append(next_gid)
        next_gid += 1
    pasted = ops.Batch((*group_ops, *batch.ops), label="paste")
    if root is not None:
        from nodeflow.core.subgraph_ops import in_level

        pasted = ops.Batch((*definition_ops, in_level(inside, pasted)), label="paste")
    return pasted, list(id_map.values()), group_ids


def _feeding_links(target: Graph, source: Graph) -> list[Link]:
    """The recorded links from outside the copy whose source node ``target`` has (same id and type)."""
    out = []
    for entry in source.extra.get(INPUTS_KEY) or []:
        try:
            link = Link(0, int(entry["src"]), str(entry["output"]), int(entry["dst"]), str(entry["input"]))
        except (KeyError, TypeError, ValueError):  # hand-edited clipboard text: skip what does not parse
            continue
        node = target.nodes.get(link.src)
        if node is not None and node.type == entry.get("src_type"):
            out.append(link)
    return out
