"""What a saved picture carries: the workflow that made it, as NodeFlow's own chunk and, when every node has a
ComfyUI counterpart, as ComfyUI's ``prompt`` and ``workflow`` chunks (so ComfyUI opens our pictures too).

The host that starts a run (CLI, editor, server) owns the graph and computes this once per run, from the graph
itself, with its own registry: ``executor.execute(plan, embed=lambda: workflow_chunks(graph, registry))``. Save
Image only writes what it is given.
"""
from __future__ import annotations

import json
from typing import Callable

from nodeflow.core.graph import Graph
from nodeflow.formats.png import NODEFLOW_KEY
from nodeflow.formats.workflow import to_dict


def nodeflow_chunk(graph: Graph) -> str:
    """NodeFlow's own chunk: the graph in NodeFlow's workflow format (what NodeFlow opens first)."""
    return json.dumps(to_dict(graph), separators=(",", ":"), allow_nan=False)


def workflow_chunks(graph: Graph, registry, say: Callable[[str], None] | None = None) -> dict[str, str]:
    """{chunk key: text}; ``say`` hears why ComfyUI's chunks were left out, when they were."""
    texts = {NODEFLOW_KEY: nodeflow_chunk(graph)}
    from nodeflow.formats.comfyui import ExportError, export_api, export_ui

    try:
        texts["prompt"] = json.dumps(export_api(graph, registry), allow_nan=False)
        texts["workflow"] = json.dumps(export_ui(graph, registry), allow_nan=False)
    except (ExportError, ValueError) as e:  # still saved, with NodeFlow's own chunk
        texts.pop("prompt", None)
        if say is not None:
            say(f"no ComfyUI chunks embedded: {e}")
    return texts
