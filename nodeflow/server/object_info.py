"""GET /object_info: ComfyUI's description of every node class, generated from NodeFlow's declarations, for the
types that have a ComfyUI counterpart (clients build their widgets and validate prompts from it).

Shapes as ComfyUI's server gives them: ``input.required`` / ``input.optional`` ({name: [TYPE, {options}]}, a choice
list as ``[[choices...], {options}]``, file choices listed from the folders), ``input_order``, ``output``,
``output_is_list``, ``output_name``, ``name``, ``display_name``, ``description``, ``python_module``, ``category``,
``output_node``; seeds carry ``control_after_generate``, Load Image's file choice ``image_upload``.
"""
from __future__ import annotations

from typing import Any

from nodeflow.core import socket_types as st
from nodeflow.core.nodedef import Input, NodeType
from nodeflow.formats.comfyui.mapping import comfy_class, comfy_inputs
from nodeflow.server.prompts import servable


class _Choices:
    """Choice lists for one answer: each folder is listed once, however many inputs name it."""

    def __init__(self, settings):
        self.settings = settings
        self._files: dict[str, list[str]] = {}

    def __call__(self, inp: Input) -> list:
        if inp.files is not None:
            if inp.files not in self._files:
                self._files[inp.files] = self.settings.folders.list_files(inp.files)
            return list(self._files[inp.files])
        return list(inp.choice_list(self.settings) or [])


def input_spec(nt: NodeType, inp: Input, choices) -> list:
    opts: dict[str, Any] = {}
    if inp.type == st.COMBO:
        if inp.default is not None:
            opts["default"] = inp.default
        if inp.files == "input":
            opts["image_upload"] = True
        if inp.tooltip:
            opts["tooltip"] = inp.tooltip
        return [choices(inp), opts] if opts else [choices(inp)]
    if st.is_value_type(inp.type):
        for key in ("default", "min", "max", "step"):
            value = getattr(inp, key)
            if value is not None:
                opts[key] = value
        if inp.multiline:
            opts["multiline"] = True
        if inp.control_after_generate or (nt.comfy is not None and inp.name in nt.comfy.controls):
            opts["control_after_generate"] = True
        if inp.kind == "socket":
            opts["forceInput"] = True
    if inp.tooltip:
        opts["tooltip"] = inp.tooltip
    return [inp.type, opts] if opts else [inp.type]


def node_info(nt: NodeType, choices) -> dict:
    required, optional = {}, {}
    for inp in comfy_inputs(nt):
        (optional if inp.optional else required)[inp.name] = input_spec(nt, inp, choices)
    inputs: dict[str, dict] = {"required": required}
    order: dict[str, list] = {"required": list(required)}
    if optional:
        inputs["optional"], order["optional"] = optional, list(optional)
    info = {"input": inputs, "input_order": order,
            "output": [o.type for o in nt.outputs], "output_is_list": [False] * len(nt.outputs),
            "output_name": [o.name for o in nt.outputs], "name": comfy_class(nt),
            "display_name": nt.display_name, "description": nt.description,
            "python_module": f"nodeflow.{nt.pack}" if nt.pack else "nodeflow", "category": nt.category,
            "output_node": nt.output_node}
    if any(o.tooltip for o in nt.outputs):
        info["output_tooltips"] = [o.tooltip for o in nt.outputs]
    return info


def object_info(registry, settings, class_type: str | None = None) -> dict:
    """{class: info} for every servable type, or for ``class_type`` alone ({} when there is no such class)."""
    choices = _Choices(settings)
    out = {}
    for nt in registry.types.values():
        if servable(nt) and (class_type is None or comfy_class(nt) == class_type):
            out[comfy_class(nt)] = node_info(nt, choices)
    return dict(sorted(out.items()))
