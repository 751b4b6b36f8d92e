"""ComfyUI workflows in and out.

Import: ComfyUI's UI format (what its editor saves; schema 0.4 and 1), its API format (a prompt), and PNGs carrying
either (``workflow`` / ``prompt`` text chunks). Export: API prompts and UI workflows (0.4) for graphs whose nodes
all have a ComfyUI counterpart, and the two PNG chunks Save Image embeds.

    graph, report = import_data(json.loads(text), registry)   # detects the format
    for message in report.messages(): print(message)
    prompt = export_api(graph, registry)                      # ExportError names the nodes without counterpart

How ComfyUI's nodes come across (decisions, each documented where it is made):
- Core types (mapping.COMFY_CORE_TYPES) are our nodes of the same name; values are read by ComfyUI's positions
  (mapping.widget_layout) and stored by name; a seed's control value goes to node.controls (old files' `true` is
  "randomize"); widgets turned into inputs and linked become node.socket_inputs; values an old file leaves out
  take ComfyUI's defaults. Inputs NodeFlow adds (Load Checkpoint's "prediction") are never written to ComfyUI.
- Note and MarkdownNote -> Note; Reroute -> Reroute (frontend "native" reroutes are link waypoints, kept as data).
- PrimitiveNode (primitives.py): feeding one input -> its value is written into that input and it disappears (what
  ComfyUI sends); feeding several -> Seed (seed inputs) or PrimitiveInt/Float/String/Boolean keeping them in sync;
  a choice list's primitive is written into each input. ComfyUI's real Primitive* nodes are ours 1:1.
- Export: Seed (no ComfyUI node) and value nodes that came from a PrimitiveNode are written as a PrimitiveNode in
  the UI format and inlined into the inputs they feed in the API format.
- Muted (mode 2) and bypassed (mode 4) nodes keep their mode; the API export leaves them out, following links
  through bypassed nodes to their input of the same type, as ComfyUI does.
- Any other type is a placeholder: node.type is the ComfyUI class, its slots and widgets_values are kept in
  node.extra["comfy"], its values are also stored by name when the file names its widgets; links keep the file's
  slot names. The report lists placeholders in one message, and the model files that are missing with the download
  hints the file carries.
- ComfyUI fields NodeFlow has no use for are kept (node.extra["comfy"], graph.extra["comfy"]) and written back; what
  ComfyUI cannot hold about a NodeFlow node travels in properties["nodeflow"] (overrides.py), so NodeFlow -> ComfyUI
  UI -> NodeFlow gives back the same graph.
"""
from __future__ import annotations

from typing import Any

from nodeflow.formats.comfyui.api_export import export_api
from nodeflow.formats.comfyui.api_import import import_api, is_link
from nodeflow.formats.comfyui.fields import MAX_JSON_BYTES
from nodeflow.formats.workflow import parse_json
from nodeflow.formats.comfyui.report import ImportReport, MissingModel
from nodeflow.formats.comfyui.slots import ExportError
from nodeflow.formats.comfyui.ui_export import export_ui
from nodeflow.formats.comfyui.ui_import import import_ui
from nodeflow.formats.workflow import FORMAT_NAME, WorkflowError

UI, API, NODEFLOW = "comfy-ui", "comfy-api", "nodeflow"


def detect(data: Any) -> str | None:
    """"nodeflow", "comfy-ui", "comfy-api", or None for anything else."""
    if not isinstance(data, dict):
        return None
    if data.get("format") == FORMAT_NAME:
        return NODEFLOW
    if isinstance(data.get("nodes"), list) and any(k in data for k in ("links", "last_node_id", "state", "version")):
        return UI
    if data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return API
    return None


def import_data(data: Any, registry, settings=None) -> tuple:
    """A ComfyUI workflow or prompt (parsed JSON) -> (Graph, ImportReport)."""
    kind = detect(data)
    if kind == UI:
        return import_ui(data, registry, settings)
    if kind == API:
        return import_api(data, registry, settings)
    if kind == NODEFLOW:
        raise WorkflowError("this is a NodeFlow workflow, not a ComfyUI one")
    raise WorkflowError("not a ComfyUI workflow: expected its UI format (with \"nodes\" and \"links\") or an API "
                        "prompt (nodes with \"class_type\" and \"inputs\")")


def import_png_texts(texts: dict[str, str], registry, settings=None, where: str = "image") -> tuple:
    """The workflow a ComfyUI PNG carries: its ``workflow`` chunk, else its ``prompt`` (as ComfyUI loads them).
    A damaged ``workflow`` falls back to the ``prompt``, with a note saying why."""
    problem = None
    if "workflow" in texts:
        try:
            data = parse_json(texts["workflow"], "embedded workflow", MAX_JSON_BYTES)
            if detect(data) == UI:
                return import_ui(data, registry, settings)
            problem = "the embedded workflow is not in ComfyUI's UI format"
        except WorkflowError as e:
            problem = str(e)
        if "prompt" not in texts:
            raise WorkflowError(f"{where}: {problem}")
    if "prompt" not in texts:
        raise WorkflowError(f"{where}: no ComfyUI workflow or prompt is embedded")
    try:
        data = parse_json(texts["prompt"], "embedded prompt", MAX_JSON_BYTES)
        if detect(data) != API:
            raise WorkflowError("the embedded prompt is not a ComfyUI API prompt")
        graph, report = import_api(data, registry, settings)
    except WorkflowError as e:
        raise WorkflowError(f"{where}: {e}" + (f" (and {problem})" if problem else "")) from None
    if problem:
        report.note(f"the image's workflow could not be used ({problem}); opened its API prompt instead, "
                    "laid out automatically")
    return graph, report


__all__ = ["detect", "import_data", "import_ui", "import_api", "import_png_texts", "export_api", "export_ui",
           "ImportReport", "MissingModel", "ExportError",
           "WorkflowError", "is_link", "UI", "API", "NODEFLOW"]
