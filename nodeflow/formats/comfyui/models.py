"""Model files a workflow names that are not in the configured folders, with the download hints the file carries
(``properties.models`` on nodes and the top-level ``models`` list: ``{name, url, directory}``)."""
from __future__ import annotations

from nodeflow.config import MODEL_KINDS
from nodeflow.core.graph import Graph
from nodeflow.formats.comfyui.mapping import is_counterpart
from nodeflow.formats.comfyui.report import MissingModel

#: Inputs of placeholder nodes that name model files the way ComfyUI's core loaders do.
#: (Names several loaders share with other meanings, such as ``model_name``, are left out.)
MODEL_FIELDS = {"ckpt_name": "checkpoints", "lora_name": "loras", "vae_name": "vae", "unet_name": "diffusion_models",
                "clip_name1": "text_encoders", "clip_name2": "text_encoders", "clip_name3": "text_encoders",
                "control_net_name": "controlnet", "style_model_name": "style_models"}


def download_hints(graph: Graph) -> dict[str, list[str]]:
    """Model name -> URLs, from every node's properties.models and the workflow's top-level models."""
    hints: dict[str, list[str]] = {}
    entries = []
    for node in graph.nodes.values():
        comfy = node.extra.get("comfy")
        props = comfy.get("properties") if isinstance(comfy, dict) else None
        if isinstance(props, dict) and isinstance(props.get("models"), list):
            entries += props["models"]
    top = graph.extra.get("comfy")
    if isinstance(top, dict) and isinstance(top.get("models"), list):
        entries += top["models"]
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("url"), str):
            urls = hints.setdefault(e["name"], [])
            if e["url"] not in urls and len(e["url"]) < 2000:
                urls.append(e["url"])
    return hints


def find_missing_models(graph: Graph, registry, settings=None) -> list[MissingModel]:
    """The model files the graph names that ``settings``' folders lack (none are looked for without settings)."""
    if settings is None:
        return []
    folders = settings.folders
    hints = download_hints(graph)
    found: dict[tuple[str, str], dict] = {}
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        if node.mode == "muted":
            continue
        nt = registry.get(node.type)
        if nt is not None and is_counterpart(nt):
            fields = [(i.name, i.files) for i in nt.inputs if i.files in MODEL_KINDS]
        elif nt is None:
            fields = list(MODEL_FIELDS.items())
        else:
            continue
        for name, kind in fields:
            value = node.values.get(name)
            if not isinstance(value, str) or not value or name in node.socket_inputs:
                continue
            if folders.resolve(kind, value) is not None:
                continue
            entry = found.setdefault((value, kind), {"nodes": [], "field": name})
            entry["nodes"].append(node.id)
    return [MissingModel(name, kind, tuple(e["nodes"]), e["field"], tuple(hints.get(name, ())))
            for (name, kind), e in found.items()]
