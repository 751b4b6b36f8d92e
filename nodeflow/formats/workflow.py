"""NodeFlow's workflow file: versioned JSON, values stored by name, unknown fields kept, unknown node types kept as
placeholders, older versions migrated on load, saved atomically. The JSON Schema is ``workflow.schema.json`` here.

    {"format": "nodeflow.workflow", "version": 1, "meta": {...},
     "nodes": [{"id": 3, "type": "KSampler", "version": 1, "title": "KSampler", "pos": [x, y],
                "values": {"seed": 5, "steps": 20, ...}, "sockets": ["seed"], "mode": "normal", ...}],
     "links": [{"id": 1, "from": [1, "MODEL"], "to": [3, "model"]}],
     "groups": [{"id": 1, "title": "Prompt", "rect": [x, y, w, h]}],
     "subgraphs": [{"id": "3f2a...", "name": "Upscale", "inputs": [{"name": "image", "type": "IMAGE"}],
                    "outputs": [...], "nodes": [...], "links": [...], "groups": [...]}]}

Subgraphs (``core/subgraph.py``) are an optional key of version 1: a file without them reads as before, and an
instance node's ``type`` is its definition's ``id``. A definition's nodes include its two boundary nodes (ids -10
and -20), whose sockets are the definition's inputs and outputs.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodeflow.core.graph import NODE_MODES, Graph, Group, Link, Node
from nodeflow.core.nodedef import SEED_CONTROLS
from nodeflow.core.subgraph import Port, SubgraphDef
from nodeflow.formats.atomic import atomic_write_text
from nodeflow.formats.json_limits import MAX_FILE_BYTES, WorkflowError, parse_json  # noqa: F401  (re-exported)

FORMAT_NAME = "nodeflow.workflow"
FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("workflow.schema.json")

_NODE_KEYS = {"id", "type", "version", "title", "pos", "size", "values", "sockets", "mode", "collapsed", "color",
              "controls"}
_GROUP_KEYS = {"id", "title", "rect", "color"}
_TOP_KEYS = {"format", "version", "meta", "nodes", "links", "groups", "subgraphs"}
_SUBGRAPH_KEYS = {"id", "name", "inputs", "outputs", "nodes", "links", "groups"}
_PORT_KEYS = {"name", "type", "label"}


@dataclass
class LoadReport:
    migrated_from: int | None = None
    #: Nodes whose values were upgraded from an older node-type version: (node id, old, new).
    node_migrations: list[tuple[int, int, int]] = field(default_factory=list)
    unknown_types: list[str] = field(default_factory=list)


# -- saving ---------------------------------------------------------------------------------------------------------
def to_dict(graph: Graph) -> dict:
    out = dict(graph.extra)
    out.update({"format": FORMAT_NAME, "version": FORMAT_VERSION, "meta": graph.meta, **_parts(graph)})
    if graph.subgraphs:
        out["subgraphs"] = [_subgraph_dict(d) for d in graph.subgraphs.values()]
    return out


def _subgraph_dict(defn: SubgraphDef) -> dict:
    d = dict(defn.extra)
    d.update({"id": defn.id, "name": defn.name, "inputs": [_port_dict(p) for p in defn.inputs],
              "outputs": [_port_dict(p) for p in defn.outputs], **_parts(defn.graph)})
    return d


def _port_dict(port: Port) -> dict:
    d = dict(port.extra)
    d.update({"name": port.name, "type": port.type})
    if port.label:
        d["label"] = port.label
    return d


def _parts(graph: Graph) -> dict:
    """Nodes, links and groups of a graph (the top graph or a subgraph's)."""
    nodes = []
    for n in sorted(graph.nodes.values(), key=lambda n: n.id):
        d: dict[str, Any] = dict(n.extra)
        d.update({"id": n.id, "type": n.type, "version": n.type_version, "title": n.title,
                  "pos": [n.pos[0], n.pos[1]], "values": n.values})
        if n.size is not None:
            d["size"] = [n.size[0], n.size[1]]
        if n.socket_inputs:
            d["sockets"] = sorted(n.socket_inputs)
        if n.mode != "normal":
            d["mode"] = n.mode
        if n.collapsed:
            d["collapsed"] = True
        if n.color:
            d["color"] = n.color
        if n.controls:
            d["controls"] = dict(n.controls)
        nodes.append(d)
    links = [{"id": l.id, "from": [l.src, l.src_output], "to": [l.dst, l.dst_input]}
             for l in sorted(graph.links.values(), key=lambda l: l.id)]
    groups = []
    for g in sorted(graph.groups.values(), key=lambda g: g.id):
        d = dict(g.extra)
        d.update({"id": g.id, "title": g.title, "rect": [float(v) for v in g.rect]})
        if g.color:
            d["color"] = g.color
        groups.append(d)
    return {"nodes": nodes, "links": links, "groups": groups}


def dumps(graph: Graph) -> str:
    return json.dumps(to_dict(graph), indent=1, ensure_ascii=False, allow_nan=False)


def save(graph: Graph, path: str | os.PathLike) -> Path:
    """Atomic: written to a temporary file, then renamed over ``path``."""
    return atomic_write_text(path, dumps(graph) + "\n")


# -- loading --------------------------------------------------------------------------------------------------------
def load(path: str | os.PathLike, registry=None) -> tuple[Graph, LoadReport]:
    path = Path(path)
    data = read_json(path)
    try:
        return from_dict(data, registry)
    except WorkflowError as e:
        raise WorkflowError(f"{path}: {e}") from None


def read_json(path: Path) -> Any:
    """The JSON in a workflow file (any format), size-limited; every error a WorkflowError naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise WorkflowError(f"{path}: {size} bytes is too large for a workflow file")
        raw = path.read_bytes()
    except OSError as e:
        raise WorkflowError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return parse_json(raw)
    except WorkflowError as e:
        raise WorkflowError(f"{path}: {e}") from None


def loads(text: str | bytes, registry=None) -> tuple[Graph, LoadReport]:
    return from_dict(parse_json(text), registry)


def from_dict(data: Any, registry=None) -> tuple[Graph, LoadReport]:
    report = LoadReport()
    if not isinstance(data, dict):
        raise WorkflowError(f"expected a JSON object at the top, found {kind(data)}")
    fmt = data.get("format")
    if fmt != FORMAT_NAME:
        hint = " (this looks like a ComfyUI workflow: use import)" if "nodes" in data and "last_node_id" in data \
            or _looks_like_api_prompt(data) else ""
        raise WorkflowError(f"'format' is {fmt!r}, expected {FORMAT_NAME!r}{hint}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkflowError(f"'version' must be an integer, found {kind(version)}")
    if version > FORMAT_VERSION:
        raise WorkflowError(f"format version {version} is newer than this NodeFlow reads ({FORMAT_VERSION}); "
                            "update NodeFlow")
    if version < FORMAT_VERSION:
        data = migrate(data, version)
        report.migrated_from = version
    nodes, links, groups = _read_parts(data, "")
    subgraphs = {}
    for i, sd in enumerate(lst(data.get("subgraphs", []), "subgraphs")):
        defn = _subgraph(sd, f"subgraphs[{i}]")
        if defn.id in subgraphs:
            raise WorkflowError(f"subgraphs[{i}]: subgraph id {defn.id!r} is used twice")
        subgraphs[defn.id] = defn
    graph = Graph.from_parts(nodes, links, groups, obj(data.get("meta", {}), "meta"),
                             {k: v for k, v in data.items() if k not in _TOP_KEYS}, subgraphs.values())
    if registry is not None:
        _migrate_node_types(graph, registry, report)
    return graph, report


def _read_parts(data: dict, where: str) -> tuple[list[Node], list[Link], list[Group]]:
    nodes, links, groups = {}, {}, {}
    for i, nd in enumerate(lst(data.get("nodes", []), f"{where}nodes")):
        node = _node(nd, f"{where}nodes[{i}]")
        if node.id in nodes:
            raise WorkflowError(f"{where}nodes[{i}]: node id {node.id} is used twice")
        nodes[node.id] = node
    for i, ld in enumerate(lst(data.get("links", []), f"{where}links")):
        link = _link(ld, f"{where}links[{i}]")
        if link.id in links:
            raise WorkflowError(f"{where}links[{i}]: link id {link.id} is used twice")
        links[link.id] = link  # links to missing nodes are kept: validation reports them by name
    for i, gd in enumerate(lst(data.get("groups", []), f"{where}groups")):
        group = _group(gd, f"{where}groups[{i}]")
        if group.id in groups:
            raise WorkflowError(f"{where}groups[{i}]: group id {group.id} is used twice")
        groups[group.id] = group
    return list(nodes.values()), list(links.values()), list(groups.values())


def _subgraph(sd: Any, where: str) -> SubgraphDef:
    sd = obj(sd, where)
    def_id = text(sd.get("id"), f"{where}.id", 200)
    if not def_id:
        raise WorkflowError(f"{where}.id: empty subgraph id")
    where = f"{where} (subgraph {def_id!r})"
    ports = {}
    for side in ("inputs", "outputs"):
        ports[side] = []
        for i, pd in enumerate(lst(sd.get(side, []), f"{where}.{side}")):
            pd = obj(pd, f"{where}.{side}[{i}]")
            name = text(pd.get("name"), f"{where}.{side}[{i}].name", 200)
            if any(p.name == name for p in ports[side]):
                raise WorkflowError(f"{where}.{side}[{i}]: port name {name!r} is used twice")
            ports[side].append(Port(name, text(pd.get("type"), f"{where}.{side}[{i}].type", 200),
                                    text(pd.get("label", ""), f"{where}.{side}[{i}].label", 1000),
                                    {k: v for k, v in pd.items() if k not in _PORT_KEYS}))
    nodes, links, groups = _read_parts(sd, f"{where}.")
    return SubgraphDef(def_id, text(sd.get("name", ""), f"{where}.name", 1000), Graph.from_parts(nodes, links, groups),
                       ports["inputs"], ports["outputs"], {k: v for k, v in sd.items() if k not in _SUBGRAPH_KEYS})


def _migrate_node_types(graph: Graph, registry, report: LoadReport) -> None:
    unknown = set()
    inner = [n for d in graph.subgraphs.values() for n in d.graph.nodes.values()
             if n.type not in ("SubgraphInputs", "SubgraphOutputs")]
    for node in [*graph.nodes.values(), *inner]:
        if node.type in graph.subgraphs:
            continue  # an instance: its type is the definition
        nt = registry.get(node.type)
        if nt is None:
            unknown.add(node.type)
            continue
        if node.type_version < nt.version and nt.migrate is not None:
            try:
                node.values = dict(nt.migrate(dict(node.values), node.type_version))
            except Exception as e:
                raise WorkflowError(f"node {node.id} '{node.label}': cannot upgrade {node.type} values from "
                                    f"version {node.type_version} to {nt.version}: {e}") from None
            report.node_migrations.append((node.id, node.type_version, nt.version))
            node.type_version = nt.version
    report.unknown_types = sorted(unknown)


# -- migrations of the file format ----------------------------------------------------------------------------------
def _migrate_0_to_1(data: dict) -> dict:
    """Version 0 (pre-release) stored links as [id, src, output, dst, input] and values under "widgets"."""
    data = dict(data)
    data["links"] = [{"id": l[0], "from": [l[1], l[2]], "to": [l[3], l[4]]} if isinstance(l, list) and len(l) == 5
                     else l for l in lst(data.get("links", []), "links")]
    nodes = []
    for nd in lst(data.get("nodes", []), "nodes"):
        if isinstance(nd, dict) and "widgets" in nd and "values" not in nd:
            nd = dict(nd)
            nd["values"] = nd.pop("widgets")
        nodes.append(nd)
    data["nodes"] = nodes
    data["version"] = 1
    return data


MIGRATIONS = {0: _migrate_0_to_1}


def migrate(data: dict, version: int) -> dict:
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise WorkflowError(f"format version {version} is not supported")
        data = step(data)
        version += 1
    return data


# -- field parsing with clear errors (also the ComfyUI reader's: formats/comfyui/fields.py) ----------------------------
#: Largest coordinate or size accepted in a file.
MAX_COORD = 1e9


def kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
            int: "an integer", float: "a number"}.get(type(v), type(v).__name__)


def obj(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise WorkflowError(f"{where}: expected an object, found {kind(v)}")
    return v


def lst(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise WorkflowError(f"{where}: expected a list, found {kind(v)}")
    return v


def int_id(v: Any, where: str, expected: str = "an integer") -> int:
    """A node, link or group id: an integer (not true/false) that JSON numbers hold exactly."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise WorkflowError(f"{where}: expected {expected}, found {kind(v)}")
    if not -(2 ** 53) <= v <= 2 ** 53:
        raise WorkflowError(f"{where}: {v} is out of range for an id")
    return v


def text(v: Any, where: str, limit: int) -> str:
    if not isinstance(v, str):
        raise WorkflowError(f"{where}: expected text, found {kind(v)}")
    if len(v) > limit:
        raise WorkflowError(f"{where}: text of {len(v)} characters is too long (limit {limit})")
    return v


def opt_text(v: Any, where: str, limit: int) -> str | None:
    return None if v is None else text(v, where, limit)


def pair(v: Any, where: str) -> tuple[float, float]:
    """[x, y] of finite, sane numbers."""
    if isinstance(v, dict) and "0" in v and "1" in v:  # some tools write [x, y] as {"0": x, "1": y}
        v = [v["0"], v["1"]]
    if not isinstance(v, list) or len(v) != 2:
        raise WorkflowError(f"{where}: expected [x, y], found {kind(v)}")
    out = []
    for c in v:
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or abs(c) > MAX_COORD:
            raise WorkflowError(f"{where}: expected two finite numbers, found {c!r}"[:200])
        out.append(float(c))
    return out[0], out[1]


def rect(v: Any, where: str) -> tuple[float, float, float, float]:
    v = lst(v, where)
    if len(v) != 4:
        raise WorkflowError(f"{where}: expected [x, y, width, height], found {len(v)} numbers")
    x, y = pair(v[:2], where)
    w, h = pair(v[2:], where)
    return x, y, w, h


def _node(nd: Any, where: str) -> Node:
    nd = obj(nd, where)
    node_id = int_id(nd.get("id"), f"{where}.id")
    where = f"{where} (node {node_id})"
    type_name = text(nd.get("type"), f"{where}.type", 200)
    if not type_name:
        raise WorkflowError(f"{where}.type: empty node type")
    values = obj(nd.get("values", {}), f"{where}.values")
    sockets = lst(nd.get("sockets", []), f"{where}.sockets")
    for i, s in enumerate(sockets):
        text(s, f"{where}.sockets[{i}]", 200)
    mode = nd.get("mode", "normal")
    if mode not in NODE_MODES:
        raise WorkflowError(f"{where}.mode: {mode!r} is not one of {', '.join(NODE_MODES)}")
    version = nd.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise WorkflowError(f"{where}.version: expected an integer >= 1, found {version!r}")
    collapsed = nd.get("collapsed", False)
    if not isinstance(collapsed, bool):
        raise WorkflowError(f"{where}.collapsed: expected true/false, found {kind(collapsed)}")
    color = opt_text(nd.get("color"), f"{where}.color", 64)
    size = nd.get("size")
    controls = obj(nd.get("controls", {}), f"{where}.controls")
    for key, c in controls.items():
        if c not in SEED_CONTROLS:
            raise WorkflowError(f"{where}.controls.{key}: {c!r} is not one of {', '.join(SEED_CONTROLS)}")
    return Node(id=node_id, type=type_name, title=text(nd.get("title", ""), f"{where}.title", 1000),
                pos=pair(nd.get("pos", [0, 0]), f"{where}.pos"),
                size=None if size is None else pair(size, f"{where}.size"), values=dict(values),
                socket_inputs=frozenset(sockets), mode=mode, collapsed=collapsed, color=color,
                type_version=version, controls=dict(controls), extra={k: v for k, v in nd.items() if k not in _NODE_KEYS})


def _link(ld: Any, where: str) -> Link:
    ld = obj(ld, where)
    link_id = int_id(ld.get("id"), f"{where}.id")
    ends = []
    for end in ("from", "to"):
        v = lst(ld.get(end), f"{where}.{end}")
        if len(v) != 2:
            raise WorkflowError(f"{where}.{end}: expected [node id, socket name]")
        ends.append((int_id(v[0], f"{where}.{end}[0]"), text(v[1], f"{where}.{end}[1]", 200)))
    return Link(link_id, ends[0][0], ends[0][1], ends[1][0], ends[1][1])


def _group(gd: Any, where: str) -> Group:
    gd = obj(gd, where)
    bounds = rect(gd.get("rect"), f"{where}.rect")
    color = opt_text(gd.get("color"), f"{where}.color", 64)
    return Group(id=int_id(gd.get("id"), f"{where}.id"), title=text(gd.get("title", ""), f"{where}.title", 1000),
                 rect=bounds, color=color, extra={k: v for k, v in gd.items() if k not in _GROUP_KEYS})


def _looks_like_api_prompt(data: dict) -> bool:
    return bool(data) and all(isinstance(v, dict) and "class_type" in v for v in data.values())

