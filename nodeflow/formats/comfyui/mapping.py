"""What NodeFlow knows about ComfyUI's node types, read from the node declarations (``NodeType.comfy``): which
of ours are ComfyUI's class of the same name, and how ComfyUI lays their values out in ``widgets_values``.

Nothing here names a node type: a pack declares its counterparts (``@node(..., comfy=...)``) and its nodes open
and save as ComfyUI files with no change to this package. What remains here is ComfyUI's own vocabulary: its
UI-only PrimitiveNode and the shape of widgets_values.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from nodeflow.core.nodedef import SEED_CONTROLS, Input, NodeType

#: ComfyUI's UI-only "primitive": a widget value shared by the widgets it is linked to (no node in the API prompt).
PRIMITIVE_NODE = "PrimitiveNode"
#: ComfyUI's UI-only reroute dot: left out of API prompts, links followed through it.
REROUTE = "Reroute"


@dataclass(frozen=True)
class WidgetSlot:
    """One position in ComfyUI's widgets_values."""

    name: str
    #: "value": an input's value; "control": the control after generate of input ``name``; "ui": a UI-only widget.
    role: str
    default: Any = None
    #: True when the control is declared by our type (applied after runs), False for ComfyUI-only controls.
    declared: bool = True


def is_counterpart(nt: NodeType | None) -> bool:
    """Is ``nt`` ComfyUI's node of its class (not a type ComfyUI only sees as a PrimitiveNode)?"""
    return nt is not None and nt.comfy is not None and not nt.comfy.inlined


def comfy_class(nt: NodeType) -> str:
    return (nt.comfy.class_type if nt.comfy is not None else None) or nt.type_name


class _Index:
    """ComfyUI class name -> our type, for one registry (its classes and their aliases)."""

    def __init__(self, registry):
        self.size = len(registry.types)
        self.by_class: dict[str, NodeType] = {}
        self.primitives: dict[str, NodeType] = {}
        self.inlined: list[NodeType] = []
        for nt in registry.types.values():
            spec = nt.comfy
            if spec is None:
                continue
            if spec.inlined:
                self.inlined.append(nt)
            else:
                for name in (comfy_class(nt), *spec.aliases):
                    self.by_class.setdefault(name, nt)
            if spec.primitive_for:
                self.primitives.setdefault(spec.primitive_for, nt)


_indexes: "weakref.WeakKeyDictionary[Any, _Index]" = weakref.WeakKeyDictionary()


def _index(registry) -> _Index:
    index = _indexes.get(registry)
    if index is None or index.size != len(registry.types):
        index = _indexes[registry] = _Index(registry)
    return index


def type_for_class(registry, class_type: str) -> NodeType | None:
    """Our counterpart of a ComfyUI class (by its name or an alias), or None: the node opens as a placeholder."""
    return _index(registry).by_class.get(class_type)


def primitive_type(registry, value_type: str) -> NodeType | None:
    """The type standing in for a PrimitiveNode of ``value_type`` that feeds several inputs."""
    return _index(registry).primitives.get(value_type)


def seed_type(registry) -> NodeType | None:
    """The inlined type that holds a shared seed (a value with control after generate), if a pack declares one."""
    return next((nt for nt in _index(registry).inlined
                 if len(nt.widget_inputs) == 1 and nt.widget_inputs[0].control_after_generate), None)


def is_primitive_stand_in(registry, type_name: str) -> bool:
    nt = registry.get(type_name)
    return nt is not None and nt.comfy is not None and (nt.comfy.inlined or bool(nt.comfy.primitive_for))


def comfy_inputs(nt: NodeType) -> list[Input]:
    """Our inputs that ComfyUI's class has, in ComfyUI's order: required, then optional, as declared."""
    skip = set(nt.comfy.nodeflow_only) if nt.comfy is not None else set()
    ins = [i for i in nt.inputs if i.name not in skip]
    return [i for i in ins if not i.optional] + [i for i in ins if i.optional]


def nodeflow_only_inputs(nt: NodeType) -> list[Input]:
    ours = {i.name for i in comfy_inputs(nt)}
    return [i for i in nt.inputs if i.name not in ours]


def ui_widget_names(nt: NodeType) -> set[str]:
    return {w[1] for w in nt.comfy.ui_widgets} if nt.comfy is not None else set()


def widget_layout(nt: NodeType) -> list[WidgetSlot]:
    """ComfyUI's widgets_values positions for one of our types: its widget inputs in ComfyUI's order."""
    spec = nt.comfy
    slots: list[WidgetSlot] = []
    for inp in (i for i in comfy_inputs(nt) if i.is_widget):
        slots.append(WidgetSlot(inp.name, "value", spec.default(inp.name, inp.default) if spec else inp.default))
        if inp.control_after_generate:
            slots.append(WidgetSlot(inp.name, "control", "fixed"))
        elif spec is not None and inp.name in spec.controls:
            slots.append(WidgetSlot(inp.name, "control", "fixed", declared=False))
        for after, name, value in (spec.ui_widgets if spec else ()):
            if after == inp.name:
                slots.append(WidgetSlot(name, "ui", value))
    return slots


def control_value(v: Any) -> str | None:
    """A control-after-generate value as ComfyUI saves it; very old files store a randomize checkbox (true/false)."""
    if v is True:
        return "randomize"
    if v is False:
        return "fixed"
    return v if isinstance(v, str) and v in SEED_CONTROLS else None


def comfy_type(node, nt: NodeType | None) -> str:
    """The ComfyUI class a node is written as: the class it was imported as when that was an alias of its type,
    else its type's ComfyUI class (placeholders keep their own type name)."""
    c = node.extra.get("comfy")
    original = c.get("type") if isinstance(c, dict) else None
    if nt is None:
        return node.type
    if isinstance(original, str) and nt.comfy is not None and original in nt.comfy.aliases:
        return original
    return comfy_class(nt)
