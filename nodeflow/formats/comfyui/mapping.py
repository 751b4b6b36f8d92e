"""What NodeFlow knows about ComfyUI's node types: which of ours are the same node, and how ComfyUI lays their
values out in ``widgets_values``.

The layout comes from our own declarations (same type names, input names and order as ComfyUI), plus the few places
where ComfyUI's frontend differs: UI-only widgets that still take a position (Load Image's upload button), controls
shown where our declaration has none (ComfyUI's Int primitive), and defaults that are not ours (Save Image's prefix).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodeflow.core.nodedef import SEED_CONTROLS, Input, NodeType

#: Our types that are ComfyUI's node of the same name, value for value. Other packs opt in with
#: ``@node(..., comfyui=True)`` (a type whose name, inputs and outputs follow a ComfyUI class exactly).
COMFY_CORE_TYPES = frozenset({
    "CheckpointLoaderSimple", "CLIPTextEncode", "CLIPSetLastLayer", "EmptyLatentImage", "KSampler",
    "KSamplerAdvanced", "VAEDecode", "VAEEncode", "SaveImage", "PreviewImage", "LoadImage", "LoraLoader",
    "LoraLoaderModelOnly", "LatentUpscale", "LatentUpscaleBy", "VAELoader",
    # ComfyUI's own utility nodes with the same name, inputs and outputs as ours
    "Note", "Reroute", "PrimitiveInt", "PrimitiveFloat", "PrimitiveString", "PrimitiveBoolean",
})
#: ComfyUI types read as one of ours; the original name is kept (node.extra["comfy"]["type"]) and written back.
TYPE_ALIASES = {"MarkdownNote": "Note", "PrimitiveStringMultiline": "PrimitiveString"}
#: ComfyUI's UI-only "primitive": a widget value shared by the widgets it is linked to (no node in the API prompt).
PRIMITIVE_NODE = "PrimitiveNode"
#: What a PrimitiveNode feeding several inputs becomes here, by the type of value it holds.
PRIMITIVE_TYPES = {"INT": "PrimitiveInt", "FLOAT": "PrimitiveFloat", "STRING": "PrimitiveString",
                   "BOOLEAN": "PrimitiveBoolean"}
#: NodeFlow types with no ComfyUI node: written as a PrimitiveNode (UI format) or inlined (API format).
INLINED_TYPES = frozenset({"Seed"})
SEED_TYPE = "Seed"

#: ComfyUI's inputs of its core types, in ComfyUI's order (required, then optional). Inputs we declare beyond these
#: (Load Checkpoint's ``prediction``) are NodeFlow's own: not in widgets_values, not sent in an API prompt.
COMFY_INPUTS: dict[str, tuple[str, ...]] = {
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CLIPTextEncode": ("text", "clip"),
    "CLIPSetLastLayer": ("clip", "stop_at_clip_layer"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "KSampler": ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
                 "latent_image", "denoise"),
    "KSamplerAdvanced": ("model", "add_noise", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                         "negative", "latent_image", "start_at_step", "end_at_step", "return_with_leftover_noise"),
    "VAEDecode": ("samples", "vae"),
    "VAEEncode": ("pixels", "vae"),
    "SaveImage": ("images", "filename_prefix"),
    "PreviewImage": ("images",),
    "LoadImage": ("image",),
    "LoraLoader": ("model", "clip", "lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("model", "lora_name", "strength_model"),
    "LatentUpscale": ("samples", "upscale_method", "width", "height", "crop"),
    "LatentUpscaleBy": ("samples", "upscale_method", "scale_by"),
    "VAELoader": ("vae_name",),
}
#: ComfyUI defaults that differ from ours; used when an old file leaves a trailing value out.
COMFY_DEFAULTS: dict[tuple[str, str], Any] = {("SaveImage", "filename_prefix"): "ComfyUI"}
#: Widgets that ComfyUI saves in widgets_values but that are no input (never sent to the server): (type, after
#: input) -> (widget name, value it holds).
UI_WIDGETS: dict[tuple[str, str], tuple[str, Any]] = {("LoadImage", "image"): ("upload", "image")}
#: Inputs that ComfyUI follows with a control widget although ours has no control after generate.
EXTRA_CONTROLS = frozenset({("PrimitiveInt", "value")})


@dataclass(frozen=True)
class WidgetSlot:
    """One position in ComfyUI's widgets_values."""

    name: str
    #: "value": an input's value; "control": the control after generate of input ``name``; "ui": a UI-only widget.
    role: str
    default: Any = None
    #: True when the control is declared by our type (applied after runs), False for ComfyUI-only controls.
    declared: bool = True


def comfy_inputs(nt: NodeType) -> list[Input]:
    """Our inputs that ComfyUI's node of the same type has, in ComfyUI's order."""
    names = COMFY_INPUTS.get(nt.type_name)
    if names is None:
        return [i for i in nt.inputs if not i.optional] + [i for i in nt.inputs if i.optional]
    return [i for n in names if (i := nt.input(n)) is not None]


def nodeflow_only_inputs(nt: NodeType) -> list[Input]:
    ours = {i.name for i in comfy_inputs(nt)}
    return [i for i in nt.inputs if i.name not in ours]


def widget_layout(nt: NodeType) -> list[WidgetSlot]:
    """ComfyUI's widgets_values positions for one of our types: its widget inputs in ComfyUI's order."""
    slots: list[WidgetSlot] = []
    for inp in (i for i in comfy_inputs(nt) if i.is_widget):
        slots.append(WidgetSlot(inp.name, "value", COMFY_DEFAULTS.get((nt.type_name, inp.name), inp.default)))
        if inp.control_after_generate:
            slots.append(WidgetSlot(inp.name, "control", "fixed"))
        elif (nt.type_name, inp.name) in EXTRA_CONTROLS:
            slots.append(WidgetSlot(inp.name, "control", "fixed", declared=False))
        ui = UI_WIDGETS.get((nt.type_name, inp.name))
        if ui is not None:
            slots.append(WidgetSlot(ui[0], "ui", ui[1]))
    return slots


def control_value(v: Any) -> str | None:
    """A control-after-generate value as ComfyUI saves it; very old files store a randomize checkbox (true/false)."""
    if v is True:
        return "randomize"
    if v is False:
        return "fixed"
    return v if isinstance(v, str) and v in SEED_CONTROLS else None


def is_counterpart(nt: NodeType | None) -> bool:
    return nt is not None and (nt.type_name in COMFY_CORE_TYPES or bool(nt.extra.get("comfyui")))


def our_type(comfy_type: str) -> str:
    return TYPE_ALIASES.get(comfy_type, comfy_type)


def comfy_type(node) -> str:
    """The ComfyUI class a node is written as (aliases imported from ComfyUI keep their original name)."""
    original = (node.extra.get("comfy") or {}).get("type") if isinstance(node.extra.get("comfy"), dict) else None
    return original if isinstance(original, str) and our_type(original) == node.type else node.type
