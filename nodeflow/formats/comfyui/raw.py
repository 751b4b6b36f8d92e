"""ComfyUI's UI-format file read into checked plain records (no NodeFlow semantics yet): nodes with their input and
output slots, links in either schema (0.4 arrays, 1 objects), with every reference between them verified."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.workflow import WorkflowError


@dataclass
class RawSlot:
    name: str
    type: Any
    link: int | None = None  # inputs: the link feeding it
    widget: str | None = None  # inputs: the widget it stands for (a widget turned into an input)
    data: dict = field(default_factory=dict)  # the entry as written (labels, shapes...), minus its links


@dataclass
class RawNode:
    id: int
    type: str
    where: str
    data: dict
    inputs: list[RawSlot]
    outputs: list[RawSlot]
    mode: int

    @property
    def label(self) -> str:
        title = self.data.get("title")
        return f"node {self.id} ({self.type}{', ' + repr(title) if isinstance(title, str) and title else ''})"


@dataclass(frozen=True)
class RawLink:
    id: int
    src: int
    src_slot: int
    dst: int
    dst_slot: int
    type: Any = None


def read_nodes(data: dict) -> dict[int, RawNode]:
    nodes_data = f.lst(data.get("nodes"), "nodes")
    if len(nodes_data) > f.MAX_NODES:
        raise WorkflowError(f"nodes: {len(nodes_data)} nodes is more than a workflow can hold ({f.MAX_NODES})")
    nodes: dict[int, RawNode] = {}
    for i, nd in enumerate(nodes_data):
        node = _node(nd, f"nodes[{i}]")
        if node.id in nodes:
            raise WorkflowError(f"nodes[{i}]: node id {node.id} is used twice")
        nodes[node.id] = node
    return nodes


def _node(nd: Any, where: str) -> RawNode:
    nd = f.obj(nd, where)
    node_id = f.ident(nd.get("id"), f"{where}.id")
    type_name = f.text(nd.get("type"), f"{where} (node {node_id}).type", 200)  # NodeFlow files' own limits
    if not type_name:
        raise WorkflowError(f"{where} (node {node_id}).type: empty node type")
    where = f"node {node_id} ({type_name})"
    mode = nd.get("mode", 0)
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise WorkflowError(f"{where}.mode: expected a number, found {f.kind(mode)}")
    inputs = [_slot(s, f"{where}.inputs[{k}]", True) for k, s in enumerate(f.opt_list(nd.get("inputs"),
                                                                                       f"{where}.inputs"))]
    outputs = [_slot(s, f"{where}.outputs[{k}]", False) for k, s in enumerate(f.opt_list(nd.get("outputs"),
                                                                                         f"{where}.outputs"))]
    for key in ("properties", "flags"):
        if nd.get(key) is not None:
            f.obj(nd[key], f"{where}.{key}")
    wv = nd.get("widgets_values")
    if wv is not None and not isinstance(wv, (list, dict)):
        raise WorkflowError(f"{where}.widgets_values: expected a list, found {f.kind(wv)}")
    if nd.get("title") is not None:
        f.text(nd["title"], f"{where}.title", 1000)
    for key in ("color", "bgcolor"):
        if nd.get(key) is not None:
            f.text(nd[key], f"{where}.{key}", 64)
    return RawNode(node_id, type_name, where, nd, inputs, outputs, mode)


def _slot(s: Any, where: str, is_input: bool) -> RawSlot:
    s = f.obj(s, where)
    name = s.get("name", "")
    name = "" if name is None else f.text(name, f"{where}.name", 180)  # room for a disambiguating " (index)"
    slot_type = s.get("type")
    if slot_type is not None and not isinstance(slot_type, (str, list)):
        raise WorkflowError(f"{where}.type: expected text, found {f.kind(slot_type)}")
    data = {k: v for k, v in s.items() if k not in ("link", "links", "slot_index")}
    if not is_input:
        f.opt_list(s.get("links"), f"{where}.links")
        return RawSlot(name, slot_type, data=data)
    link = s.get("link")
    link = None if link is None else f.ident(link, f"{where}.link")
    widget = s.get("widget")
    widget_name = None
    if widget is not None:
        widget_name = f.text(f.obj(widget, f"{where}.widget").get("name"), f"{where}.widget.name", 180)
    return RawSlot(name, slot_type, link, widget_name, data)


def read_links(data: dict) -> list[RawLink]:
    """Links as written: schema 0.4 arrays ``[id, src, src_slot, dst, dst_slot, type]``, schema 1 objects."""
    raw = f.opt_list(data.get("links"), "links")
    if len(raw) > f.MAX_LINKS:
        raise WorkflowError(f"links: {len(raw)} links is more than a workflow can hold ({f.MAX_LINKS})")
    links = []
    for i, ld in enumerate(raw):
        where = f"links[{i}]"
        if isinstance(ld, list):
            if len(ld) < 5:
                raise WorkflowError(f"{where}: expected [id, from node, from slot, to node, to slot, type]")
            lid, src, src_slot, dst, dst_slot = ld[:5]
            ltype = ld[5] if len(ld) > 5 else None
        elif isinstance(ld, dict):
            lid, src, src_slot = ld.get("id"), ld.get("origin_id"), ld.get("origin_slot")
            dst, dst_slot, ltype = ld.get("target_id"), ld.get("target_slot"), ld.get("type")
        else:
            raise WorkflowError(f"{where}: expected a link, found {f.kind(ld)}")
        lid = f.ident(lid, f"{where}.id")
        where = f"link {lid}"
        links.append(RawLink(lid, f.ident(src, f"{where}: origin node"), f.slot(src_slot, f"{where}: origin slot"),
                             f.ident(dst, f"{where}: target node"), f.slot(dst_slot, f"{where}: target slot"),
                             ltype))
    return links


def check_links(nodes: dict[int, RawNode], links: list[RawLink], notes: list[str]) -> list[RawLink]:
    """The links that count. A link to a node or slot that does not exist is an error; a link that its target input
    no longer refers to (left behind by an editor bug) is dropped with a note, as ComfyUI ignores it too."""
    by_id: dict[int, RawLink] = {}
    for link in links:
        if link.id in by_id:
            raise WorkflowError(f"link {link.id}: the id is used twice")
        by_id[link.id] = link
        for end, slot_no, is_src in ((link.src, link.src_slot, True), (link.dst, link.dst_slot, False)):
            node = nodes.get(end)
            if node is None:
                raise WorkflowError(f"link {link.id} goes from node {link.src} to node {link.dst}, but node {end} "
                                    "does not exist")
            slots = node.outputs if is_src else node.inputs
            if slot_no >= len(slots):
                what = "output" if is_src else "input"
                raise WorkflowError(f"link {link.id}: {node.label} has no {what} slot {slot_no} "
                                    f"(it has {len(slots)})")
    kept, stale = [], []
    for link in links:
        entry = nodes[link.dst].inputs[link.dst_slot]
        if entry.link == link.id:
            kept.append(link)
        else:
            stale.append(link.id)
    if stale:
        notes.append(f"{len(stale)} stale link(s) that no input refers to were left out "
                     f"(links {', '.join(map(str, stale[:10]))}{', ...' if len(stale) > 10 else ''})")
    dangling = [(n, s) for n in nodes.values() for s in n.inputs if s.link is not None and s.link not in by_id]
    if dangling:
        shown = ", ".join(f"node {n.id} input {s.name!r}" for n, s in dangling[:6])
        notes.append(f"{len(dangling)} input(s) referred to links that do not exist and were left unconnected: "
                     f"{shown}{', ...' if len(dangling) > 6 else ''}")
    return kept


def cycle_members(ids, edges) -> list[int]:
    """Nodes on a cycle or downstream of one (what a topological sort cannot reach), sorted."""
    succ: dict[int, list[int]] = {}
    indeg = {n: 0 for n in ids}
    for src, dst in edges:
        succ.setdefault(src, []).append(dst)
        indeg[dst] += 1
    ready = [n for n, d in indeg.items() if d == 0]
    while ready:
        n = ready.pop()
        for m in succ.get(n, ()):
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return sorted(n for n, d in indeg.items() if d > 0)


def cycle_error(labels: list[str]) -> WorkflowError:
    shown = ", ".join(labels[:6]) + (", ..." if len(labels) > 6 else "")
    return WorkflowError(f"the links form a cycle through {shown}; a workflow cannot feed a node its own output")


def check_acyclic(nodes: dict[int, RawNode], links: list[RawLink]) -> None:
    """ComfyUI graphs never loop; a file that does cannot be run or exported, so it is refused with the loop named."""
    looped = cycle_members(nodes, [(l.src, l.dst) for l in links])
    if looped:
        raise cycle_error([nodes[n].label for n in looped])
