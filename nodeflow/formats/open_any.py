"""The one opener: whatever a user hands us, read once. A NodeFlow workflow, a ComfyUI workflow (UI format) or API
prompt, or a PNG carrying any of them (NodeFlow's own ``nodeflow`` chunk wins over ComfyUI's ``workflow`` and
``prompt``)."""
from __future__ import annotations

from pathlib import Path

from nodeflow.core.graph import Graph
from nodeflow.formats import workflow
from nodeflow.formats.workflow import WorkflowError, parse_json, read_json


def load_graph(path, registry, settings=None) -> Graph:
    return load_graph_report(path, registry, settings)[0]


def load_graph_report(path, registry, settings=None):
    """(graph, report). For NodeFlow's own files the report is a ``workflow.LoadReport`` (migrations, unknown
    node types); for ComfyUI files a ``comfyui.ImportReport`` saying what the import changed or could not bring
    across (placeholders, missing models: looked up in ``settings``' folders when given, ...)."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        return _load_png(path, registry, settings)
    return _load_data(read_json(path), registry, settings, str(path))


def _load_data(data, registry, settings, where: str):
    from nodeflow.formats import comfyui

    kind = comfyui.detect(data)
    try:
        if kind == comfyui.NODEFLOW:
            return workflow.from_dict(data, registry)
        if kind in (comfyui.UI, comfyui.API):
            return comfyui.import_data(data, registry, settings)
        if isinstance(data, dict) and "format" in data:
            return workflow.from_dict(data, registry)  # its own clear message about the format field
    except WorkflowError as e:
        raise WorkflowError(str(e) if str(e).startswith(where) else f"{where}: {e}") from None
    raise WorkflowError(f"{where}: not a workflow: expected a NodeFlow workflow, a ComfyUI workflow or a ComfyUI "
                        "API prompt")


def _load_png(path: Path, registry, settings):
    from nodeflow.formats.png import NODEFLOW_KEY, carries_comfyui_graph, read_text_chunks

    try:
        texts = read_text_chunks(path)
    except OSError as e:
        raise WorkflowError(f"{path}: cannot read ({e.strerror or e})") from None
    if NODEFLOW_KEY in texts:
        try:
            data = parse_json(texts[NODEFLOW_KEY], "embedded workflow")
        except WorkflowError as e:
            raise WorkflowError(f"{path}: {e}") from None
        return _load_data(data, registry, settings, str(path))
    if carries_comfyui_graph(texts):
        from nodeflow.formats.comfyui import import_png_texts

        return import_png_texts(texts, registry, settings, where=str(path))
    raise WorkflowError(f"{path}: no workflow is embedded in this PNG")
