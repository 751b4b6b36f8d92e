"""What a ComfyUI file cannot express about a NodeFlow node, carried in ``properties["nodeflow"]`` (ComfyUI keeps
node properties it does not know) so that NodeFlow -> ComfyUI UI -> NodeFlow gives back the same graph.

The exporter stores only fields whose re-import would differ (a title left empty, a value never set, a Seed node
written as ComfyUI's PrimitiveNode); values edited in ComfyUI afterwards still win unless they were overridden.
"""
from __future__ import annotations

import copy
from typing import Any

from nodeflow.core.graph import Node
from nodeflow.core.nodedef import SEED_CONTROLS
from nodeflow.formats.comfyui import fields as f
from nodeflow.formats.workflow import WorkflowError

KEY = "nodeflow"


def node_overrides(original: Node, reimported: Node) -> dict:
    """The fields to store so that importing the written node gives ``original`` again."""
    nf: dict[str, Any] = {}
    if original.type != reimported.type:
        nf["type"] = original.type
    if original.title != reimported.title:
        nf["title"] = original.title
    if original.type_version != reimported.type_version:
        nf["version"] = original.type_version
    if original.extra != reimported.extra:
        nf["extra"] = copy.deepcopy(original.extra)
    changed = {k: v for k, v in original.values.items()
               if k not in reimported.values or not _same(reimported.values[k], v)}
    if changed:
        nf["values"] = copy.deepcopy(changed)
    absent = sorted(k for k in reimported.values if k not in original.values)
    if absent:
        nf["absent"] = absent
    if original.socket_inputs != reimported.socket_inputs:
        nf["sockets"] = sorted(original.socket_inputs)
    if original.controls != reimported.controls:
        nf["controls"] = dict(original.controls)
    if original.color != reimported.color:
        nf["color"] = original.color
    if original.size is None and reimported.size is not None:
        nf["no_size"] = True
    return nf


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def apply_node_overrides(node: Node, nf: Any, where: str) -> None:
    """Apply a node's stored overrides, checking each field (the file may have been edited by anyone)."""
    nf = f.obj(nf, f"{where}.properties.{KEY}")
    w = f"{where}.properties.{KEY}"
    if "title" in nf:
        node.title = f.text(nf["title"], f"{w}.title", 1000)
    if "version" in nf:
        v = nf["version"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise WorkflowError(f"{w}.version: expected an integer >= 1, found {v!r}"[:200])
        node.type_version = v
    if "extra" in nf:
        node.extra = copy.deepcopy(f.obj(nf["extra"], f"{w}.extra"))
    if "values" in nf:
        node.values.update(copy.deepcopy(f.obj(nf["values"], f"{w}.values")))
    for name in f.lst(nf.get("absent", []), f"{w}.absent"):
        node.values.pop(f.text(name, f"{w}.absent", 200), None)
    if "sockets" in nf:
        node.socket_inputs = frozenset(f.text(s, f"{w}.sockets", 200) for s in f.lst(nf["sockets"], f"{w}.sockets"))
    if "controls" in nf:
        controls = f.obj(nf["controls"], f"{w}.controls")
        for k, c in controls.items():
            if c not in SEED_CONTROLS:
                raise WorkflowError(f"{w}.controls.{k}: {c!r} is not one of {', '.join(SEED_CONTROLS)}"[:200])
        node.controls = dict(controls)
    if "color" in nf:
        node.color = f.opt_text(nf["color"], f"{w}.color", 64)
    if nf.get("no_size") is True:
        node.size = None


def override_type(properties: Any) -> str | None:
    """The NodeFlow type a ComfyUI node stands for, when the exporter recorded one (Seed written as PrimitiveNode)."""
    nf = properties.get(KEY) if isinstance(properties, dict) else None
    t = nf.get("type") if isinstance(nf, dict) else None
    return t if isinstance(t, str) and 0 < len(t) <= 200 else None
