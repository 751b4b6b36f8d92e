"""Open whatever a user hands us: a NodeFlow workflow, or a PNG carrying one."""
from __future__ import annotations

from pathlib import Path

from nodeflow.core.graph import Graph
from nodeflow.formats import workflow


def load_graph(path, registry) -> Graph:
    path = Path(path)
    if path.suffix.lower() == ".png":
        from nodeflow.formats.png import read_workflow

        return workflow.from_dict(read_workflow(path), registry)[0]
    return workflow.load(path, registry)[0]
